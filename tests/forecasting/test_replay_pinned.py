"""Today's replay figures, pinned: a change in how the forecast is computed or stored (fitting
once for every quantile, for the frontier) must leave what a replay reports as it was. They are
the models' own bounds, uncalibrated, as they were pinned."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from forecasting.replay import ReplaySettings, ServiceSettings, run_replay
from forecasting.replay.simulation import ReplayResult
from forecasting.traces import read_trace

from .test_replay_simulation import BASELINES, SETTINGS, ramps, trace

TRACE = Path(__file__).resolve().parents[1] / "data" / "traces" / "servegen_reason_deepseek-r1_10min.csv"

Figures = dict[str, tuple[float, float, int, float, float]]
"""By controller: share over the SLO, GPU-hours, scale events, kWh, peak queue."""


def figures(result: ReplayResult) -> Figures:
    return {name: (m.slo_violation_share, m.gpu_hours, m.scale_events, m.energy_kwh, m.peak_queue)
            for name, m in result.controllers.items()}


def assert_pinned(result: ReplayResult, expected: Figures, steps: int, upper: float, mean: float) -> None:
    assert figures(result) == {name: pytest.approx(values, rel=1e-12, abs=1e-12) for name, values in expected.items()}
    assert result.forecast_steps == steps
    assert float(np.nansum(result.timeline.forecast_upper)) == pytest.approx(upper, rel=1e-12)
    assert float(np.nansum(result.timeline.forecast_mean)) == pytest.approx(mean, rel=1e-12)


def test_the_default_replay_of_a_real_trace_with_every_model() -> None:
    settings = ReplaySettings(ServiceSettings(capacity_per_replica=4.0, startup_seconds=180.0), calibration="none")
    result = run_replay(read_trace(TRACE), settings)
    assert_pinned(result, {
        "reactive": (0.048838114509823026, 130.29583333333332, 63, 70.68245833333333, 1924.5),
        "predictive": (0.03134452968548824, 153.72083333333333, 49, 73.02495833333333, 942.3750000000005),
        "oracle": (0.0, 132.66666666666666, 74, 70.91954166666666, 0.0),
    }, 143, 2021.0913333333333, 1581.0166666666669)


@pytest.mark.parametrize(("quantile", "predictive", "upper"), [
    (0.9, (0.07841489873344554, 86.35, 35, 44.7116, 6157.0), 37532.79),
    (0.7, (0.07841489873344554, 83.55, 32, 44.4316, 6157.0), 36354.63),
])
def test_a_synthetic_replay_at_two_quantiles(quantile: float, predictive: tuple[float, float, int, float, float],
                                             upper: float) -> None:
    result = run_replay(trace(ramps()), replace(SETTINGS, quantile=quantile, calibration="none"), factories=BASELINES)
    assert_pinned(result, {
        "reactive": (0.08931312245022979, 80.0625, 49, 44.08285, 6157.0),
        "predictive": predictive,
        "oracle": (0.0, 80.65, 42, 44.1416, 0.0),
    }, 599, upper, 34280.6)
