"""Conformal calibration of the served bound: on a daily cycle with known noise, a model whose own
interval is far too narrow serves a bound that holds about as often as its quantile says; the scores
are kept in bounded memory, the model's own bound is served until enough are known, and the state
survives pickling into a worker."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from typing import Self

import numpy as np
import pytest

from forecasting.calibration import MIN_RESIDUALS, SPAN_SECONDS, ConformalBound
from forecasting.core import DAY_SECONDS, Forecast, NotFitted, Series
from forecasting.pipeline import SeriesForecaster
from forecasting.plan import Plan, StepOutcome
from forecasting.schedule import Schedule

from .test_pipeline import _WideAbove, same

STEP = 300.0
LEAD, WINDOW = 3, 5
HISTORY_DAYS = 2
SCHEDULE = Schedule(history_seconds=HISTORY_DAYS * DAY_SECONDS)


def level(times: np.ndarray) -> np.ndarray:
    return 100 + 40 * np.sin(2 * np.pi * times / DAY_SECONDS)


def cycle(days: float, noise: Callable[[np.random.Generator, int], np.ndarray], *, seed: int = 0) -> Series:
    """A daily sine plus ``noise`` at a 5-minute step."""
    count = round(days * DAY_SECONDS / STEP)
    times = STEP * np.arange(count)
    return Series(level(times) + noise(np.random.default_rng(seed), count), STEP, 0.0)


def gaussian(generator: np.random.Generator, count: int) -> np.ndarray:
    return generator.normal(0.0, 5.0, count)


def heavy_tailed(generator: np.random.Generator, count: int) -> np.ndarray:
    return 3.0 * generator.standard_t(3, count)


class KnownCycle:
    """Knows the sine exactly, but takes the noise for a tenth of what it is: its own bound is the
    mean plus half a unit, far too narrow for the max of six noisy steps."""

    name = "known-cycle"

    def __init__(self) -> None:
        self._end: float | None = None

    def fit(self, series: Series) -> Self:
        self._end = series.end
        return self

    def update(self, series: Series) -> Self:
        return self.fit(series)

    def predict(self, horizon: int, *, quantile: float = 0.9) -> Forecast:
        if self._end is None:
            raise NotFitted(self.name)
        mean = level(self._end + STEP * np.arange(1, horizon + 1))
        return Forecast(self.name, self._end + STEP, STEP, mean, mean - 0.5, mean + 0.5, quantile)


def walk(series: Series, plan: Plan, quantiles: Sequence[float], *, first: int) -> list[tuple[StepOutcome, ...]]:
    """The forecaster stepped at every step of ``series`` from ``first``, as the tracker steps it."""
    forecaster = SeriesForecaster(plan, factories={KnownCycle.name: KnownCycle})
    history = series.steps_per(SCHEDULE.history_seconds)
    stepped = []
    for end in range(first, len(series) + 1):
        seen = Series(series.values[max(0, end - history) : end], STEP, max(0, end - history) * STEP)
        outcomes, fork = forecaster.step_quantiles(seen, now=seen.end + STEP, quantiles=quantiles)
        assert fork is None
        stepped.append(outcomes)
    return stepped


def coverage(series: Series, stepped: list[tuple[StepOutcome, ...]], index: int, *, first: int) -> float:
    """The share of windows whose realised max was at or under the bound served at ``index``."""
    held = []
    for offset, outcomes in enumerate(stepped):
        end = first + offset  # the forecast was made with the values before ``end``
        if end + LEAD + WINDOW > len(series) or outcomes[index].forecast is None:
            continue
        forecast = outcomes[index].forecast
        assert forecast is not None
        bound = forecast.upper[LEAD - 1 : LEAD + WINDOW].max()
        held.append(series.values[end - 1 + LEAD : end + LEAD + WINDOW].max() <= bound)
    return float(np.mean(held))


QUANTILES = (0.8, 0.9, 0.95)


@pytest.mark.parametrize("noise", [gaussian, heavy_tailed])
def test_the_calibrated_bound_holds_as_often_as_its_quantile_where_the_models_own_does_not(
    noise: Callable[[np.random.Generator, int], np.ndarray],
) -> None:
    series = cycle(10, noise)
    first = series.steps_per(HISTORY_DAYS * DAY_SECONDS)
    stepped = {calibration: walk(series, Plan(lead_steps=LEAD, window_steps=WINDOW, schedule=SCHEDULE,
                                              calibration=calibration), QUANTILES, first=first)
               for calibration in ("none", "conformal")}
    # the first day of calibration is not scored: it is learning
    scored = series.steps_per(DAY_SECONDS)
    for index, quantile in enumerate(QUANTILES):
        own = coverage(series, stepped["none"][scored:], index, first=first + scored)
        calibrated = coverage(series, stepped["conformal"][scored:], index, first=first + scored)
        assert own < quantile - 0.3, (quantile, own)
        assert abs(calibrated - quantile) < 0.03, (quantile, calibrated)


def test_the_model_bound_is_served_until_enough_windows_are_scored() -> None:
    series = cycle(3, gaussian)
    first = series.steps_per(DAY_SECONDS)
    plan = Plan(lead_steps=LEAD, window_steps=WINDOW, schedule=SCHEDULE, calibration="conformal")
    stepped = walk(series, plan, (0.9, 0.99), first=first)
    # a window is scored once its last step is known, L + H steps after it was served
    calibrated_from = MIN_RESIDUALS - 1 + LEAD + WINDOW
    for outcomes in stepped[:calibrated_from]:
        forecast = outcomes[0].forecast
        assert forecast is not None
        np.testing.assert_array_equal(forecast.upper, forecast.mean + 0.5)
        assert not any("conformal" in note for note in forecast.notes)
    at_90 = stepped[calibrated_from][0].forecast
    assert at_90 is not None and "conformal bound from 30 windows" in at_90.notes
    assert (at_90.upper > at_90.mean + 1.0).all()
    # the rank ceil((n + 1) 0.99) needs 99 scores: until then p99 is the model's own
    rank_known = calibrated_from + 99 - MIN_RESIDUALS
    at_99 = [outcomes[1].forecast for outcomes in stepped[rank_known - 1 : rank_known + 1]]
    assert at_99[0] is not None and at_99[1] is not None
    np.testing.assert_array_equal(at_99[0].upper, at_99[0].mean + 0.5)
    assert (at_99[1].upper > at_99[1].mean + 1.0).all()


def test_the_scores_are_kept_in_bounded_memory() -> None:
    series = cycle(10, gaussian)
    bound = ConformalBound(LEAD, WINDOW)
    model = KnownCycle()
    day = series.steps_per(DAY_SECONDS)
    sizes = []
    for end in range(day, len(series) + 1):
        seen = Series(series.values[:end], STEP, 0.0)
        bound.observe(seen)
        bound.record(model.fit(seen).predict(LEAD + WINDOW), seen.end)
        sizes.append(len(pickle.dumps(bound)))
    ring = series.steps_per(SPAN_SECONDS)
    assert len(sizes) > 2 * ring + 2 * day and bound.residuals == ring
    # full after SPAN_SECONDS of windows; the two days after it add less than a score per window
    assert sizes[-1] - sizes[-1 - 2 * day] < 2 * day


def test_a_forecast_made_twice_at_one_moment_is_scored_once() -> None:
    series = cycle(2, gaussian)
    bound = ConformalBound(LEAD, WINDOW)
    model = KnownCycle()
    for end in range(MIN_RESIDUALS, MIN_RESIDUALS + 20):
        seen = Series(series.values[:end], STEP, 0.0)
        for _ in range(2):  # the tracker may step twice before the next point arrives
            bound.observe(seen)
            bound.record(model.fit(seen).predict(LEAD + WINDOW), seen.end)
    assert bound.residuals == 20 - LEAD - WINDOW


def test_a_forecaster_pickled_into_another_process_serves_the_same_bound() -> None:
    series = cycle(3, gaussian)
    plan = Plan(lead_steps=LEAD, window_steps=WINDOW, schedule=SCHEDULE, calibration="conformal")
    forecaster = SeriesForecaster(plan, factories={KnownCycle.name: KnownCycle})
    start = series.steps_per(DAY_SECONDS)
    for end in range(start, start + MIN_RESIDUALS + LEAD + WINDOW + 5):
        forecaster.step(series.head(end), now=end * STEP)
    copied = pickle.loads(pickle.dumps(forecaster))
    for end in range(start + MIN_RESIDUALS + LEAD + WINDOW + 5, start + MIN_RESIDUALS + LEAD + WINDOW + 10):
        original, restored = forecaster.step(series.head(end), now=end * STEP), copied.step(series.head(end), now=end * STEP)
        assert original.forecast is not None and any("conformal" in note for note in original.forecast.notes)
        assert same(original, restored)


def test_quantiles_parted_by_the_guard_are_calibrated_as_one_forecaster_per_quantile_would() -> None:
    series = Series(100 + np.sin(np.arange(900) / 30.0) + np.random.default_rng(2).normal(0, 0.5, 900), 60.0, 0.0)
    quantiles = (0.7, 0.8, 0.9, 0.95)
    hour = 3600.0

    def chosen(quantile: float) -> SeriesForecaster:
        plan = Plan(lead_steps=LEAD, window_steps=WINDOW, quantile=quantile, schedule=Schedule(refit_every_seconds=hour),
                    calibration="conformal")
        forecaster = SeriesForecaster(plan, factories={"wide": _WideAbove})
        forecaster._known = "wide"  # noqa: SLF001 - as if selection picked it
        return forecaster

    apart = {quantile: chosen(quantile) for quantile in quantiles}
    groups = [(chosen(0.9), quantiles)]
    calibrated = 0
    for end in range(600, 680):
        now, given = end * 60.0, series.head(end)
        expected = {quantile: forecaster.step(given, now=now) for quantile, forecaster in apart.items()}
        stepped = []
        for forecaster, members in groups:
            outcomes, fork = forecaster.step_quantiles(given, now=now, quantiles=members)
            for quantile, outcome in zip(members, outcomes, strict=True):
                assert same(outcome, expected[quantile]), (end, quantile)
                assert outcome.forecast is not None
                calibrated += any("conformal" in note for note in outcome.forecast.notes)
            replaced = tuple(q for q, outcome in zip(members, outcomes, strict=True) if outcome.fallback_reason)
            kept = tuple(q for q in members if q not in replaced)
            stepped += [(forecaster, kept), (fork, replaced)] if fork is not None else [(forecaster, members)]
        groups = stepped
    assert sorted(len(members) for _, members in groups) == [2, 2] and calibrated > 0


def test_a_plan_names_an_unknown_calibration() -> None:
    with pytest.raises(ValueError, match=r"calibration must be one of conformal, none, not 'isotonic'"):
        Plan(lead_steps=LEAD, window_steps=WINDOW, calibration="isotonic")  # type: ignore[arg-type]
