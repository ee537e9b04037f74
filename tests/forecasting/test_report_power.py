"""The power model fitted to a history's GPU power, kept physical, and the options' fixed model
where the history cannot fix a line, with the reason said."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.report.history import WorkloadHistory
from forecasting.report.power import power_model
from forecasting.report.settings import ReportSettings
from forecasting.traces import Trace

CAPACITY = 10.0
SETTINGS = ReportSettings(idle_watts=100.0, max_watts=700.0, gpus_per_replica=2)


def history(load: np.ndarray, watts_per_gpu: np.ndarray | None, replicas: float = 4.0) -> WorkloadHistory:
    """Steps of one minute at ``load`` times the capacity on ``replicas`` replicas of two GPUs."""
    requests = load * CAPACITY * replicas * 60.0
    trace = Trace("w", 60.0, 0.0, True, requests)
    return WorkloadHistory("w", trace, replicas=np.full(load.size, replicas),
                           gpu_watts=None if watts_per_gpu is None else watts_per_gpu * replicas * 2)


def test_a_linear_law_is_recovered_from_the_steps_under_capacity() -> None:
    load = np.linspace(0.2, 1.4, 200)
    watts = np.where(load < 1.0, 80.0 + 420.0 * load, 650.0)  # over capacity: no part of the line
    power = power_model(history(load, watts), SETTINGS, CAPACITY)
    assert power.measured
    assert (power.idle_watts, power.max_watts) == pytest.approx((80.0, 500.0))
    assert power.rms_error_watts == pytest.approx(0.0, abs=1e-6)
    under = int((load < 1.0).sum())
    assert power.reason == f"least squares over {under} steps of GPU power history under capacity"


def test_watts_falling_with_load_are_flat_at_their_mean() -> None:
    load = np.linspace(0.2, 0.9, 100)
    power = power_model(history(load, 300.0 - 100.0 * load), SETTINGS, CAPACITY)
    assert power.measured
    assert (power.idle_watts, power.max_watts) == pytest.approx((245.0, 245.0))


def test_a_line_below_zero_at_idle_goes_through_zero() -> None:
    load = np.linspace(0.2, 0.9, 100)
    watts = -50.0 + 500.0 * load
    power = power_model(history(load, watts), SETTINGS, CAPACITY)
    assert power.measured and power.idle_watts == 0.0
    assert power.slope_watts == pytest.approx(float(np.dot(load, watts) / np.dot(load, load)))


@pytest.mark.parametrize(("load", "watts", "reason"), [
    (np.linspace(0.2, 0.9, 100), None, "no GPU power history"),
    (np.linspace(0.2, 0.9, 20), 300.0, "20 steps with GPU power, replicas and requests under capacity are too few to fit"),
    (np.linspace(0.5, 0.6, 100), 300.0, "the load seen spans 0.10 of capacity, too little to fit"),
])
def test_a_history_that_cannot_fix_a_line_keeps_the_options(load: np.ndarray, watts: float | None,
                                                            reason: str) -> None:
    power = power_model(history(load, None if watts is None else np.full(load.size, watts)), SETTINGS, CAPACITY)
    assert not power.measured and power.rms_error_watts is None
    assert (power.idle_watts, power.max_watts) == (100.0, 700.0)
    assert power.reason == f"{reason}; the fixed --idle-watts and --max-watts apply"
