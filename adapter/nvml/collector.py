"""Renders the latest :class:`NodeSnapshot` as dcgm-exporter's series, plus the exporter's health.

Names, units, HELP texts and labels are dcgm-exporter's (its default counters), so Foresight's
dcgm preset and dashboards work unchanged with either exporter: per GPU ``gpu``, ``UUID``,
``pci_bus_id``, ``device``, ``modelName`` and the host name label (``Hostname`` in most
dcgm-exporter releases, ``hostname`` in the newest: configurable); ``namespace``, ``pod``,
``container`` where a pod uses the GPU, one series per pod as dcgm-exporter repeats a shared
GPU's values for each of its pods.

MIG: NVML reports memory per MIG device, so ``DCGM_FI_DEV_FB_USED``/``FB_FREE`` are per MIG
device (``GPU_I_PROFILE``, ``GPU_I_ID``, with the parent's ``UUID``) and the parent carries no
memory series; power, energy, SM clock and temperature are the parent GPU's, labelled with every
pod on any of its MIG devices. NVML gives no utilisation for a MIG-enabled GPU, so there is none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric

from adapter.nvml.snapshot import GpuSnapshot, MigSnapshot, NodeSnapshot, PodRef


@dataclass(frozen=True)
class _Field:
    name: str
    help: str
    type: str
    read: Callable[[GpuSnapshot], float | None]


GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
FB_FREE = "DCGM_FI_DEV_FB_FREE"
FB_USED = "DCGM_FI_DEV_FB_USED"
POWER_USAGE = "DCGM_FI_DEV_POWER_USAGE"
TOTAL_ENERGY_CONSUMPTION = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
SM_CLOCK = "DCGM_FI_DEV_SM_CLOCK"
GPU_TEMP = "DCGM_FI_DEV_GPU_TEMP"

_GPU_FIELDS: tuple[_Field, ...] = (
    _Field(GPU_UTIL, "GPU utilization (in %).", "gauge", lambda gpu: gpu.utilization_percent),
    _Field(FB_FREE, "Framebuffer memory free (in MiB).", "gauge", lambda gpu: gpu.memory_free_mib),
    _Field(FB_USED, "Framebuffer memory used (in MiB).", "gauge", lambda gpu: gpu.memory_used_mib),
    _Field(POWER_USAGE, "Power draw (in W).", "gauge", lambda gpu: gpu.power_watts),
    _Field(TOTAL_ENERGY_CONSUMPTION, "Total energy consumption since boot (in mJ).", "counter", lambda gpu: gpu.energy_millijoules),
    _Field(SM_CLOCK, "SM clock frequency (in MHz).", "gauge", lambda gpu: gpu.sm_clock_mhz),
    _Field(GPU_TEMP, "GPU temperature (in C).", "gauge", lambda gpu: gpu.temperature_celsius),
)
_MIG_FIELDS: tuple[tuple[str, Callable[[MigSnapshot], float | None]], ...] = (
    (FB_FREE, lambda mig: mig.memory_free_mib),
    (FB_USED, lambda mig: mig.memory_used_mib),
)
#: dcgm-exporter's counters, whose names have no ``_total``.
DCGM_COUNTERS = tuple(field.name for field in _GPU_FIELDS if field.type == "counter")


def _with_pods(base: Mapping[str, str], pods: Sequence[PodRef]) -> list[dict[str, str]]:
    """One label set per pod using the device, or the device's own labels when none does."""
    if not pods:
        return [dict(base)]
    return [{**base, "container": pod.container, "namespace": pod.namespace, "pod": pod.pod} for pod in pods]


class DcgmCollector:
    """A prometheus_client collector over whatever ``latest`` returns at scrape time."""

    def __init__(
        self,
        latest: Callable[[], NodeSnapshot | None],
        *,
        hostname: str,
        hostname_label: str = "Hostname",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._latest = latest
        self._hostname = hostname
        self._hostname_label = hostname_label
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        snapshot = self._latest()
        if snapshot is None:
            return iter(())
        return iter((*self._dcgm(snapshot), *self._health(snapshot)))

    def _dcgm(self, snapshot: NodeSnapshot) -> list[Metric]:
        families = {field.name: Metric(field.name, field.help, field.type) for field in _GPU_FIELDS}
        for gpu in snapshot.gpus:
            base = {
                "gpu": str(gpu.index),
                "UUID": gpu.uuid,
                "pci_bus_id": gpu.pci_bus_id,
                "device": gpu.device,
                "modelName": gpu.model_name,
                self._hostname_label: self._hostname,
            }
            for labels in _with_pods(base, gpu.pods):
                for field in _GPU_FIELDS:
                    value = field.read(gpu)
                    if value is not None:
                        families[field.name].add_sample(field.name, labels, value)
            for mig in gpu.mig:
                instance = {**base, "GPU_I_PROFILE": mig.profile, "GPU_I_ID": str(mig.gpu_instance_id)}
                for labels in _with_pods(instance, mig.pods):
                    for name, read in _MIG_FIELDS:
                        value = read(mig)
                        if value is not None:
                            families[name].add_sample(name, labels, value)
        return [family for family in families.values() if family.samples]

    def _health(self, snapshot: NodeSnapshot) -> list[Metric]:
        ok = Metric("foresight_nvml_device_ok", "1 when the last sweep read this GPU, 0 when it was skipped (lost, unreadable).", "gauge")
        for gpu in snapshot.gpus:
            ok.add_sample(ok.name, {"gpu": str(gpu.index)}, 1.0)
        for index in snapshot.failed_gpus:
            ok.add_sample(ok.name, {"gpu": str(index)}, 0.0)
        unattributed = Metric(
            "foresight_nvml_unattributed_processes",
            "GPU processes of the last sweep whose pod was not found (not in a pod, or not visible without the host PID namespace).",
            "gauge",
        )
        unattributed.add_sample(unattributed.name, {}, float(snapshot.unattributed_processes))
        age = Metric("foresight_nvml_sample_age_seconds", "Age of the sweep this scrape serves.", "gauge")
        age.add_sample(age.name, {}, max(0.0, self._clock() - snapshot.taken_at))
        return [ok, unattributed, age]


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format, with dcgm-exporter's HELP/TYPE lines for its counters.

    prometheus_client's writer appends ``_total`` to the HELP and TYPE lines of every counter,
    which would leave them naming a series that does not exist (dcgm-exporter's counters have no
    ``_total``); those two lines are written back under the series' own name.
    """
    text = generate_latest(registry)
    for name in DCGM_COUNTERS:
        for kind in (b"HELP", b"TYPE"):
            text = text.replace(b"# %s %s_total " % (kind, name.encode()), b"# %s %s " % (kind, name.encode()))
    return text
