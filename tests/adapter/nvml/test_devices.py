"""The pynvml wrapper, without a GPU: pynvml's own functions are replaced where a driver would
answer, so the translation of units, strings and errors is checked against pynvml's real error
classes."""

from __future__ import annotations

import types

import pynvml  # type: ignore[import-untyped]
import pytest

from adapter.nvml.devices import NvmlError, PynvmlLayer


def test_pynvml_errors_become_nvml_errors_named_by_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def lost(handle: object) -> int:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetPowerUsage", lost)
    with pytest.raises(NvmlError) as raised:
        PynvmlLayer(pynvml).power_usage_mw(object())
    assert raised.value.reason == "GpuIsLost"
    assert isinstance(raised.value.__cause__, pynvml.NVMLError_GpuIsLost)


def test_values_pass_through_in_nvml_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pynvml, "nvmlDeviceGetPciInfo", lambda handle: types.SimpleNamespace(busId=b"00000000:3B:00.0"))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetClockInfo", lambda handle, clock: {pynvml.NVML_CLOCK_SM: 1980}[clock])
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMigMode", lambda handle: [pynvml.NVML_DEVICE_MIG_ENABLE, 1])
    monkeypatch.setattr(
        pynvml, "nvmlDeviceGetComputeRunningProcesses",
        lambda handle: [types.SimpleNamespace(pid=4101, usedGpuMemory=1 << 30)],
    )
    layer = PynvmlLayer(pynvml)
    assert layer.pci_bus_id(object()) == "00000000:3B:00.0"
    assert layer.sm_clock_mhz(object()) == 1980
    assert layer.mig_enabled(object()) is True
    assert layer.compute_running_pids(object()) == [4101]
