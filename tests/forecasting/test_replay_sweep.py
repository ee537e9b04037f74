"""The frontier sweep: one HPA simulated alone gives what the replay gives it beside the others,
every quantile read from one walk-forward gives what a replay at that quantile gives, and the
sweep runs every configuration once, in worker processes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from forecasting.replay.controllers import default_hpa
from forecasting.replay.forecasts import WalkForwardForecast, as_tracked
from forecasting.replay.simulation import Stage, run_replay, simulate_hpa, simulate_oracle
from forecasting.replay.sweep import (
    MEAN_QUANTILE,
    QUANTILES,
    REACTIVE_TARGET_SHARES,
    STABILIZATIONS,
    TARGET_SHARES,
    Config,
    TableForecast,
    configs,
    forecast_table,
    run_frontier,
)

from .test_replay_simulation import BASELINES, SETTINGS, ramps, trace


def test_one_hpa_alone_is_what_the_replay_gives_it() -> None:
    given = trace(ramps())
    result = run_replay(given, SETTINGS, factories=BASELINES)
    stage = Stage.of(given, SETTINGS)
    reactive, predictive = SETTINGS.hpas()
    target = SETTINGS.target_per_replica
    tracked, step = as_tracked(given.rate_per_second(), given.step_seconds, SETTINGS.forecast_step_seconds)
    forecast = WalkForwardForecast(tracked, step_seconds=step, start=given.start, lead_seconds=180.0,
                                   window_seconds=SETTINGS.window_seconds, factories=BASELINES)
    assert simulate_hpa(stage, reactive, target) == result.controllers["reactive"]
    assert simulate_hpa(stage, predictive, target, forecast) == result.controllers["predictive"]
    assert simulate_oracle(stage, target, min_replicas=1, max_replicas=1000) == result.controllers["oracle"]


@pytest.mark.parametrize("quantile", [0.7, 0.9, 0.95])
def test_each_quantile_of_one_walk_forward_is_what_a_replay_at_it_gives(quantile: float) -> None:
    given = trace(ramps())
    stage = Stage.of(given, SETTINGS)
    table = forecast_table(given, SETTINGS, stage, QUANTILES, factories=BASELINES)
    settings = replace(SETTINGS, quantile=quantile)
    result = run_replay(given, settings, factories=BASELINES)
    served = TableForecast(stage, table.served(quantile, SETTINGS.window_seconds))
    assert simulate_hpa(stage, settings.hpas()[1], settings.target_per_replica, served) == result.controllers["predictive"]
    assert table.steps_run == result.forecast_steps


def test_the_mean_quantile_serves_the_forecast_mean_and_never_more_than_the_others() -> None:
    given = trace(ramps())
    stage = Stage.of(given, SETTINGS)
    table = forecast_table(given, SETTINGS, stage, QUANTILES, factories=BASELINES)
    result = run_replay(given, SETTINGS, factories=BASELINES)
    mean = table.served(MEAN_QUANTILE, SETTINGS.window_seconds)
    known = np.isfinite(mean)
    assert known.sum() > 0.9 * known.size
    # the timeline samples the reading of the sync at the start of each step: every fourth sync
    per_step = round(given.step_seconds / SETTINGS.controller.sync_period_seconds)
    assert np.array_equal(mean[::per_step], result.timeline.forecast_mean, equal_nan=True)
    assert (mean[known] <= table.upper[0, 1:, known].min(axis=1) + 1e-9).all()


def test_each_window_is_its_own_walk_forward_and_gives_what_a_replay_with_it_gives() -> None:
    given = trace(daily_ramps(4))  # seasonal from the third day: the forecast rises ahead of each ramp
    stage = Stage.of(given, SETTINGS)
    table = forecast_table(given, SETTINGS, stage, (0.9,), windows=(60.0, 300.0), factories=BASELINES)
    for window in (60.0, 300.0):
        settings = replace(SETTINGS, window_seconds=window)
        result = run_replay(given, settings, factories=BASELINES)
        served = TableForecast(stage, table.served(0.9, window))
        assert simulate_hpa(stage, settings.hpas()[1], settings.target_per_replica, served) == \
            result.controllers["predictive"]
    short, long = table.served(0.9, 60.0), table.served(0.9, 300.0)
    known = np.isfinite(long)
    assert (short[known] < long[known] - 1e-6).any()


def test_the_sweep_is_every_target_and_stabilisation_reactive_then_with_each_quantile() -> None:
    sweep = configs(SETTINGS)
    assert len(sweep) == len(STABILIZATIONS) * (len(REACTIVE_TARGET_SHARES) + len(TARGET_SHARES) * len(QUANTILES))
    assert TARGET_SHARES == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    assert REACTIVE_TARGET_SHARES == (0.3, 0.35, 0.4, 0.45, *TARGET_SHARES)
    assert {config.target_share for config in sweep if not config.predictive} == set(REACTIVE_TARGET_SHARES)
    assert len(set(sweep)) == len(sweep)
    predictive = [config for config in sweep if config.predictive]
    assert {config.lead_seconds for config in predictive} == {180.0}
    assert {config.window_seconds for config in predictive} == {300.0}
    windows = configs(SETTINGS, windows=(60.0, 300.0))
    assert len(windows) == len(sweep) + len(TARGET_SHARES) * len(STABILIZATIONS) * len(QUANTILES)
    assert default_hpa(8.0, min_replicas=1, max_replicas=1000).behavior is None
    hpa = sweep[-1].hpa(SETTINGS)
    assert hpa.behavior is not None and hpa.behavior.scale_down is not None
    assert hpa.behavior.scale_down.stabilization_window_seconds == 300
    assert [metric.name for metric in hpa.metrics] == ["requests_per_second", "requests_per_second_forecast"]


def test_the_frontier_sweep_runs_each_configuration_once_in_workers() -> None:
    given = trace(ramps())
    seen: list[tuple[int, int]] = []
    result = run_frontier(given, SETTINGS, targets=(0.7, 0.8), reactive_targets=(0.7, 0.8),
                          stabilizations=(0, 300), quantiles=(0.5, 0.9),
                          windows=(300.0,), workers=2, factories=BASELINES,
                          progress=lambda done, total: seen.append((done, total)))
    assert [run.config for run in result.runs] == list(configs(SETTINGS, targets=(0.7, 0.8),
                                                               reactive_targets=(0.7, 0.8), stabilizations=(0, 300),
                                                               quantiles=(0.5, 0.9), windows=(300.0,)))
    assert seen[-1][0] == seen[-1][1] and all(done <= total for done, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    one = next(run for run in result.runs if run.config.quantile == 0.9 and run.config.target_share == 0.8
               and run.config.stabilization_seconds == 300)
    stage = Stage.of(given, SETTINGS)
    table = forecast_table(given, SETTINGS, stage, (0.9,), factories=BASELINES)
    assert one.metrics == simulate_hpa(stage, one.config.hpa(SETTINGS), 8.0,
                                       TableForecast(stage, table.served(0.9, 300.0)))
    replay = run_replay(given, SETTINGS, factories=BASELINES)
    assert result.oracle == replay.controllers["oracle"]
    # the sweep has no HPA without a behavior section, so plain replay's reactive HPA is one more run, not a point
    assert result.default_reactive.config == Config(0.8, None) not in [run.config for run in result.runs]
    assert Config(0.8, None).hpa(SETTINGS) == SETTINGS.hpas()[0]
    assert result.default_reactive.metrics == replay.controllers["reactive"]


FEW_TARGETS = (0.6, 0.7, 0.8, 0.9)
"""Targets of both families in the sweeps of synthetic demand, to keep them short."""


def daily_ramps(days: int = 4) -> np.ndarray:
    """Requests per minute: quiet nights, a steep morning ramp (tenfold in ten minutes at 8:00) and
    a lunch surge, the same every day."""
    of_day = np.arange(days * 1440) % 1440
    level = 300 + 2700 * np.clip((of_day - 480) / 10, 0, 1) * (of_day < 1200)
    return np.round(level + np.where((of_day >= 720) & (of_day < 780), 2000.0, 0.0))


def test_on_predictable_ramps_predictive_reaches_a_lower_share_for_fewer_gpu_hours() -> None:
    settings = replace(SETTINGS, service=replace(SETTINGS.service, capacity_per_replica=5.0), span_seconds=86400.0)
    result = run_frontier(trace(daily_ramps()), settings, targets=FEW_TARGETS, reactive_targets=FEW_TARGETS,
                          stabilizations=(0, 300),
                          quantiles=(0.5, 0.9), workers=2, factories=BASELINES)
    reactive, predictive = result.frontier(False), result.frontier(True)
    assert any(p.gpu_hours <= r.gpu_hours and p.slo_violation_share < r.slo_violation_share
               for r in reactive for p in predictive)
    assert min(p.slo_violation_share for p in predictive) < min(r.slo_violation_share for r in reactive)


def test_a_peak_aware_sweep_says_so_in_each_predictive_configuration() -> None:
    sweep = configs(replace(SETTINGS, peak_seconds=10.0), targets=(0.8,), reactive_targets=(0.8,),
                    stabilizations=(0,), quantiles=(0.9,))
    reactive, predictive = sweep
    assert "peak_seconds" not in reactive.to_json()
    assert predictive.to_json()["peak_seconds"] == 10.0
    assert "peak_seconds" not in configs(SETTINGS, targets=(0.8,), reactive_targets=(0.8,),
                                         stabilizations=(0,), quantiles=(0.9,))[1].to_json()


def test_each_lead_swept_is_its_own_walk_forward_at_that_lead() -> None:
    given = trace(daily_ramps(4))
    stage = Stage.of(given, SETTINGS)
    table = forecast_table(given, SETTINGS, stage, (0.9,), leads=(180.0, 600.0), factories=BASELINES)
    assert table.horizons == ((180.0, 300.0), (600.0, 300.0))
    tracked, step = as_tracked(given.rate_per_second(), given.step_seconds, SETTINGS.forecast_step_seconds)
    for lead in (180.0, 600.0):
        alone = WalkForwardForecast(tracked, step_seconds=step, start=given.start, lead_seconds=lead,
                                    window_seconds=SETTINGS.window_seconds, factories=BASELINES)
        expected = []
        for tick in stage.syncs():
            reading = alone.at(stage.demand.time(tick)) if stage.demand.rate_over(tick, stage.window_ticks) else None
            expected.append(np.nan if reading is None else reading.upper)
        np.testing.assert_array_equal(table.served(0.9, 300.0, lead), expected)
    early, late = table.served(0.9, 300.0, 180.0), table.served(0.9, 300.0, 600.0)
    known = np.isfinite(early) & np.isfinite(late)
    assert (early[known] != late[known]).any()
    leads = configs(SETTINGS, targets=(0.8,), reactive_targets=(0.8,), stabilizations=(0,), quantiles=(0.9,),
                    leads=(180.0, 600.0))
    assert [config.lead_seconds for config in leads if config.predictive] == [180.0, 600.0]
