"""How many cores a command's worker processes may keep busy.

``os.cpu_count()`` counts the machine's cores. In a container it counts the node's, however few a
pod's CPU limit allows: a report run in a pod with a limit of two cores on a 64-core node would
start 64 workers of about 250 MiB each, all sharing two cores' time. The cores a process may run on
(its affinity, which a cpuset narrows) and a cgroup's CPU quota (cgroup v2's ``cpu.max``, where a
Kubernetes CPU limit lands) bound it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may run on, no more than its cgroup's quota allows (rounded up), and
    at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity where the platform has none
        cores = os.cpu_count() or 1
    quota = cgroup_quota(cpu_max)
    return max(1, cores if quota is None else min(cores, quota))


def cgroup_quota(cpu_max: Path) -> int | None:
    """A cgroup v2 ``cpu.max`` (``"200000 100000"``: a quota and its period, in microseconds) as
    whole cores, rounded up; None where there is no limit (``"max ..."``) or no such file."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError, ZeroDivisionError):
        return None
