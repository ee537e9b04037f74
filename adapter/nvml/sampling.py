"""One sweep over a node's GPUs through an :class:`NvmlLayer`, into a :class:`NodeSnapshot`.

Failure rules, so that one bad GPU never hides the others:

- a GPU whose identity cannot be read, or that NVML reports lost (``GpuIsLost``, fallen off the
  bus) in any call, is skipped for this sweep, counted and logged once when it starts failing;
- any other failed call leaves only that field out;
- ``NotSupported`` (and ``NotFound`` for an empty MIG slot) is a capability answer, not a failure:
  the field is left out and nothing is counted. Utilisation of a MIG-enabled GPU is one of them.

Every failure is counted in ``foresight_nvml_errors_total{call, error}`` by NVML function.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from adapter.nvml.devices import (
    GPU_IS_LOST,
    NOT_FOUND,
    NOT_SUPPORTED,
    NvmlError,
    NvmlLayer,
)
from adapter.nvml.snapshot import GpuSnapshot, MigSnapshot, NodeSnapshot, PodRef

T = TypeVar("T")
log = logging.getLogger(__name__)

MIB = 1024 * 1024
_ABSENT = frozenset({NOT_SUPPORTED, NOT_FOUND})
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Attribution(Protocol):
    """Maps GPU processes to pods; refreshed once per sweep."""

    def refresh(self) -> None: ...
    def pod_of(self, pid: int) -> PodRef | None: ...


def mig_profile(device_name: str) -> str:
    """``NVIDIA A100-SXM4-40GB MIG 1g.5gb`` → ``1g.5gb``: NVML names a MIG device after its profile."""
    return device_name.rpartition("MIG ")[2].strip()


class Sampler:
    """Reads every GPU once per :meth:`sample`; runs in a worker thread, never on the event loop."""

    def __init__(
        self,
        layer: NvmlLayer,
        attribution: Attribution,
        *,
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._layer = layer
        self._attribution = attribution
        self._clock = clock
        self._failing: dict[int, str] = {}
        self._unattributed = 0
        self._errors = Counter(
            "foresight_nvml_errors", "NVML calls that failed, by NVML function and NVML error.",
            ["call", "error"], registry=registry,
        )
        self._duration = Histogram(
            "foresight_nvml_sample_duration_seconds", "Time to read every GPU of the node once.",
            registry=registry, buckets=_DURATION_BUCKETS,
        )

    def sample(self) -> NodeSnapshot:
        """One sweep; never raises for an NVML failure."""
        with self._duration.time():
            self._attribution.refresh()
            self._unattributed = 0
            gpus: list[GpuSnapshot] = []
            failed: dict[int, str] = {}
            try:
                count = self._required("nvmlDeviceGetCount", self._layer.device_count)
            except NvmlError:
                count = 0
            for index in range(count):
                try:
                    gpus.append(self._gpu(index))
                except NvmlError as error:
                    failed[index] = error.reason
            self._report(failed)
        return NodeSnapshot(
            gpus=tuple(gpus), failed_gpus=tuple(failed), unattributed_processes=self._unattributed,
            taken_at=self._clock(),
        )

    def _gpu(self, index: int) -> GpuSnapshot:
        layer = self._layer
        handle = self._required("nvmlDeviceGetHandleByIndex", layer.handle_by_index, index)
        uuid = self._required("nvmlDeviceGetUUID", layer.uuid, handle)
        model_name = self._required("nvmlDeviceGetName", layer.name, handle)
        pci_bus_id = self._required("nvmlDeviceGetPciInfo", layer.pci_bus_id, handle)
        minor = self._required("nvmlDeviceGetMinorNumber", layer.minor_number, handle)
        # Under MIG, memory and processes are per MIG device; the whole-GPU memory would count twice.
        mig_enabled = bool(self._optional("nvmlDeviceGetMigMode", layer.mig_enabled, handle))
        mig = self._mig_devices(handle) if mig_enabled else ()
        memory = None if mig_enabled else self._optional("nvmlDeviceGetMemoryInfo", layer.memory_info, handle)
        if mig_enabled:
            pods = tuple(sorted({pod for device in mig for pod in device.pods}))
        else:
            pods = self._pods(self._optional("nvmlDeviceGetComputeRunningProcesses", layer.compute_running_pids, handle))
        power = self._optional("nvmlDeviceGetPowerUsage", layer.power_usage_mw, handle)
        energy = self._optional("nvmlDeviceGetTotalEnergyConsumption", layer.total_energy_consumption_mj, handle)
        return GpuSnapshot(
            index=index,
            uuid=uuid,
            model_name=model_name,
            pci_bus_id=pci_bus_id,
            device=f"nvidia{minor}",
            utilization_percent=_float(self._optional("nvmlDeviceGetUtilizationRates", layer.utilization_gpu_percent, handle)),
            memory_used_mib=memory.used / MIB if memory else None,
            memory_free_mib=memory.free / MIB if memory else None,
            power_watts=power / 1000.0 if power is not None else None,
            energy_millijoules=_float(energy),
            sm_clock_mhz=_float(self._optional("nvmlDeviceGetClockInfo", layer.sm_clock_mhz, handle)),
            temperature_celsius=_float(self._optional("nvmlDeviceGetTemperature", layer.gpu_temperature_c, handle)),
            pods=pods,
            mig=mig,
        )

    def _mig_devices(self, handle: object) -> tuple[MigSnapshot, ...]:
        layer = self._layer
        devices = []
        for slot in range(self._optional("nvmlDeviceGetMaxMigDeviceCount", layer.max_mig_device_count, handle) or 0):
            mig = self._optional("nvmlDeviceGetMigDeviceHandleByIndex", layer.mig_device_handle_by_index, handle, slot)
            if mig is None:
                continue
            instance = self._optional("nvmlDeviceGetGpuInstanceId", layer.gpu_instance_id, mig)
            if instance is None:
                continue
            memory = self._optional("nvmlDeviceGetMemoryInfo", layer.memory_info, mig)
            devices.append(
                MigSnapshot(
                    gpu_instance_id=instance,
                    profile=mig_profile(self._optional("nvmlDeviceGetName", layer.name, mig) or ""),
                    memory_used_mib=memory.used / MIB if memory else None,
                    memory_free_mib=memory.free / MIB if memory else None,
                    pods=self._pods(self._optional("nvmlDeviceGetComputeRunningProcesses", layer.compute_running_pids, mig)),
                )
            )
        return tuple(devices)

    def _pods(self, pids: Iterable[int] | None) -> tuple[PodRef, ...]:
        pods = set()
        for pid in pids or ():
            pod = self._attribution.pod_of(pid)
            if pod is None:
                self._unattributed += 1
            else:
                pods.add(pod)
        return tuple(sorted(pods))

    def _required(self, call: str, function: Callable[..., T], *args: object) -> T:
        """A call the GPU cannot be exported without: a failure skips the GPU."""
        try:
            return function(*args)
        except NvmlError as error:
            self._errors.labels(call, error.reason).inc()
            raise

    def _optional(self, call: str, function: Callable[..., T], *args: object) -> T | None:
        """A call whose failure leaves out one field, unless NVML says the GPU is lost."""
        try:
            return function(*args)
        except NvmlError as error:
            if error.reason in _ABSENT:
                return None
            self._errors.labels(call, error.reason).inc()
            if error.reason == GPU_IS_LOST:
                raise
            return None

    def _report(self, failed: dict[int, str]) -> None:
        """Log a GPU once when it starts failing and once when it recovers, not every sweep."""
        for index, reason in failed.items():
            if index not in self._failing:
                log.warning("GPU %d skipped: NVML answered %s; the other GPUs are still exported", index, reason)
        for index in self._failing.keys() - failed.keys():
            log.info("GPU %d is exported again", index)
        self._failing = failed


def _float(value: int | None) -> float | None:
    return float(value) if value is not None else None
