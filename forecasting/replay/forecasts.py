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
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from forecasting.core import FloatArray, Model, Series, steps_for
from forecasting.pipeline import SeriesForecaster
from forecasting.plan import Plan, StepOutcome
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


class WalkForwardForecast:
    def __init__(self, rates: FloatArray, *, step_seconds: float, start: float, lead_seconds: float,
                 window_seconds: float, quantile: float = 0.9, schedule: Schedule = DEFAULT_SCHEDULE,
                 factories: Mapping[str, Callable[[], Model]] = MODEL_FACTORIES) -> None:
        self._rates = rates
        self._step = step_seconds
        self._start = start
        self._lead = lead_seconds
        self._window = window_seconds
        self._history = max(1, round(schedule.history_seconds / step_seconds))
        plan = Plan(lead_steps=steps_for(lead_seconds, step_seconds), window_steps=steps_for(window_seconds, step_seconds),
                    slack_steps=SLACK_STEPS, quantile=quantile, schedule=schedule)
        self._forecaster = SeriesForecaster(plan, factories=factories)
        self._completed = -1
        self._outcome: StepOutcome | None = None
        self.steps_run = 0
        """How many times the forecaster was stepped (each a select, refit or update)."""

    def at(self, now: float) -> ForecastReading | None:
        """The forecast served at ``now``; None while the series is warming up (the adapter then
        serves the current value)."""
        completed = min(math.floor((now - self._start) / self._step + 1e-9), len(self._rates))
        if completed != self._completed:
            self._completed, self._outcome = completed, self._step_to(completed)
        outcome = self._outcome
        if outcome is None or outcome.forecast is None:
            return None
        forecast = outcome.forecast
        begin, end = now + self._lead, now + self._lead + self._window
        times = forecast.times()
        inside = (times >= begin - 1e-9) & (times <= end + 1e-9)
        mean = float(forecast.mean[inside].max()) if inside.any() else float(forecast.mean[-1])
        return ForecastReading(max(forecast.upper_over(begin, end), 0.0), max(mean, 0.0), outcome.model)

    def _step_to(self, completed: int) -> StepOutcome | None:
        if completed <= 0:
            return None
        first = max(0, completed - self._history)
        series = Series(self._rates[first:completed], self._step, self._start + first * self._step)
        self.steps_run += 1
        return self._forecaster.step(series, now=self._start + completed * self._step)
