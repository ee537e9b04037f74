"""``requests_per_second_forecast`` as the adapter would serve it, made walk-forward on the trace.

The adapter's tracker steps a :class:`~forecasting.pipeline.SeriesForecaster` over the history it
keeps (select, refit or update as the schedule says) and serves the upper bound over
``[now + lead, now + lead + window]``, or the current value while the series is warming up. Here
the same forecaster is stepped at the tracker's step, on the steps completed before the moment the
HPA reads the metric — never a later one — and at most once per step: an HPA that syncs several
times within a step reads the same forecast, as it would between two tracker steps.

The tracker's history is the signal's rate sampled at its step (one minute by default), so a trace
recorded every second or every few seconds is seen as its mean rate over each tracker step (see
:func:`as_tracked`), not as per-second counts whose noise no HPA metric carries. A trace with a
longer step is seen at its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np

from forecasting.ahead import WalkAhead
from forecasting.core import FloatArray, InputError, Model, Series, steps_for
from forecasting.pipeline import SeriesForecaster
from forecasting.plan import DEFAULT_CALIBRATION, Calibration, Plan, StepOutcome
from forecasting.registry import MODEL_FACTORIES
from forecasting.schedule import DEFAULT_SCHEDULE, Schedule

SLACK_STEPS = 1
"""A forecast is read until the next step completes, so it covers one step more than L + H."""


def as_tracked(rates: FloatArray, step_seconds: float, tracker_step_seconds: float) -> tuple[FloatArray, float]:
    """``rates`` as the tracker would hold them, and their step: means over consecutive runs of
    whole trace steps that span the tracker's step (NaN where a run has no known value; a last,
    incomplete run is left out), or ``rates`` unchanged when the trace's step is not shorter."""
    size = round(tracker_step_seconds / step_seconds)
    if size <= 1:
        return rates, step_seconds
    return block_means(rates[: rates.shape[0] // size * size], size), size * step_seconds


def tracked_history(rates: FloatArray, step_seconds: float, tracker_step_seconds: float,
                    peak_seconds: float | None) -> tuple[FloatArray, float]:
    """What the forecaster is fitted on: the mean rate per tracker step (:func:`as_tracked`), or
    its peak over ``peak_seconds`` (:func:`as_tracked_peaks`)."""
    if peak_seconds is None:
        return as_tracked(rates, step_seconds, tracker_step_seconds)
    return as_tracked_peaks(rates, step_seconds, tracker_step_seconds, peak_seconds)


def as_tracked_peaks(rates: FloatArray, step_seconds: float, tracker_step_seconds: float,
                     peak_seconds: float) -> tuple[FloatArray, float]:
    """The peak-aware history: for each tracker step, the highest mean rate over ``peak_seconds``
    within it (the short-window rate a burst drives up), where the trace is fine enough to show
    one. Raises InputError where it is not: a peak window must hold whole trace steps and fit
    several times in a tracker step."""
    per_peak = round(peak_seconds / step_seconds)
    per_step = round(tracker_step_seconds / peak_seconds)
    if per_peak < 1 or abs(per_peak * step_seconds - peak_seconds) > 1e-9 or per_step < 2 \
            or abs(per_step * peak_seconds - tracker_step_seconds) > 1e-9:
        raise InputError(f"a peak window of {peak_seconds:g} s needs a trace step that divides it "
                         f"({step_seconds:g} s here) and must divide the forecast step ({tracker_step_seconds:g} s) "
                         f"at least twice")
    peaks = block_means(rates[: rates.shape[0] // (per_peak * per_step) * per_peak * per_step], per_peak)
    blocks = peaks.reshape(-1, per_step)
    highest = np.where(np.isfinite(blocks), blocks, -np.inf).max(axis=1)
    return np.where(np.isfinite(highest), highest, np.nan), tracker_step_seconds


def block_means(values: FloatArray, size: int) -> FloatArray:
    """Means of ``size`` consecutive values (the last block may be shorter), ignoring NaN; NaN
    where a block has no known value."""
    count = math.ceil(values.shape[0] / size)
    padded = np.full(count * size, np.nan)
    padded[: values.shape[0]] = values
    blocks = padded.reshape(count, size)
    known = np.isfinite(blocks)
    counts = known.sum(axis=1)
    means: FloatArray = np.full(count, np.nan)
    np.divide(np.where(known, blocks, 0.0).sum(axis=1), counts, out=means, where=counts > 0)
    return means


@dataclass(frozen=True)
class ForecastReading:
    upper: float
    """What the forecast metric serves: the largest upper bound over the window, at least 0."""
    mean: float
    model: str | None


class ServedForecast(Protocol):
    def at(self, now: float) -> ForecastReading | None:
        """The forecast served at ``now``; None while the series is warming up."""


class WalkForwardForecasts:
    """The walk-forward forecast at several quantiles, from one fit or update per step: each
    quantile reads what a :class:`WalkForwardForecast` with it would (see
    :meth:`SeriesForecaster.step_quantiles`).

    Given a ``pool``, the selections and refits of a walk read from ``first_read`` on are made
    ahead in it (see :mod:`forecasting.ahead`); the forecasts are the same.
    """

    def __init__(self, rates: FloatArray, *, step_seconds: float, start: float, lead_seconds: float,
                 window_seconds: float, quantiles: Sequence[float], schedule: Schedule = DEFAULT_SCHEDULE,
                 calibration: Calibration = DEFAULT_CALIBRATION,
                 factories: Mapping[str, Callable[[], Model]] = MODEL_FACTORIES,
                 pool: Executor | None = None, first_read: float | None = None) -> None:
        self._rates = rates
        self._step = step_seconds
        self._start = start
        self._lead = lead_seconds
        self._window = window_seconds
        self.quantiles = tuple(quantiles)
        self._history_steps = max(1, round(schedule.history_seconds / step_seconds))
        plan = Plan(lead_steps=steps_for(lead_seconds, step_seconds), window_steps=steps_for(window_seconds, step_seconds),
                    slack_steps=SLACK_STEPS, quantile=self.quantiles[0], schedule=schedule, calibration=calibration)
        forecaster = SeriesForecaster(plan, factories=factories)
        if pool is not None:
            first = max(1, self._completed(start if first_read is None else first_read))
            ahead = WalkAhead(pool, plan, factories, ((start + completed * step_seconds, partial(self._history, completed))
                                                      for completed in range(first, len(rates) + 1)))
            forecaster = SeriesForecaster(plan, factories=factories, selector=ahead.select, fitter=ahead.fit,
                                          walker=ahead.walked)
        self._groups: list[tuple[SeriesForecaster, tuple[int, ...]]] = [(forecaster, tuple(range(len(self.quantiles))))]
        """Forecasters and the quantiles (by index) each steps: one until the guard parts them."""
        self._stepped_to = -1
        self._outcomes: list[StepOutcome | None] = [None] * len(self.quantiles)
        self.steps_run = 0
        """How many times the forecast was stepped (each a select, refit or update)."""

    def at(self, now: float) -> tuple[ForecastReading, ...] | None:
        """The forecast served at ``now`` at each quantile; None while the series is warming up
        (the adapter then serves the current value)."""
        completed = self._completed(now)
        if completed != self._stepped_to:
            self._stepped_to = completed
            self._step_to(completed)
        if any(outcome is None or outcome.forecast is None for outcome in self._outcomes):
            return None
        begin, end = now + self._lead, now + self._lead + self._window
        return tuple(_reading(outcome, begin, end) for outcome in self._outcomes if outcome is not None)

    def _completed(self, now: float) -> int:
        """Steps completed by ``now``."""
        return min(math.floor((now - self._start) / self._step + 1e-9), len(self._rates))

    def _history(self, completed: int) -> Series:
        """What the tracker holds once ``completed`` steps are done."""
        first = max(0, completed - self._history_steps)
        return Series(self._rates[first:completed], self._step, self._start + first * self._step)

    def _step_to(self, completed: int) -> None:
        if completed <= 0:
            self._outcomes = [None] * len(self.quantiles)
            return
        series = self._history(completed)
        now = self._start + completed * self._step
        self.steps_run += 1
        groups = []
        for forecaster, members in self._groups:
            outcomes, fork = forecaster.step_quantiles(series, now=now, quantiles=[self.quantiles[i] for i in members])
            for index, outcome in zip(members, outcomes, strict=True):
                self._outcomes[index] = outcome
            if fork is None:
                groups.append((forecaster, members))
            else:
                replaced = tuple(i for i, outcome in zip(members, outcomes, strict=True) if outcome.fallback_reason)
                groups += [(forecaster, tuple(i for i in members if i not in replaced)), (fork, replaced)]
        self._groups = groups


def _reading(outcome: StepOutcome, begin: float, end: float) -> ForecastReading:
    forecast = outcome.forecast
    assert forecast is not None
    times = forecast.times()
    inside = (times >= begin - 1e-9) & (times <= end + 1e-9)
    mean = float(forecast.mean[inside].max()) if inside.any() else float(forecast.mean[-1])
    return ForecastReading(max(forecast.upper_over(begin, end), 0.0), max(mean, 0.0), outcome.model)


class WalkForwardForecast:
    """The walk-forward forecast at one quantile."""

    def __init__(self, rates: FloatArray, *, step_seconds: float, start: float, lead_seconds: float,
                 window_seconds: float, quantile: float = 0.9, schedule: Schedule = DEFAULT_SCHEDULE,
                 calibration: Calibration = DEFAULT_CALIBRATION,
                 factories: Mapping[str, Callable[[], Model]] = MODEL_FACTORIES,
                 pool: Executor | None = None, first_read: float | None = None) -> None:
        self._forecasts = WalkForwardForecasts(rates, step_seconds=step_seconds, start=start, lead_seconds=lead_seconds,
                                               window_seconds=window_seconds, quantiles=(quantile,), schedule=schedule,
                                               calibration=calibration, factories=factories, pool=pool,
                                               first_read=first_read)

    @property
    def steps_run(self) -> int:
        """How many times the forecaster was stepped (each a select, refit or update)."""
        return self._forecasts.steps_run

    def at(self, now: float) -> ForecastReading | None:
        """The forecast served at ``now``; None while the series is warming up (the adapter then
        serves the current value)."""
        readings = self._forecasts.at(now)
        return None if readings is None else readings[0]
