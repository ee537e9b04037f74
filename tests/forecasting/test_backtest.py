"""The walk-forward backtest: report shape, lead rounding, seasonal period, fallbacks, and no
look-ahead."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Self

import numpy as np
import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from forecasting.accuracy import naive_scale
from forecasting.backtest import AUTO, BacktestReport, run_backtest
from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.core import (
    DAY_SECONDS,
    WEEK_SECONDS,
    FloatArray,
    Model,
    NotEnoughData,
    Series,
)
from forecasting.coverage import walk_steps
from forecasting.registry import MODEL_FACTORIES
from forecasting.schedule import Schedule
from forecasting.selection import window

from .tiny_models import Rule

HOUR = 3600.0
BASELINES: dict[str, Callable[[], Model]] = {"persistence": Persistence, "seasonal_naive": SeasonalNaive}


def with_rule(name: str, function: Callable[[FloatArray], float]) -> dict[str, Callable[[], Model]]:
    return {**BASELINES, name: lambda: Rule(name, function, upper_factor=1.1)}


def daily(days: float, *, step: float = HOUR, seed: int = 0) -> Series:
    count = round(days * DAY_SECONDS / step)
    phase = 2 * np.pi * np.arange(count) * step / DAY_SECONDS
    noise = np.random.default_rng(seed).normal(0, 3, count)
    return Series(100 + 40 * np.sin(phase) + noise, step, 1_700_000_000.0)


def test_json_is_exactly_the_specified_shape() -> None:
    report = run_backtest(daily(5), name="five-days", lead_seconds=HOUR, factories=with_rule("mean", np.mean))
    document = json.loads(json.dumps(report.to_json()))
    assert set(document) == {"trace", "step_seconds", "lead_seconds", "seasonal_naive_period_seconds", "selected", "models",
                             "coverage"}
    assert (document["trace"], document["step_seconds"], document["lead_seconds"]) == ("five-days", 3600, 3600)
    assert isinstance(document["seasonal_naive_period_seconds"], int) and isinstance(document["selected"], str)
    assert [model["name"] for model in document["models"]] == ["persistence", "seasonal_naive", "mean", "auto"]
    fields = {"name", "mae", "mase", "pinball", "under_forecast_rate", "ratio_to_persistence", "ratio_to_seasonal_naive"}
    for model in document["models"]:
        assert set(model) == fields
        assert all(isinstance(model[key], float) for key in fields - {"name"})
    by_name = {model["name"]: model for model in document["models"]}
    assert by_name["persistence"]["ratio_to_persistence"] == 1.0 == by_name["seasonal_naive"]["ratio_to_seasonal_naive"]
    assert by_name["mean"]["ratio_to_persistence"] == pytest.approx(by_name["mean"]["mae"] / by_name["persistence"]["mae"])
    coverage = document["coverage"]
    assert set(coverage) == {"lead_seconds", "window_seconds", "windows", "quantiles"}
    assert (coverage["lead_seconds"], coverage["window_seconds"]) == (3600, 3600)  # 5 minutes is one step here
    assert isinstance(coverage["windows"], int) and coverage["windows"] > 0
    assert [row["quantile"] for row in coverage["quantiles"]] == [0.8, 0.9, 0.95]
    for row in coverage["quantiles"]:
        assert set(row) == {"quantile", "model", "conformal", "model_bound_ratio", "conformal_bound_ratio"}
        assert all(isinstance(row[key], float) for key in row)
        assert 0 <= row["model"] <= 1 and 0 <= row["conformal"] <= 1


def test_mase_is_scaled_by_seasonal_naive_before_the_first_origin() -> None:
    series = daily(5)
    report = run_backtest(series, name="t", lead_seconds=HOUR, factories=BASELINES)
    first = round((report.origins[0] - series.start) / series.step_seconds)
    scale = naive_scale(window(series, 0, first + 1), 1)
    for model in report.models:
        assert model.mase == pytest.approx(model.mae / scale)


@pytest.mark.parametrize(("lead", "expected"), [(1.0, 60), (60.0, 60), (90.0, 120), (300.0, 300)])
def test_lead_is_rounded_up_to_whole_steps(lead: float, expected: int) -> None:
    report = run_backtest(daily(1, step=60.0), name="t", lead_seconds=lead, factories=BASELINES, max_origins=5)
    assert report.to_json()["lead_seconds"] == expected


@pytest.mark.parametrize(("days", "period", "words"), [
    (15, WEEK_SECONDS, "one week earlier"), (3, DAY_SECONDS, "one day earlier"), (1, 0.0, "persistence"),
])
def test_the_seasonal_naive_period_is_reported(days: float, period: float, words: str) -> None:
    report = run_backtest(daily(days), name="t", lead_seconds=HOUR, factories=BASELINES, max_origins=5)
    assert report.to_json()["seasonal_naive_period_seconds"] == period
    assert words in report.table()


def test_no_look_ahead_perturbing_after_t_changes_nothing_up_to_t() -> None:
    series = daily(6)
    factories = with_rule("last-day-mean", lambda v: float(v[-24:].mean()))
    schedule = Schedule(select_every_seconds=6 * HOUR, selection_lookback_seconds=DAY_SECONDS / 2)
    before = run_backtest(series, name="t", lead_seconds=2 * HOUR, factories=factories, schedule=schedule)
    cut = before.origins[len(before.origins) // 2]
    changed = series.values.copy()
    after_cut = series.times() > cut
    changed[after_cut] = changed[after_cut] * 3 + 50
    after = run_backtest(Series(changed, series.step_seconds, series.start), name="t", lead_seconds=2 * HOUR,
                         factories=factories, schedule=schedule)
    np.testing.assert_array_equal(before.origins, after.origins)
    up_to_cut = before.origins <= cut
    for model in [*factories, AUTO]:
        np.testing.assert_array_equal(before.points[model][up_to_cut], after.points[model][up_to_cut])
    # the perturbation does reach the forecasts made after the cut
    assert (before.points["persistence"][~up_to_cut] != after.points["persistence"][~up_to_cut]).all()
    assert [s for s in before.selections if s[0] <= cut] == [s for s in after.selections if s[0] <= cut]


def test_auto_serves_the_forecast_of_its_pick() -> None:
    pattern = np.random.default_rng(1).uniform(10, 100, 24)
    series = Series(np.tile(pattern, 6), HOUR, 0.0)  # seasonal naive is exact
    report = run_backtest(series, name="t", lead_seconds=HOUR, factories=BASELINES)
    assert report.selected == "seasonal_naive" and {pick for _, pick in report.selections} == {"seasonal_naive"}
    np.testing.assert_array_equal(report.points[AUTO], report.points["seasonal_naive"])


def test_a_refused_forecast_falls_back_to_seasonal_naive_and_is_counted() -> None:
    report = run_backtest(daily(5), name="t", lead_seconds=HOUR, factories=with_rule("wild", lambda v: 1e9))
    scores = {model.name: model for model in report.models}
    np.testing.assert_array_equal(report.points["wild"], report.points["seasonal_naive"])
    assert scores["wild"].replaced == {"absurd": len(report.origins)}
    assert scores["seasonal_naive"].replaced == {} and "wild" not in {pick for _, pick in report.selections}


def test_a_model_that_cannot_fit_is_counted_at_every_origin() -> None:
    class TooShort(Rule):
        def fit(self, series: Series) -> Self:
            raise NotEnoughData("never enough")

    factories = {**BASELINES, "short": lambda: TooShort("short", np.mean)}
    report = run_backtest(daily(5), name="t", lead_seconds=HOUR, factories=factories)
    assert {model.name: model.replaced for model in report.models}["short"] == {"not-enough-data": len(report.origins)}


def test_no_origin_is_scored_where_the_actual_is_missing() -> None:
    series = daily(5)
    values = series.values.copy()
    values[-20:-10] = np.nan
    gappy = Series(values, series.step_seconds, series.start)
    report = run_backtest(gappy, name="t", lead_seconds=HOUR, factories=BASELINES)
    assert np.isfinite(report.actual).all()
    targets = np.round((report.origins - series.start) / series.step_seconds).astype(int) + 1
    assert np.isfinite(values[targets]).all() and len(report.origins) == 36 - 10


def test_origins_are_bounded_and_in_the_later_part() -> None:
    series = daily(20, step=600.0)
    report = run_backtest(series, name="t", lead_seconds=600, factories=BASELINES, max_origins=50)
    assert len(report.origins) == 50
    assert report.origins[0] >= series.end - 2 * DAY_SECONDS and report.origins[-1] == series.end - 600


def test_progress_is_reported_after_each_step_of_the_coverage_walk_each_stretch_of_a_model_walk_and_each_selection() -> None:
    calls: list[tuple[int, int]] = []
    series = daily(5)
    report = run_backtest(series, name="t", lead_seconds=HOUR, factories=BASELINES, max_origins=7,
                          progress=lambda done, total: calls.append((done, total)))
    first = round((report.origins[0] - series.start) / series.step_seconds)
    walked = len(walk_steps(series, lead_steps=1, window_steps=1, first=first))
    assert walked > 24 and len(report.origins) == 7 and len(report.selections) >= 1
    # hourly steps: every origin is a refit, so each model's walk is one task per origin
    total = walked + len(BASELINES) * len(report.origins) + len(report.selections)
    assert calls == [(done, total) for done in range(1, total + 1)]


def test_the_baselines_are_required() -> None:
    with pytest.raises(ValueError, match="seasonal_naive"):
        run_backtest(daily(5), name="t", lead_seconds=HOUR, factories={"persistence": Persistence})


def test_the_table_lists_every_model_and_the_pick() -> None:
    report: BacktestReport = run_backtest(daily(5), name="five-days", lead_seconds=HOUR,
                                          factories=with_rule("mean", np.mean))
    table = report.table()
    assert table.startswith("five-days: step 3600 s, lead 3600 s, 36 origins")
    for name in ("persistence", "seasonal_naive", "mean", "auto"):
        assert f"\n{name} " in table
    assert f"at the last selection: {report.selected}\ncoverage of auto's bound over [t+3600 s, t+7200 s]" in table
    assert table.splitlines()[-1].startswith("0.95 ")


def test_every_registered_model_runs_on_a_short_series() -> None:
    # one BLAS/OpenMP thread, as in the adapter's workers: two contend badly on a small machine
    with threadpool_limits(1):
        report = run_backtest(daily(2.5, step=1800.0), name="t", lead_seconds=300, max_origins=2)
    assert [model.name for model in report.models] == [*MODEL_FACTORIES, AUTO]
    assert all(np.isfinite(model.mae) for model in report.models)


def test_a_backtest_in_worker_processes_equals_the_serial_one() -> None:
    from forecasting.models.arima import Arima

    series = daily(4, step=1800.0)
    factories: dict[str, Callable[[], Model]] = {**BASELINES, Arima.name: Arima}
    serial, parallel = (run_backtest(series, name="t", lead_seconds=HOUR, factories=factories, max_origins=40,
                                     workers=workers) for workers in (1, 2))
    assert parallel.to_json() == serial.to_json()
    assert parallel.selections == serial.selections
    for name, points in serial.points.items():
        np.testing.assert_array_equal(parallel.points[name], points)
