"""What one sweep over a node's GPUs found, in the units dcgm-exporter publishes.

Snapshots are immutable: the sampler builds one per interval in a worker thread and the
``/metrics`` handler renders the latest one, so a scrape never calls NVML.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class PodRef:
    """The Kubernetes container a GPU process belongs to."""

    namespace: str
    pod: str
    container: str


@dataclass(frozen=True)
class MigSnapshot:
    """One MIG device: NVML reports memory per MIG device, and the pods on it."""

    gpu_instance_id: int
    profile: str
    """The GPU instance profile, e.g. ``1g.10gb`` (dcgm-exporter's ``GPU_I_PROFILE``)."""
    memory_used_mib: float | None
    memory_free_mib: float | None
    pods: tuple[PodRef, ...]


@dataclass(frozen=True)
class GpuSnapshot:
    """One physical GPU. A field NVML could not read is ``None`` and its series is left out."""

    index: int
    uuid: str
    model_name: str
    pci_bus_id: str
    device: str
    """The device node's name, ``nvidia<minor>`` (dcgm-exporter's ``device`` label)."""
    utilization_percent: float | None
    memory_used_mib: float | None
    """Whole-GPU framebuffer; ``None`` under MIG, where memory is reported per MIG device."""
    memory_free_mib: float | None
    power_watts: float | None
    energy_millijoules: float | None
    """Total energy since the driver was loaded, a counter."""
    sm_clock_mhz: float | None
    temperature_celsius: float | None
    pods: tuple[PodRef, ...]
    """Every pod with a process on this GPU (on any of its MIG devices)."""
    mig: tuple[MigSnapshot, ...] = ()


@dataclass(frozen=True)
class NodeSnapshot:
    """One sweep: the GPUs read, the GPUs skipped and what attribution could not place."""

    gpus: tuple[GpuSnapshot, ...]
    failed_gpus: tuple[int, ...]
    """Indexes of GPUs skipped in this sweep (lost, or their identity unreadable)."""
    unattributed_processes: int
    """GPU processes whose pod could not be found (not in a pod, or not visible: no host PID namespace)."""
    taken_at: float
    """Unix time the sweep finished."""
