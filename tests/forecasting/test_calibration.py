"""Conformal calibration of the served bound: on a daily cycle with known noise, a model whose own
interval is far too narrow serves a bound that holds about as often as its quantile says; the scores
are those of the model's walk over the history, the same as scoring its windows one by one, so
forecasters started apart serve the same bound; they are kept in bounded memory, the model's own
bound is served until the history holds enough, and the state survives pickling into a worker."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from typing import Self

import numpy as np
import pytest

from forecasting.baselines import SeasonalNaive
from forecasting.calibration import MIN_RESIDUALS, SPAN_SECONDS, WINDOWS, ConformalBound
from forecasting.core import DAY_SECONDS, Forecast, NotFitted, Series
from forecasting.models.arima import Arima
from forecasting.pipeline import SeriesForecaster
from forecasting.plan import MIN_POINTS, Plan, StepOutcome
from forecasting.schedule import Schedule

from .test_pipeline import _WideAbove, same, same_forecast

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


def windows_scored(forecast: Forecast | None) -> int | None:
    """How many windows calibrated ``forecast``'s bound, from its note; None for the model's own."""
    assert forecast is not None
    return next((int(note.split()[3]) for note in forecast.notes if note.startswith("conformal bound from")), None)


def test_the_model_bound_is_served_until_the_history_holds_enough_windows() -> None:
    series = cycle(2, gaussian)
    plan = Plan(lead_steps=LEAD, window_steps=WINDOW, schedule=SCHEDULE, calibration="conformal")
    stepped = walk(series, plan, (0.9, 0.99), first=MIN_POINTS)
    for index, needed in ((0, MIN_RESIDUALS), (1, 99)):  # the rank ceil((n + 1) 0.99) needs 99 scores
        counts = [windows_scored(outcomes[index].forecast) for outcomes in stepped]
        calibrated_from = next(step for step, count in enumerate(counts) if count is not None)
        # the history gains a window at a time: the first calibrated bound has just enough
        assert counts[calibrated_from] == needed
        for outcomes in stepped[:calibrated_from]:
            forecast = outcomes[index].forecast
            assert forecast is not None
            np.testing.assert_array_equal(forecast.upper, forecast.mean + 0.5)
        forecast = stepped[calibrated_from][index].forecast
        assert forecast is not None and (forecast.upper > forecast.mean + 1.0).all()


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
    assert len(sizes) > series.steps_per(SPAN_SECONDS) + 2 * day
    # the span's windows on the grid, less those not yet passed
    assert WINDOWS - 2 <= bound.residuals <= WINDOWS
    # full after SPAN_SECONDS of windows; the two days after it add less than a byte per step
    assert sizes[-1] - sizes[-1 - 2 * day] < 2 * day


def test_a_forecast_made_twice_at_one_moment_is_scored_once() -> None:
    series = cycle(2, gaussian)
    bound = ConformalBound(LEAD, WINDOW, history_seconds=DAY_SECONDS)  # a window at every step
    model = KnownCycle()
    for end in range(MIN_RESIDUALS, MIN_RESIDUALS + 20):
        seen = Series(series.values[:end], STEP, 0.0)
        for _ in range(2):  # the tracker may step twice before the next point arrives
            bound.observe(seen)
            bound.record(model.fit(seen).predict(LEAD + WINDOW), seen.end)
    assert bound.residuals == 20 - LEAD - WINDOW


def served_bounds(bound: ConformalBound, forecast: Forecast) -> list[np.ndarray]:
    return [bound.adjusted(forecast, quantile=quantile).upper for quantile in (0.5, 0.8, 0.9, 0.95, 0.99)]


def test_a_filled_ring_holds_what_scoring_the_same_windows_one_by_one_does() -> None:
    series = cycle(5, heavy_tailed)
    filled_at = series.steps_per(4 * DAY_SECONDS)

    def served_at(index: int) -> Forecast:
        return KnownCycle().fit(series.head(index + 1)).predict(LEAD + WINDOW)

    one_by_one = ConformalBound(LEAD, WINDOW)
    filled = ConformalBound(LEAD, WINDOW)
    for end in range(1, len(series) + 1):
        seen = series.head(end)
        for bound in (one_by_one, filled) if end != filled_at else (one_by_one,):
            bound.observe(seen)
            bound.record(served_at(end - 1), seen.end)
        if end == filled_at:  # whatever it held before is replaced
            filled.fill(seen, served_at)
        if end >= filled_at:
            assert filled.residuals == one_by_one.residuals >= WINDOWS - 2
            for calibrated, expected in zip(served_bounds(filled, served_at(end - 1)),
                                            served_bounds(one_by_one, served_at(end - 1)), strict=True):
                np.testing.assert_array_equal(calibrated, expected)


def test_the_walk_skips_what_no_step_would_have_served() -> None:
    series = cycle(4, gaussian)
    bound = ConformalBound(LEAD, WINDOW)
    bound.fill(series, lambda index: None)
    assert bound.residuals == 0


def test_forecasters_started_apart_or_stepped_late_serve_the_same_calibrated_bound_from_the_same_history() -> None:
    series = cycle(4, heavy_tailed, seed=3)
    plan = Plan(lead_steps=LEAD, window_steps=WINDOW, schedule=SCHEDULE, calibration="conformal")
    factories = {SeasonalNaive.name: SeasonalNaive, Arima.name: Arima}
    # as the tracker keeps it: the history, and the hours back to the last selection deadline
    kept = series.steps_per(SCHEDULE.history_seconds + SCHEDULE.select_every_seconds)
    first = series.steps_per(3 * DAY_SECONDS)
    later = first + 40  # between two hourly refits
    running, restarted, late = (SeriesForecaster(plan, factories=factories) for _ in range(3))
    for end in range(first, later + 30):
        seen = Series(series.values[end - kept : end], STEP, (end - kept) * STEP)
        outcome = running.step(seen, now=seen.end + STEP)
        # one that misses steps (passes that overran their tick) walks the windows it missed
        for other in [restarted] * (end >= later) + [late] * (end % 5 == 0):
            again = other.step(seen, now=seen.end + STEP)
            assert outcome.forecast is not None and windows_scored(outcome.forecast) is not None
            assert same_forecast(outcome.forecast, again.forecast), end
            assert same_forecast(outcome.uncalibrated, again.uncalibrated), end
            assert windows_scored(again.forecast) == windows_scored(outcome.forecast), end


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
        # six hours of history: a span of three, a window scored at every step
        plan = Plan(lead_steps=LEAD, window_steps=WINDOW, quantile=quantile,
                    schedule=Schedule(refit_every_seconds=hour, history_seconds=6 * hour), calibration="conformal")
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
