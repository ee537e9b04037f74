"""``foresight nvml-exporter`` on a machine without an NVIDIA driver (this one): exit 1 at once
with a message, never a traceback."""

from __future__ import annotations

import ctypes.util

import pynvml  # type: ignore[import-untyped]
import pytest

from adapter.commands.cli import main

pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.mark.skipif(ctypes.util.find_library("nvidia-ml") is not None, reason="this machine has an NVIDIA driver")
def test_no_driver_exits_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nvml-exporter", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "foresight nvml-exporter: NVML could not initialise (NVML Shared Library Not Found)" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("code", [pynvml.NVML_ERROR_DRIVER_NOT_LOADED, pynvml.NVML_ERROR_LIBRARY_NOT_FOUND])
def test_nvml_failing_to_start_exits_with_its_reason(
    code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail() -> None:
        raise pynvml.NVMLError(code)

    monkeypatch.setattr(pynvml, "nvmlInit", fail)
    assert main(["nvml-exporter"]) == 1
    err = capsys.readouterr().err
    assert str(pynvml.NVMLError(code)) in err and "no usable NVIDIA driver" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("interval", ["soon", "0s"])
def test_a_bad_interval_is_a_usage_error(interval: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nvml-exporter", "--interval", interval]) == 2
    assert "--interval" in capsys.readouterr().err
