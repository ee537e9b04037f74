"""The NVML calls the exporter makes, behind a protocol so that tests can stand in for a GPU.

:class:`NvmlLayer` is a thin wrapper: NVML's own units (milliwatts, millijoules, bytes) and
handles pass through unchanged, so unit conversion happens in one tested place (``sampling``).
Every failure is raised as :class:`NvmlError` with NVML's reason (``GpuIsLost``,
``NotSupported``, ...), so no caller needs ``pynvml`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol, TypeVar

T = TypeVar("T")

#: What NVML says when a GPU fell off the bus; the sampler skips such a GPU.
GPU_IS_LOST = "GpuIsLost"
#: What NVML says about a field the device does not have (e.g. utilisation under MIG).
NOT_SUPPORTED = "NotSupported"
#: What NVML says about a MIG slot that holds no MIG device.
NOT_FOUND = "NotFound"


class NvmlError(Exception):
    """One NVML call failed; ``reason`` is NVML's error name without the ``NVMLError_`` prefix."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NvmlUnavailable(Exception):
    """NVML cannot start on this machine (no driver, no library): the exporter cannot run."""


@dataclass(frozen=True)
class MemoryInfo:
    """Framebuffer memory in bytes, as ``nvmlDeviceGetMemoryInfo`` reports it."""

    total: int
    free: int
    used: int


class NvmlLayer(Protocol):
    """The NVML calls the sampler makes; handles are opaque. Methods raise :class:`NvmlError`."""

    def device_count(self) -> int: ...
    def handle_by_index(self, index: int) -> object: ...
    def uuid(self, handle: object) -> str: ...
    def name(self, handle: object) -> str: ...
    def pci_bus_id(self, handle: object) -> str: ...
    def minor_number(self, handle: object) -> int: ...
    def utilization_gpu_percent(self, handle: object) -> int: ...
    def memory_info(self, handle: object) -> MemoryInfo: ...
    def power_usage_mw(self, handle: object) -> int: ...
    def total_energy_consumption_mj(self, handle: object) -> int: ...
    def sm_clock_mhz(self, handle: object) -> int: ...
    def gpu_temperature_c(self, handle: object) -> int: ...
    def mig_enabled(self, handle: object) -> bool: ...
    def max_mig_device_count(self, handle: object) -> int: ...
    def mig_device_handle_by_index(self, handle: object, index: int) -> object: ...
    def gpu_instance_id(self, mig_handle: object) -> int: ...
    def compute_running_pids(self, handle: object) -> list[int]: ...
    def shutdown(self) -> None: ...


class PynvmlLayer:
    """:class:`NvmlLayer` on ``pynvml`` (the ``nvidia-ml-py`` distribution)."""

    def __init__(self, nvml: ModuleType) -> None:
        self._nvml = nvml

    def _call(self, function: Callable[..., T], *args: object) -> T:
        try:
            return function(*args)
        except self._nvml.NVMLError as error:
            raise NvmlError(_reason(error)) from error

    def device_count(self) -> int:
        return int(self._call(self._nvml.nvmlDeviceGetCount))

    def handle_by_index(self, index: int) -> object:
        return self._call(self._nvml.nvmlDeviceGetHandleByIndex, index)

    def uuid(self, handle: object) -> str:
        return str(self._call(self._nvml.nvmlDeviceGetUUID, handle))

    def name(self, handle: object) -> str:
        return str(self._call(self._nvml.nvmlDeviceGetName, handle))

    def pci_bus_id(self, handle: object) -> str:
        bus_id = self._call(self._nvml.nvmlDeviceGetPciInfo, handle).busId
        return bus_id.decode() if isinstance(bus_id, bytes) else str(bus_id)

    def minor_number(self, handle: object) -> int:
        return int(self._call(self._nvml.nvmlDeviceGetMinorNumber, handle))

    def utilization_gpu_percent(self, handle: object) -> int:
        return int(self._call(self._nvml.nvmlDeviceGetUtilizationRates, handle).gpu)

    def memory_info(self, handle: object) -> MemoryInfo:
        info = self._call(self._nvml.nvmlDeviceGetMemoryInfo, handle)
        return MemoryInfo(total=int(info.total), free=int(info.free), used=int(info.used))

    def power_usage_mw(self, handle: object) -> int:
        return int(self._call(self._nvml.nvmlDeviceGetPowerUsage, handle))

    def total_energy_consumption_mj(self, handle: object) -> int:
        return int(self._call(self._nvml.nvmlDeviceGetTotalEnergyConsumption, handle))

    def sm_clock_mhz(self, handle: object) -> int:
        return int(self._call(self._nvml.nvmlDeviceGetClockInfo, handle, self._nvml.NVML_CLOCK_SM))

    def gpu_temperature_c(self, handle: object) -> int:
        return int(self._call(self._nvml.nvmlDeviceGetTemperature, handle, self._nvml.NVML_TEMPERATURE_GPU))

    def mig_enabled(self, handle: object) -> bool:
        current, _pending = self._call(self._nvml.nvmlDeviceGetMigMode, handle)
        return bool(current == self._nvml.NVML_DEVICE_MIG_ENABLE)

    def max_mig_device_count(self, handle: object) -> int:
        return int(self._call(self._nvml.nvmlDeviceGetMaxMigDeviceCount, handle))

    def mig_device_handle_by_index(self, handle: object, index: int) -> object:
        return self._call(self._nvml.nvmlDeviceGetMigDeviceHandleByIndex, handle, index)

    def gpu_instance_id(self, mig_handle: object) -> int:
        return int(self._call(self._nvml.nvmlDeviceGetGpuInstanceId, mig_handle))

    def compute_running_pids(self, handle: object) -> list[int]:
        return [int(process.pid) for process in self._call(self._nvml.nvmlDeviceGetComputeRunningProcesses, handle)]

    def shutdown(self) -> None:
        self._call(self._nvml.nvmlShutdown)


def _reason(error: Exception) -> str:
    """``NVMLError_GpuIsLost`` → ``GpuIsLost``; an unnamed code keeps NVML's message."""
    name = type(error).__name__
    return name.removeprefix("NVMLError_") if name != "NVMLError" else str(error)


def open_nvml() -> PynvmlLayer:
    """Load and initialise NVML; :class:`NvmlUnavailable` says why it cannot run here."""
    try:
        import pynvml  # type: ignore[import-untyped]  # imported only where a GPU is expected
    except ImportError as error:
        raise NvmlUnavailable("the nvidia-ml-py package (module pynvml) is not installed") from error
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        raise NvmlUnavailable(
            f"NVML could not initialise ({error}): this machine has no usable NVIDIA driver. "
            "nvml-exporter runs on GPU nodes with the NVIDIA driver and container toolkit."
        ) from error
    return PynvmlLayer(pynvml)
