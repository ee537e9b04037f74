"""Which pod a GPU process belongs to: its cgroup names the container, the kubelet's log links
name the container's pod.

Chosen over the kubelet's PodResources API because it needs no gRPC/protobuf stack and
attributes what actually runs on a GPU: shared (time-sliced, MPS) GPUs and MIG devices are
attributed per process. Its cost: a pod that holds a GPU without a CUDA context (still
starting, or crashed) is not attributed, which for inference servers, which keep their model
loaded for the pod's lifetime, leaves out only pods that are not ready anyway.

1. NVML lists the PIDs with a CUDA context per GPU or MIG device (host PIDs: the DaemonSet runs
   in the host PID namespace, ``hostPID: true``).
2. ``/proc/<pid>/cgroup`` ends in the container's ID in every layout Kubernetes uses: cgroup v1
   and v2, systemd driver (``cri-containerd-<id>.scope``, ``crio-<id>.scope``,
   ``docker-<id>.scope`` under ``kubepods.slice``) and cgroupfs driver (``/kubepods/<qos>/pod<uid>/<id>``),
   also when seen from inside our own cgroup namespace (paths then start with ``/..``).
3. The kubelet links every container's log as
   ``/var/log/containers/<pod>_<namespace>_<container>-<id>.log`` (the names log shippers
   parse); listing that directory, mounted read-only, maps IDs to names without the API server.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from adapter.nvml.snapshot import PodRef

log = logging.getLogger(__name__)

_CONTAINER_SCOPE = re.compile(r"^(?:cri-containerd-|crio-|docker-)?(?P<id>[0-9a-f]{64})(?:\.scope)?$")
# Pod names are DNS subdomains and namespaces/containers DNS labels: none contains "_".
_LOG_LINK = re.compile(r"^(?P<pod>[^_]+)_(?P<namespace>[^_]+)_(?P<container>[^_]+)-(?P<id>[0-9a-f]{64})\.log$")


def container_id(cgroup_file: str) -> str | None:
    """The container ID in a ``/proc/<pid>/cgroup`` text, or ``None`` for a process in no
    container. Whether that container is a pod's is for the kubelet's links to say: with our own
    cgroup namespace a path may be relative (``/../../pod<uid>/<id>``) and name no ``kubepods``."""
    for line in cgroup_file.splitlines():
        _hierarchy, _, rest = line.partition(":")
        _controllers, _, path = rest.partition(":")
        for part in reversed(path.split("/")):
            match = _CONTAINER_SCOPE.match(part)
            if match:
                return match.group("id")
    return None


def container_index(names: Iterable[str]) -> dict[str, PodRef]:
    """Container ID → its pod, from the names of the kubelet's ``/var/log/containers`` links.

    Names the kubelet truncated (longer than 255 characters) lose the ID and are skipped.
    """
    index = {}
    for name in names:
        match = _LOG_LINK.match(name)
        if match:
            index[match.group("id")] = PodRef(match.group("namespace"), match.group("pod"), match.group("container"))
    return index


class CgroupAttribution:
    """Maps PIDs to pods through ``<proc_root>/<pid>/cgroup`` and the links in ``containers_dir``."""

    def __init__(self, *, proc_root: Path = Path("/proc"), containers_dir: Path = Path("/var/log/containers")) -> None:
        self._proc_root = proc_root
        self._containers_dir = containers_dir
        self._index: Mapping[str, PodRef] = {}
        self._listing_failed = False

    def refresh(self) -> None:
        """Re-list the container links; once per sweep, so new pods are found within an interval.
        A directory that cannot be listed is logged when that starts and when it ends, not every
        sweep (on a host with no kubelet it never can be)."""
        try:
            self._index = container_index(entry.name for entry in self._containers_dir.iterdir())
        except OSError as error:
            if not self._listing_failed:
                log.warning("cannot list %s, GPU processes stay unattributed: %s", self._containers_dir, error)
            self._listing_failed = True
            self._index = {}
            return
        if self._listing_failed:
            log.info("%s can be listed again; GPU processes are attributed to pods", self._containers_dir)
        self._listing_failed = False

    def pod_of(self, pid: int) -> PodRef | None:
        """The pod of one process; ``None`` when it exited, is not visible here, or is not in a pod."""
        try:
            cgroup = (self._proc_root / str(pid) / "cgroup").read_text()
        except OSError:
            return None
        found = container_id(cgroup)
        return self._index.get(found) if found is not None else None
