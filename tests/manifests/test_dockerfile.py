"""The Dockerfile builds a slim, non-root image whose install steps work. No container engine runs
here, so the build stage's steps run in a temporary directory instead of an image."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..integration.local import free_port, stop
from .render import ROOT, Rendered, pod_spec

DOCKERFILE = ROOT / "Dockerfile"
IMAGE_PREFIX = "/opt/foresight"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Stage:
    """One FROM and the instructions after it, as (KEYWORD, arguments) with continuations joined."""

    base: str
    instructions: tuple[tuple[str, str], ...]

    def arguments(self, keyword: str) -> list[str]:
        return [arguments for name, arguments in self.instructions if name == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile, enough of its syntax for this one: comments, continuations, FROM."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append(Stage(arguments.split()[0], ()))
        else:
            stages[-1] = Stage(stages[-1].base, (*stages[-1].instructions, (keyword.upper(), arguments.strip())))
    return stages


STAGES = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
[BUILD] = [stage for stage in STAGES if any("pip install" in run for run in stage.arguments("RUN"))]
FINAL = STAGES[-1]


def _image_user() -> tuple[int, int]:
    [user] = FINAL.arguments("USER")
    uid, gid = user.split(":")
    return int(uid), int(gid)


def test_image_is_slim_python_3_11() -> None:
    assert [stage.base for stage in STAGES] == ["python:3.11-slim"] * len(STAGES)


def test_image_runs_as_a_numeric_non_root_user() -> None:
    """Numeric, so that the kubelet can check runAsNonRoot without the image's /etc/passwd."""
    uid, gid = _image_user()
    assert uid != 0 and gid != 0


def test_pods_run_as_the_image_user(deployment: Rendered) -> None:
    context = pod_spec(deployment.adapter)["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"]) == _image_user()


def test_image_entrypoint_is_foresight() -> None:
    [entrypoint] = FINAL.arguments("ENTRYPOINT")
    assert json.loads(entrypoint) == ["foresight"]


def test_image_keeps_only_the_installed_environment() -> None:
    """The final stage takes the virtual environment and nothing of the sources or build tools."""
    assert FINAL.arguments("COPY") == [f"--from=build {IMAGE_PREFIX} {IMAGE_PREFIX}"]
    assert not any("pip" in run for run in FINAL.arguments("RUN"))


def test_manifests_use_the_image_of_this_version(deployment: Rendered) -> None:
    images = {
        container["image"]
        for workload in [*deployment.of_kind("Deployment"), *deployment.of_kind("DaemonSet")]
        for container in pod_spec(workload)["containers"]
    }
    assert images == {f"foresight:{VERSION}"}


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule for one path: the last matching pattern decides, ``!`` re-admits."""
    ignored = False
    for pattern in patterns:
        admit = pattern.startswith("!")
        if fnmatch.fnmatch(path, pattern.removeprefix("!")):
            ignored = not admit
    return ignored


def _copied_sources(stage: Stage) -> list[str]:
    return [source for arguments in stage.arguments("COPY") for source in shlex.split(arguments)[:-1]]


def test_build_context_holds_what_the_build_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for source in _copied_sources(BUILD):
        assert (ROOT / source).exists(), source
        assert not _ignored(source, patterns), f".dockerignore leaves {source} out of the build context"
    assert _ignored(".venv", patterns) and _ignored(".git", patterns)


def _outside_this_environment() -> dict[str, str]:
    """This process's environment variables less those that would point Python at this virtual environment."""
    return {name: value for name, value in os.environ.items() if name not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}


def _run_build_stage(root: Path) -> Path:
    """Runs the build stage's WORKDIR, COPY, ENV and RUN under ``root`` in place of /; returns
    where the image's virtual environment is. ``python`` is this interpreter, as the image's is its
    own; PIP_NO_CACHE_DIR is dropped, so the install reuses this machine's pip cache."""
    bin_directory = root / "bin"
    bin_directory.mkdir(parents=True)
    python = bin_directory / "python"
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    environment = _outside_this_environment()
    environment["PATH"] = f"{bin_directory}:{environment['PATH']}"
    venv = root / IMAGE_PREFIX.lstrip("/")
    workdir = root
    for keyword, arguments in BUILD.instructions:
        if keyword == "WORKDIR":
            workdir = root / arguments.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            *sources, destination = shlex.split(arguments)
            for source in sources:
                target = workdir / destination / Path(source).name if destination.endswith("/") else workdir / destination
                copy = shutil.copytree if (ROOT / source).is_dir() else shutil.copy2
                copy(ROOT / source, target)
        elif keyword == "ENV":
            for item in shlex.split(arguments):
                name, _, value = item.partition("=")
                environment[name] = value
            environment.pop("PIP_NO_CACHE_DIR", None)
        elif keyword == "RUN":
            command = arguments.replace(IMAGE_PREFIX, str(venv))
            result = subprocess.run(
                ["/bin/sh", "-c", command], cwd=workdir, env=environment,
                capture_output=True, text=True, timeout=900, check=False,
            )
            assert result.returncode == 0, f"RUN {arguments}\n{result.stdout}\n{result.stderr}"
        else:
            pytest.fail(f"the build stage has {keyword}, which this test does not know how to run")
    return venv


def _answers(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=2) as response:
            status: int = response.status
    except OSError:
        return False
    return status == 200


@pytest.mark.integration
def test_install_steps_give_a_working_foresight(tmp_path: Path) -> None:
    """The Dockerfile's install into a fresh environment, then its entrypoint serves the demo."""
    venv = _run_build_stage(tmp_path / "image")
    foresight = venv / "bin" / "foresight"
    environment = _outside_this_environment()
    version = subprocess.run(
        [str(foresight), "--version"], cwd=tmp_path, env=environment,
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert version.stdout.strip() == f"foresight {VERSION}", version.stderr
    located = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import adapter; print(adapter.__file__)"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )
    assert located.returncode == 0, located.stderr
    assert Path(located.stdout.strip()).is_relative_to(venv), "the package comes from the environment, not the sources"
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("w", encoding="utf-8") as output:
        demo = subprocess.Popen(
            [str(foresight), "demo", "--port", str(port)], cwd=tmp_path, env=environment,
            stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        while not _answers(f"http://127.0.0.1:{port}/healthz"):
            assert demo.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the demo did not answer /healthz\n" + log.read_text(encoding="utf-8")
            time.sleep(0.5)
        assert _answers(f"http://127.0.0.1:{port}/"), "the status page (package data) is missing"
    finally:
        stop(demo, grace_s=60, what="the installed foresight demo")
