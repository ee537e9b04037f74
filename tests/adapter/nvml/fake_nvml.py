"""A fake NVML layer and a fake GPU node, because this machine has no NVIDIA GPU or driver.

:class:`FakeNvml` implements :class:`adapter.nvml.devices.NvmlLayer` over GPUs described as
data, answering as NVML does where it matters: ``GpuIsLost`` for a GPU that fell off the bus,
``NotSupported`` for utilisation of a MIG-enabled GPU and for the MIG mode of a GPU without MIG,
``NotFound`` for an empty MIG slot. It fails loudly on a handle it did not hand out, and records
the thread of every call, so tests can check NVML is never called on the event loop.

:func:`fake_node` lays out the rest of a GPU node under a directory: ``proc/<pid>/cgroup`` for
each GPU process, in the cgroup layouts of :data:`CGROUP_LAYOUTS`, and the kubelet's
``containers/<pod>_<namespace>_<container>-<id>.log`` links that name each container's pod.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

from adapter.nvml.devices import (
    GPU_IS_LOST,
    NOT_FOUND,
    NOT_SUPPORTED,
    MemoryInfo,
    NvmlError,
)
from adapter.nvml.snapshot import PodRef

MIB = 1024 * 1024
MAX_MIG_DEVICES = 7  # an A100/H100 has seven MIG slots

# /proc/<pid>/cgroup as real nodes write it ({uid}: the pod's UID, {uid_}: with underscores as
# systemd slices spell it, {id}: the 64-hex container ID). cgroup v1 lists every hierarchy.
_V1_CONTROLLERS = (
    "12:hugetlb", "11:pids", "10:devices", "9:memory", "8:cpu,cpuacct", "7:blkio",
    "6:freezer", "5:net_cls,net_prio", "4:perf_event", "3:cpuset", "1:name=systemd",
)


def _v1(path: str) -> str:
    lines = [f"{controller}:{path}" for controller in _V1_CONTROLLERS]
    lines.insert(-1, "2:rdma:/")
    return "\n".join([*lines, "0::/", ""])


CGROUP_LAYOUTS: dict[str, str] = {
    # cgroup v1, cgroupfs driver, Docker (dockershim) or containerd: bare IDs under /kubepods.
    "v1-cgroupfs-docker": _v1("/kubepods/burstable/pod{uid}/{id}"),
    # cgroup v1, systemd driver: one scope per container, named after the runtime.
    "v1-systemd-containerd": _v1("/kubepods.slice/kubepods-pod{uid_}.slice/cri-containerd-{id}.scope"),
    "v1-systemd-crio": _v1("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/crio-{id}.scope"),
    "v1-systemd-docker": _v1("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/docker-{id}.scope"),
    # cgroup v2: one line.
    "v2-systemd-containerd": "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{id}.scope\n",
    "v2-systemd-crio": "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/crio-{id}.scope\n",
    "v2-cgroupfs-containerd": "0::/kubepods/besteffort/pod{uid}/{id}\n",
    # cgroup v2 read from inside the exporter's own cgroup namespace: relative to its own cgroup.
    "v2-systemd-containerd-cgroupns": "0::/../../kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/cri-containerd-{id}.scope\n",
    "v2-cgroupfs-containerd-cgroupns": "0::/../../pod{uid}/{id}\n",
    # kind and other nested clusters put the pods under the kubelet's own slice.
    "v2-systemd-containerd-kind": "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{uid_}.slice/cri-containerd-{id}.scope\n",
}

#: Processes in no pod's container.
HOST_SERVICE_CGROUP = "0::/system.slice/nvidia-dcgm.service\n"
CONMON_CGROUP = "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/crio-conmon-{id}.scope\n"


def container_id_for(name: str) -> str:
    """A stable 64-hex container ID, as containerd, CRI-O and Docker write them."""
    return hashlib.sha256(name.encode()).hexdigest()


def pod_uid_for(name: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def cgroup_text(layout: str, pod: PodRef) -> str:
    """The ``/proc/<pid>/cgroup`` of a process of ``pod`` on a node with ``layout``."""
    uid = pod_uid_for(f"{pod.namespace}/{pod.pod}")
    return CGROUP_LAYOUTS[layout].format(uid=uid, uid_=uid.replace("-", "_"), id=container_id_for(str(pod)))


def log_link_name(pod: PodRef) -> str:
    return f"{pod.pod}_{pod.namespace}_{pod.container}-{container_id_for(str(pod))}.log"


@dataclass
class FakeMig:
    """One MIG device: NVML names it after its profile."""

    gpu_instance_id: int
    name: str
    memory: MemoryInfo
    pids: list[int] = field(default_factory=list)


@dataclass
class FakeGpu:
    """One GPU as NVML would report it. ``failures`` maps a method to the NVML error it raises."""

    uuid: str
    name: str
    pci_bus_id: str
    minor: int
    utilization: int
    memory: MemoryInfo
    power_mw: int
    energy_mj: int
    sm_clock_mhz: int
    temperature_c: int
    pids: list[int] = field(default_factory=list)
    mig_mode: bool | None = False
    """``None``: a GPU without MIG (NVML answers ``NotSupported``)."""
    mig: list[FakeMig] = field(default_factory=list)
    lost: bool = False
    """Fallen off the bus: every call, from ``handle_by_index`` on, raises ``GpuIsLost``."""
    failures: dict[str, str] = field(default_factory=dict)


class FakeNvml:
    """:class:`~adapter.nvml.devices.NvmlLayer` over :class:`FakeGpu` descriptions."""

    def __init__(self, gpus: list[FakeGpu]) -> None:
        self.gpus = gpus
        self.failures: dict[str, str] = {}
        """Node-wide calls (``device_count``) → the NVML error they raise."""
        self.call_threads: set[int] = set()
        self.shut_down = False

    def _called(self, call: str, gpu: FakeGpu | None = None) -> None:
        self.call_threads.add(threading.get_ident())
        if gpu is None and call in self.failures:
            raise NvmlError(self.failures[call])
        if gpu is not None and gpu.lost:
            raise NvmlError(GPU_IS_LOST)
        if gpu is not None and call in gpu.failures:
            raise NvmlError(gpu.failures[call])

    def _gpu(self, call: str, handle: object) -> FakeGpu:
        if not isinstance(handle, FakeGpu) or handle not in self.gpus:
            raise TypeError(f"{call} called with {handle!r}, not a GPU handle this fake handed out")
        self._called(call, handle)
        return handle

    def _device(self, call: str, handle: object) -> FakeGpu | FakeMig:
        if isinstance(handle, FakeMig) and any(handle in gpu.mig for gpu in self.gpus):
            self._called(call)
            return handle
        return self._gpu(call, handle)

    def device_count(self) -> int:
        self._called("device_count")
        return len(self.gpus)

    def handle_by_index(self, index: int) -> object:
        return self._gpu("handle_by_index", self.gpus[index])

    def uuid(self, handle: object) -> str:
        return self._gpu("uuid", handle).uuid

    def name(self, handle: object) -> str:
        return self._device("name", handle).name

    def pci_bus_id(self, handle: object) -> str:
        return self._gpu("pci_bus_id", handle).pci_bus_id

    def minor_number(self, handle: object) -> int:
        return self._gpu("minor_number", handle).minor

    def utilization_gpu_percent(self, handle: object) -> int:
        gpu = self._gpu("utilization_gpu_percent", handle)
        if gpu.mig_mode:
            raise NvmlError(NOT_SUPPORTED)
        return gpu.utilization

    def memory_info(self, handle: object) -> MemoryInfo:
        return self._device("memory_info", handle).memory

    def power_usage_mw(self, handle: object) -> int:
        return self._gpu("power_usage_mw", handle).power_mw

    def total_energy_consumption_mj(self, handle: object) -> int:
        return self._gpu("total_energy_consumption_mj", handle).energy_mj

    def sm_clock_mhz(self, handle: object) -> int:
        return self._gpu("sm_clock_mhz", handle).sm_clock_mhz

    def gpu_temperature_c(self, handle: object) -> int:
        return self._gpu("gpu_temperature_c", handle).temperature_c

    def mig_enabled(self, handle: object) -> bool:
        gpu = self._gpu("mig_enabled", handle)
        if gpu.mig_mode is None:
            raise NvmlError(NOT_SUPPORTED)
        return gpu.mig_mode

    def max_mig_device_count(self, handle: object) -> int:
        self._gpu("max_mig_device_count", handle)
        return MAX_MIG_DEVICES

    def mig_device_handle_by_index(self, handle: object, index: int) -> object:
        gpu = self._gpu("mig_device_handle_by_index", handle)
        if index >= len(gpu.mig):
            raise NvmlError(NOT_FOUND)
        return gpu.mig[index]

    def gpu_instance_id(self, mig_handle: object) -> int:
        device = self._device("gpu_instance_id", mig_handle)
        if not isinstance(device, FakeMig):
            raise TypeError("gpu_instance_id called on a whole GPU, not a MIG device")
        return device.gpu_instance_id

    def compute_running_pids(self, handle: object) -> list[int]:
        return list(self._device("compute_running_pids", handle).pids)

    def shutdown(self) -> None:
        self._called("shutdown")
        self.shut_down = True


def memory(total_mib: int, used_mib: int) -> MemoryInfo:
    return MemoryInfo(total=total_mib * MIB, free=(total_mib - used_mib) * MIB, used=used_mib * MIB)


def _h100(index: int, utilization: int, power_w: int, used_mib: int, pids: list[int]) -> FakeGpu:
    return FakeGpu(
        uuid=f"GPU-5e1c1a0b-0000-4000-8000-00000000000{index}",
        name="NVIDIA H100 80GB HBM3",
        pci_bus_id=f"00000000:{0x18 + 0x10 * index:02X}:00.0",
        minor=index,
        utilization=utilization,
        memory=memory(81559, used_mib),
        power_mw=power_w * 1000 + 125,
        energy_mj=987_654_321 + index,
        sm_clock_mhz=1980,
        temperature_c=40 + index,
        pids=pids,
        mig_mode=False,
    )


@dataclass
class FakeNode:
    """A GPU node: its NVML, its host ``/proc`` and the kubelet's container log links."""

    nvml: FakeNvml
    proc_root: Path
    containers_dir: Path
    hostname: str = "gpu-node-1"


LLAMA_0 = PodRef("inference", "llama-0", "vllm")
LLAMA_1 = PodRef("inference", "llama-1", "vllm")
MISTRAL_0 = PodRef("inference", "mistral-0", "vllm")
MISTRAL_1 = PodRef("inference", "mistral-1", "vllm")
PHI_0 = PodRef("inference", "phi-0", "vllm")
MIG_GPU_INDEX = 4
LOST_GPU_INDEX = 3

#: pid → (cgroup layout, pod) of every GPU process in a pod; each pod on a different layout.
POD_PROCESSES: dict[int, tuple[str, PodRef]] = {
    4101: ("v2-systemd-containerd", LLAMA_0),
    4102: ("v1-cgroupfs-docker", LLAMA_1),
    4201: ("v2-systemd-crio", MISTRAL_0),
    4202: ("v1-systemd-containerd", MISTRAL_1),
    4301: ("v2-cgroupfs-containerd-cgroupns", PHI_0),
}
HOST_PID = 900  # a host service with a CUDA context: in no pod
EXITED_PID = 4999  # listed by NVML, gone from /proc by the time it is read


def fake_node(root: Path) -> FakeNode:
    """Five GPUs: two with one pod each, one shared by two pods (time-slicing), one lost and one
    in MIG mode with a pod on one of its two MIG devices."""
    gpus = [
        _h100(0, 40, 200, 30_000, [4101, HOST_PID]),
        _h100(1, 60, 300, 50_000, [4102, EXITED_PID]),
        _h100(2, 70, 250, 60_000, [4201, 4202]),
        _h100(3, 0, 0, 0, []),
        FakeGpu(
            uuid="GPU-a1000000-0000-4000-8000-000000000004",
            name="NVIDIA A100-SXM4-80GB",
            pci_bus_id="00000000:90:00.0",
            minor=4,
            utilization=0,
            memory=memory(81920, 0),
            power_mw=95_500,
            energy_mj=123_456_789,
            sm_clock_mhz=1410,
            temperature_c=35,
            mig_mode=True,
            mig=[
                FakeMig(1, "NVIDIA A100-SXM4-80GB MIG 1g.10gb", memory(9728, 4096), [4301]),
                FakeMig(2, "NVIDIA A100-SXM4-80GB MIG 3g.40gb", memory(40192, 13)),
            ],
        ),
    ]
    gpus[LOST_GPU_INDEX].lost = True
    proc_root, containers_dir = root / "proc", root / "containers"
    containers_dir.mkdir(parents=True)
    for pid, (layout, pod) in POD_PROCESSES.items():
        (proc_root / str(pid)).mkdir(parents=True)
        (proc_root / str(pid) / "cgroup").write_text(cgroup_text(layout, pod))
        (containers_dir / log_link_name(pod)).symlink_to(root / "pods" / f"{pod.namespace}_{pod.pod}" / "0.log")
    (proc_root / str(HOST_PID)).mkdir()
    (proc_root / str(HOST_PID) / "cgroup").write_text(HOST_SERVICE_CGROUP)
    return FakeNode(nvml=FakeNvml(gpus), proc_root=proc_root, containers_dir=containers_dir)
