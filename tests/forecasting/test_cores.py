"""The cores a command's workers may use: the process's affinity, bounded by a cgroup's CPU quota
(a Kubernetes CPU limit), read from a ``cpu.max`` file written here as the kernel writes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecasting import cores
from forecasting.cores import usable_cores


@pytest.fixture
def eight_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: set(range(8)))


@pytest.mark.parametrize(("cpu_max", "expected"), [
    ("max 100000\n", 8),  # no limit
    ("200000 100000\n", 2),  # a limit of two cores
    ("150000 100000\n", 2),  # one and a half: rounded up
    ("20000 100000\n", 1),  # a fifth of a core: at least one worker
    ("1600000 100000\n", 8),  # more than the process may run on
    ("garbage\n", 8),
])
@pytest.mark.usefixtures("eight_cores")
def test_a_cgroup_quota_bounds_the_cores(tmp_path: Path, cpu_max: str, expected: int) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert usable_cores(path) == expected


@pytest.mark.usefixtures("eight_cores")
def test_without_a_cgroup_file_the_affinity_counts(tmp_path: Path) -> None:
    assert usable_cores(tmp_path / "absent") == 8


def test_the_affinity_narrows_the_machine_s_cores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A cpuset (or ``taskset``) leaves the process fewer cores than the machine has."""
    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: {3})
    monkeypatch.setattr(cores.os, "cpu_count", lambda: 64)
    assert usable_cores(tmp_path / "absent") == 1
