"""Whole replays on small synthetic traces: deterministic, no look-ahead, requests conserved for
every controller, the oracle's capacity exactly at the target, gaps hold the HPAs, and a
forecast that is still warming up serves the current value."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.hpa import HpaSpec, MetricSpec, MetricTarget
from forecasting.replay.forecasts import as_tracked, as_tracked_peaks
from forecasting.replay.service import ServiceSettings
from forecasting.replay.simulation import (
    CONTROLLERS,
    ReplayResult,
    ReplaySettings,
    run_replay,
)
from forecasting.traces import Trace

BASELINES = {Persistence.name: Persistence, SeasonalNaive.name: SeasonalNaive}
STEP = 60.0


def trace(requests: np.ndarray, name: str = "synthetic") -> Trace:
    return Trace(name=name, step_seconds=STEP, start=0.0, wall_clock=False, requests=requests)


def ramps(steps: int = 600) -> np.ndarray:
    """Requests per minute: a slow wave with sudden surges every two hours."""
    minutes = np.arange(steps)
    wave = 3000 + 1500 * np.sin(2 * np.pi * minutes / 240)
    surges = np.where((minutes % 120) >= 100, 2500.0, 0.0)
    return np.round(wave + surges)


SETTINGS = ReplaySettings(ServiceSettings(capacity_per_replica=10.0, startup_seconds=180.0))


def replay(requests: np.ndarray, settings: ReplaySettings = SETTINGS) -> ReplayResult:
    return run_replay(trace(requests), settings, factories=BASELINES)


def test_the_same_trace_replays_identically() -> None:
    first, second = replay(ramps()), replay(ramps())
    assert first.controllers == second.controllers
    assert first.scalings == second.scalings


def test_no_decision_before_t_depends_on_the_trace_after_t() -> None:
    original = ramps()
    cut = 400
    perturbed = original.copy()
    perturbed[cut:] = perturbed[cut:] * 3 + 1000
    before, after = replay(original), replay(perturbed)
    moment = cut * STEP
    for name in CONTROLLERS:
        assert [event for event in before.scalings[name] if event[0] < moment] == \
               [event for event in after.scalings[name] if event[0] < moment]
    early = before.timeline.times < moment
    np.testing.assert_array_equal(before.timeline.forecast_upper[early], after.timeline.forecast_upper[early])
    assert before.controllers["predictive"] != after.controllers["predictive"]  # the perturbation does matter later


def test_every_controller_serves_each_request_once() -> None:
    result = replay(ramps())
    for name, metrics in result.controllers.items():
        assert metrics.requests == pytest.approx(float(ramps().sum()), rel=1e-9), name
        assert metrics.served + metrics.queued_at_end == pytest.approx(metrics.requests, rel=1e-9), name


def test_the_oracle_holds_exactly_the_target_and_never_queues() -> None:
    result = replay(ramps())
    oracle = result.controllers["oracle"]
    assert oracle.slo_violation_share == 0.0 and oracle.peak_queue == 0.0
    target = SETTINGS.target_per_replica
    needed = [max(1, math.ceil(rate / target - 1e-12)) for rate in ramps() / STEP]
    assert oracle.replica_hours == pytest.approx(sum(needed) * STEP / 3600)


def test_reactive_scaling_lags_and_breaks_the_slo_on_surges() -> None:
    result = replay(ramps())
    assert result.controllers["reactive"].slo_violation_share > 0
    assert result.controllers["reactive"].underprovisioned_minutes > 0


def test_a_gap_in_the_trace_holds_the_hpas() -> None:
    requests = ramps().astype(float)
    requests[200:260] = np.nan
    result = replay(requests)
    gap = (200 * STEP + STEP, 260 * STEP)  # the first minute still has data in the metric's window
    for name in ("reactive", "predictive"):
        assert not [event for event in result.scalings[name] if gap[0] < event[0] < gap[1]], name


def test_while_the_forecast_warms_up_predictive_equals_reactive() -> None:
    """Fewer than 30 known steps: the forecast metric serves the current value."""
    result = replay(ramps(25))
    assert result.scalings["predictive"] == result.scalings["reactive"]
    assert np.isnan(result.timeline.forecast_upper).all()


def test_the_span_replays_only_the_end_of_the_trace() -> None:
    result = replay(ramps(), ReplaySettings(SETTINGS.service, span_seconds=100 * STEP))
    assert result.start == 500 * STEP
    assert result.controllers["oracle"].requests == pytest.approx(float(ramps()[500:].sum()))


def test_a_metric_the_replay_cannot_simulate_is_refused() -> None:
    hpa = HpaSpec(max_replicas=10, metrics=(MetricSpec("Resource", "cpu", MetricTarget("Utilization", 70)),))
    with pytest.raises(ValueError, match="not simulated"):
        replay(ramps(40), ReplaySettings(SETTINGS.service, hpa=hpa))


def test_a_per_second_trace_is_forecast_from_its_rate_per_tracker_step() -> None:
    """The tracker holds one point a minute, so a per-second trace's forecaster steps once a minute
    on mean rates, not on per-second counts."""
    seconds = 60 * 90
    per_second = Trace(name="fine", step_seconds=1.0, start=0.0, wall_clock=False,
                       requests=np.tile([0.0, 2.0], seconds // 2))  # a steady 1 request/s, noisy per second
    result = run_replay(per_second, ReplaySettings(ServiceSettings(capacity_per_replica=0.5, startup_seconds=180.0)),
                        factories={Persistence.name: Persistence, SeasonalNaive.name: SeasonalNaive})
    assert result.forecast_steps == seconds // 60 - 1  # each minute once it is complete; the last never is
    served = result.timeline.forecast_upper[np.isfinite(result.timeline.forecast_upper)]
    assert served.size and served == pytest.approx(1.0)  # the minute's rate; per-second counts would give 2


def test_tracked_rates_are_means_per_tracker_step() -> None:
    rates = np.array([1.0, 3.0, np.nan, np.nan, 5.0, np.nan, 7.0])
    tracked, step = as_tracked(rates, 30.0, 60.0)
    assert step == 60.0
    np.testing.assert_array_equal(tracked, [2.0, np.nan, 5.0])  # the incomplete last minute is left out
    coarse, coarse_step = as_tracked(rates, 600.0, 60.0)
    assert coarse is rates and coarse_step == 600.0


def test_peak_aware_history_is_each_steps_highest_short_window_rate() -> None:
    per_second = np.ones(180)
    per_second[20:30] = 7.0  # a ten-second burst in the first minute
    per_second[75:80] = 4.0  # half a window in the second: its ten-second mean is 2.5
    per_second[120:180] = np.nan
    peaks, step = as_tracked_peaks(per_second, 1.0, 60.0, 10.0)
    assert step == 60.0
    np.testing.assert_array_equal(peaks, [7.0, 2.5, np.nan])
    means, _ = as_tracked(per_second, 1.0, 60.0)
    assert means[0] == pytest.approx(2.0)  # the mean hides the burst the peak keeps


@pytest.mark.parametrize(("step", "peak"), [(60.0, 10.0), (3.0, 10.0), (1.0, 45.0)])
def test_peak_aware_history_needs_a_trace_finer_than_its_window(step: float, peak: float) -> None:
    with pytest.raises(ValueError, match=f"a peak window of {peak:g} s"):
        as_tracked_peaks(np.ones(600), step, 60.0, peak)


def test_a_peak_aware_replay_serves_the_forecast_of_the_peaks() -> None:
    seconds = 3 * 3600
    per_second = np.where(np.arange(seconds) % 60 < 10, 6.0, 0.0)  # a burst of ten seconds every minute
    bursty = Trace(name="bursty", step_seconds=1.0, start=0.0, wall_clock=False, requests=per_second)
    settings = ReplaySettings(ServiceSettings(capacity_per_replica=1.0, startup_seconds=60.0), peak_seconds=10.0)
    result = run_replay(bursty, settings, factories=BASELINES)
    served = result.timeline.forecast_upper[np.isfinite(result.timeline.forecast_upper)]
    assert served.size and served == pytest.approx(6.0)  # the bursts' rate, where the mean rate is 1


def test_selections_made_ahead_in_worker_processes_give_the_same_replay() -> None:
    from forecasting.models.arima import Arima
    from forecasting.schedule import Schedule

    settings = ReplaySettings(SETTINGS.service, schedule=Schedule(history_seconds=86400.0, select_every_seconds=7200.0,
                                                                  selection_lookback_seconds=21600.0))
    factories = {**BASELINES, Arima.name: Arima}
    serial, parallel = (run_replay(trace(ramps(1200)), settings, factories=factories, workers=workers)
                        for workers in (1, 2))
    assert parallel.controllers == serial.controllers and parallel.scalings == serial.scalings
    np.testing.assert_array_equal(parallel.timeline.forecast_upper, serial.timeline.forecast_upper)
