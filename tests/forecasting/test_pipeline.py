"""One series through time: warming up, select and fit once, update in between, refit on the
schedule (shifted by the series' phase), and the baseline when a model fails."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np

from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.core import Forecast, Series
from forecasting.pipeline import SeriesForecaster
from forecasting.plan import MIN_POINTS, Plan, StepOutcome
from forecasting.schedule import Schedule, phase_for

from .tiny_models import Rule, rule

STEP = 60.0
HOUR = 3600.0
BASELINES = {"persistence": Persistence, "seasonal_naive": SeasonalNaive}


def series(points: int = 600) -> Series:
    return Series(100 + np.sin(np.arange(points) / 30.0), STEP, 0.0)


def plan(**changes: float) -> Plan:
    return Plan(lead_steps=3, window_steps=5, schedule=Schedule(refit_every_seconds=HOUR), **changes)  # type: ignore[arg-type]


def test_too_few_points_is_warming_up() -> None:
    outcome = SeriesForecaster(plan(), factories=BASELINES).step(series(MIN_POINTS - 1), now=10 * HOUR)
    assert outcome.forecast is None and outcome.reason is not None and "warming" in outcome.reason


def until(now: float) -> Series:
    """The series as known at ``now``: its points up to the step before."""
    return series(round(now / STEP))


def test_selects_and_fits_once_then_updates_until_the_next_refit() -> None:
    forecaster = SeriesForecaster(plan(), factories=BASELINES)
    first = forecaster.step(until(10 * HOUR + 60), now=10 * HOUR + 60)
    assert first.selected and first.refitted and first.forecast is not None
    assert len(first.forecast) == plan().horizon
    minute_later = forecaster.step(until(10 * HOUR + 120), now=10 * HOUR + 120)
    assert not minute_later.selected and not minute_later.refitted
    next_hour = forecaster.step(until(11 * HOUR), now=11 * HOUR)
    assert next_hour.refitted and not next_hour.selected


def test_a_learned_model_is_refit_on_its_own_longer_period() -> None:
    """A learned model's fit costs four of ARIMA's and an hour's data hardly changes it: it is
    refit on the schedule's learned period, the statistical models hourly."""
    schedule = Schedule(refit_every_seconds=HOUR, learned_refit_every_seconds=3 * HOUR, select_every_seconds=24 * HOUR)
    refits = {}
    for name in ("mlp", "arima"):
        forecaster = SeriesForecaster(Plan(lead_steps=3, window_steps=5, schedule=schedule), known=name,
                                      factories={**BASELINES, name: rule(name, lambda values: float(values[-1]))})
        outcomes = [forecaster.step(until(now), now=now) for now in np.arange(10 * HOUR + 60, 16 * HOUR, HOUR)]
        assert {outcome.model for outcome in outcomes[1:]} == {name}  # seasonal naive stands in at first
        refits[name] = [outcome.refitted for outcome in outcomes[1:]]
    # the known model is first fit at 11:01, on the data up to the 9:00 deadline (learned) or 11:00
    assert refits == {"mlp": [True, True, False, False, True], "arima": [True] * 5}


def test_the_phase_moves_the_refit_deadline() -> None:
    shifted = SeriesForecaster(plan(phase_seconds=1800.0), factories=BASELINES)
    shifted.step(until(10 * HOUR + 1860), now=10 * HOUR + 1860)  # fitted at 10:31
    assert not shifted.step(until(11 * HOUR + 60), now=11 * HOUR + 60).refitted  # its deadlines are at :30
    assert shifted.step(until(11 * HOUR + 1800), now=11 * HOUR + 1800).refitted


class _FittedLevel:
    """Forecasts the mean of what it was fit on, plus the last value it was updated with: its
    forecast tells which history its fit saw."""

    name = "level"

    def __init__(self) -> None:
        self._level = 0.0
        self._series: Series | None = None

    def fit(self, given: Series) -> _FittedLevel:
        self._level, self._series = float(np.nanmean(given.values)), given
        return self

    def update(self, given: Series) -> _FittedLevel:
        self._series = given
        return self

    def predict(self, horizon: int, *, quantile: float = 0.9) -> Forecast:
        assert self._series is not None
        mean = np.full(horizon, self._level + float(self._series.values[-1]))
        return Forecast(self.name, self._series.end + STEP, STEP, mean, mean, mean * 1.1, quantile)


def test_a_forecaster_started_between_deadlines_holds_the_model_of_one_that_ran_all_along() -> None:
    """What two replicas that started at different moments serve from the same history."""
    factories = {**BASELINES, "level": _FittedLevel}
    along = SeriesForecaster(plan(), factories=factories)
    along._known = "level"  # noqa: SLF001 - as if selection had picked it
    for minute in range(0, 45):
        stepped = along.step(until(10 * HOUR + 60 * minute), now=10 * HOUR + 60 * minute)
    later = SeriesForecaster(plan(), factories=factories, known="level")
    later.step(until(10 * HOUR + 60 * 43), now=10 * HOUR + 60 * 43)  # seasonal naive stands in
    caught_up = later.step(until(10 * HOUR + 60 * 44), now=10 * HOUR + 60 * 44)
    assert caught_up.model == stepped.model == "level" and not caught_up.selected
    assert caught_up.forecast is not None and stepped.forecast is not None
    assert np.array_equal(caught_up.forecast.mean, stepped.forecast.mean)


def test_a_known_model_is_served_without_selection_after_seasonal_naive_stands_in_once() -> None:
    forecaster = SeriesForecaster(plan(), factories={**BASELINES, "level": _FittedLevel}, known="level")
    first = forecaster.step(until(10 * HOUR + 60), now=10 * HOUR + 60)
    assert (first.model, first.chosen, first.standing_in, first.selected) == ("seasonal_naive", "level", True, False)
    second = forecaster.step(until(10 * HOUR + 120), now=10 * HOUR + 120)
    assert (second.model, second.standing_in, second.selected, second.refitted) == ("level", False, False, True)


def test_a_known_model_whose_fit_is_put_off_leaves_seasonal_naive_serving_until_it_is_fit() -> None:
    forecaster = SeriesForecaster(plan(), factories={**BASELINES, "level": _FittedLevel}, known="level")
    steps = [forecaster.step(until(10 * HOUR + 60 * minute), now=10 * HOUR + 60 * minute, put_off_fit=put_off)
             for minute, put_off in ((1, False), (2, True), (3, False), (4, True))]
    assert [(outcome.model, outcome.standing_in) for outcome in steps] == [
        ("seasonal_naive", True), ("seasonal_naive", True), ("level", False), ("level", False)]
    assert not any(outcome.selected for outcome in steps)


def test_an_unknown_known_model_selects_as_usual() -> None:
    outcome = SeriesForecaster(plan(), factories=BASELINES, known="gone").step(until(10 * HOUR + 60), now=10 * HOUR + 60)
    assert outcome.selected and not outcome.standing_in


def test_a_failing_model_is_replaced_by_seasonal_naive_and_said_why() -> None:
    factories = {**BASELINES, "wild": rule("wild", lambda values: 1e9)}
    forecaster = SeriesForecaster(plan(), factories=factories)
    forecaster._known = "wild"  # noqa: SLF001 - as if selection had picked it
    outcome = forecaster.step(series(), now=10 * HOUR + 60)
    assert outcome.model == "seasonal_naive" and outcome.fallback_reason == "absurd"


def test_a_refused_forecast_keeps_its_model_until_the_next_deadline() -> None:
    """A fit is anchored at the last deadline: refitting after each refused forecast gave the same
    model again, at a fit's cost (and its calibration walk's) every step."""
    fits: list[float] = []

    def wild() -> Rule:
        model = Rule("wild", lambda values: 1e9)
        fit = model.fit
        model.fit = lambda history: (fits.append(history.end), fit(history))[1]  # type: ignore[method-assign]
        return model

    forecaster = SeriesForecaster(plan(), factories={**BASELINES, "wild": wild}, known="wild")
    outcomes = [forecaster.step(until(now), now=now) for now in np.arange(10 * HOUR + 60, 11 * HOUR + 120, 600)]
    assert {outcome.fallback_reason for outcome in outcomes[1:]} == {"absurd"}
    assert [outcome.refitted for outcome in outcomes[1:]] == [True] + [False] * 4 + [True]
    assert len(fits) == 2  # at 10:11 on the data to 10:00, and at 11:01 on the data to 11:00


def test_phases_spread_a_thousand_series_over_the_selection_period() -> None:
    schedule = Schedule()
    keys = [f"requests_per_second|inference|app=model-{index}" for index in range(1000)]
    phases = np.array([phase_for(key, schedule) for key in keys])
    # the same in every process (another replica), whatever its string-hash seed
    script = f"from forecasting.schedule import Schedule, phase_for; print(phase_for({keys[0]!r}, Schedule()))"
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert float(other.stdout) == phases[0]
    assert ((phases >= 0) & (phases < schedule.select_every_seconds)).all()
    per_hour = np.bincount((phases // 3600).astype(int), minlength=6)
    assert per_hour.min() > 1000 / 6 * 0.8, per_hour  # no hour of the cycle left with few selections


class _WideAbove:
    """Its upper bound is absurd above the 0.8 quantile, so the guard replaces only those; its
    mean counts the updates since its fit, to tell a refit from an update."""

    name = "wide"

    def __init__(self) -> None:
        self._series: Series | None = None
        self._updates = 0

    def fit(self, given: Series) -> _WideAbove:
        self._series, self._updates = given, 0
        return self

    def update(self, given: Series) -> _WideAbove:
        self._series, self._updates = given, self._updates + 1
        return self

    def predict(self, horizon: int, *, quantile: float = 0.9) -> Forecast:
        assert self._series is not None
        mean = np.full(horizon, float(self._series.values[-1]) + self._updates)
        upper = mean * (100.0 if quantile > 0.8 else 1.0 + quantile)
        return Forecast(self.name, self._series.end + STEP, STEP, mean, mean, upper, quantile)


def same(first: StepOutcome, second: StepOutcome) -> bool:
    return (same_forecast(first.forecast, second.forecast) and same_forecast(first.uncalibrated, second.uncalibrated)
            and replace(first, forecast=None, uncalibrated=None) == replace(second, forecast=None, uncalibrated=None))


def same_forecast(first: Forecast | None, second: Forecast | None) -> bool:
    if first is None or second is None:
        return first is second
    return all(np.array_equal(getattr(first, name), getattr(second, name)) for name in ("mean", "lower", "upper"))


def test_one_step_for_every_quantile_gives_what_one_forecaster_per_quantile_gives() -> None:
    factories = {**BASELINES, "wide": _WideAbove}
    quantiles = (0.7, 0.8, 0.9, 0.95)

    def chosen(forecaster: SeriesForecaster) -> SeriesForecaster:
        forecaster._known = "wide"  # noqa: SLF001 - as if selection picked it
        return forecaster

    apart = {quantile: chosen(SeriesForecaster(plan(quantile=quantile), factories=factories)) for quantile in quantiles}
    groups = [(chosen(SeriesForecaster(plan(), factories=factories)), quantiles)]
    for minute in range(1, 5):
        now, given = 10 * HOUR + 60 * minute, series(600 + minute)
        expected = {quantile: forecaster.step(given, now=now) for quantile, forecaster in apart.items()}
        stepped = []
        for forecaster, members in groups:
            outcomes, fork = forecaster.step_quantiles(given, now=now, quantiles=members)
            for quantile, outcome in zip(members, outcomes, strict=True):
                assert same(outcome, expected[quantile]), (minute, quantile)
            replaced = tuple(q for q, outcome in zip(members, outcomes, strict=True) if outcome.fallback_reason)
            kept = tuple(q for q in members if q not in replaced)
            stepped += [(forecaster, kept), (fork, replaced)] if fork is not None else [(forecaster, members)]
        groups = stepped
    assert sorted(len(members) for _, members in groups) == [2, 2]  # parted at the first step, for good
