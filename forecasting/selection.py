"""Model selection per series by rolling-origin backtest with an asymmetric loss.

Each candidate is fit once, at the start of the schedule's look-back, on the history before it;
then at each origin it is only updated with the data up to that origin and asked for a forecast,
which is scored over ``[t + lead, t + lead + window]``. That costs one fit per candidate, so
selection can re-run on the schedule without dominating a worker. Only ``series`` is read: the
forecast made at an origin never sees a value after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.core import (
    FloatArray,
    Forecast,
    ForecastError,
    Model,
    NotEnoughData,
    NotFitted,
    Series,
)
from forecasting.guard import screen
from forecasting.schedule import DEFAULT_SCHEDULE, Schedule

SIMPLEST_FIRST = (Persistence.name, SeasonalNaive.name)
"""Ties go to the simpler model: the baselines, then the candidates in the order given."""
SIMPLER_MARGIN = 0.03
"""A model replaces a simpler one only when its loss is lower by more than this share. Selection
scores a day of origins; differences smaller than this flip from one day to the next, and every
flip to a model that was only luckier costs accuracy (seen on the ServeGen and Alibaba traces)."""


@dataclass(frozen=True)
class AsymmetricLoss:
    """Mean weighted absolute error: a unit of under-forecast costs ``under_weight``, a unit of
    over-forecast ``over_weight``. Under-forecasting breaks the latency SLO while a new pod is
    starting; over-forecasting costs GPU-hours, so the default weighs the first three times as much
    (the loss is then minimised by the 75th percentile rather than the median)."""

    under_weight: float = 3.0
    over_weight: float = 1.0

    def __post_init__(self) -> None:
        if not (self.under_weight > 0 and self.over_weight > 0):
            raise ValueError(f"loss weights must be positive, not {self.under_weight!r}, {self.over_weight!r}")

    def __call__(self, actual: FloatArray, point: FloatArray) -> float:
        """The loss over the pairs with a known actual (NaN actuals are skipped); NaN if none."""
        known = np.isfinite(actual)
        if not known.any():
            return float("nan")
        error = actual[known] - point[known]
        weighted = np.where(error > 0, self.under_weight * error, -self.over_weight * error)
        return float(np.mean(weighted))


DEFAULT_LOSS = AsymmetricLoss()


@dataclass(frozen=True)
class Selection:
    """The chosen model, the loss of every candidate that could be scored, and why the others could
    not (a reason from :data:`forecasting.guard.REASONS`).

    ``lead_errors`` holds each scored candidate's mean absolute error at the lead, the error a
    served forecast is later measured by, so that its recent error can be judged against it."""

    name: str
    scores: Mapping[str, float]
    errors: Mapping[str, str]
    lead_errors: Mapping[str, float]


def window(series: Series, begin: int, end: int) -> Series:
    """The steps ``[begin, end)`` of ``series`` with their times."""
    return Series(series.values[begin:end], series.step_seconds, series.start + begin * series.step_seconds)


class Walk:
    """One model walked forward along a series: fit at an origin, then updated at later ones (or
    refit when the caller's schedule says so). Every forecast is screened by the guard."""

    def __init__(self, factory: Callable[[], Model], series: Series, *, quantile: float = 0.9) -> None:
        self._factory = factory
        self._series = series
        self._quantile = quantile
        self._model: Model | None = None
        self._failure: str | None = None
        self._start = 0

    def at(self, origin: int, horizon: int, *, refit_from: int | None = None) -> Forecast | str:
        """The forecast made at index ``origin`` from data up to it, or the reason there is none.

        With ``refit_from`` a new model is fit on ``[refit_from, origin]``; otherwise the last fit
        is updated with ``[refit_from of that fit, origin]``, or its failure repeated.
        """
        if refit_from is not None:
            self._start, self._model = refit_from, None
            seen = window(self._series, refit_from, origin + 1)
            result = screen(lambda: self._fit(seen).predict(horizon, quantile=self._quantile), seen)
            self._failure = result if self._model is None and isinstance(result, str) else None
            return result
        model = self._model
        if model is None:
            if self._failure is None:
                raise NotFitted("a walk starts with a fit")
            return self._failure
        seen = window(self._series, self._start, origin + 1)
        return screen(lambda: model.update(seen).predict(horizon, quantile=self._quantile), seen)

    def _fit(self, seen: Series) -> Model:
        self._model = self._factory().fit(seen)
        return self._model


def select(
    series: Series,
    *,
    factories: Mapping[str, Callable[[], Model]],
    lead_steps: int,
    window_steps: int = 0,
    schedule: Schedule = DEFAULT_SCHEDULE,
    loss: AsymmetricLoss = DEFAULT_LOSS,
) -> Selection:
    """The candidate with the lowest ``loss`` over the schedule's look-back at the end of
    ``series`` (at most half of it, so there is history to fit on).

    Raises NotEnoughData when the series is too short for one origin or no actual in the look-back
    is known, and ForecastError when every candidate failed.
    """
    if lead_steps < 1 or window_steps < 0:
        raise ValueError(f"lead_steps must be ≥ 1 and window_steps ≥ 0, not {lead_steps}, {window_steps}")
    origins = _origins(series, lead_steps + window_steps, schedule)
    targets = origins[:, None] + np.arange(lead_steps, lead_steps + window_steps + 1)
    actual = series.values[targets]
    if not np.isfinite(actual).any():
        raise NotEnoughData("no known value in the selection look-back")
    train_start = max(0, int(origins[0]) + 1 - series.steps_per(schedule.history_seconds))
    scores: dict[str, float] = {}
    errors: dict[str, str] = {}
    lead_errors: dict[str, float] = {}
    for name in _simplest_first(factories):
        walk = Walk(factories[name], series)
        points = np.empty_like(actual)
        for row, origin in enumerate(origins):
            result = walk.at(int(origin), lead_steps + window_steps, refit_from=train_start if row == 0 else None)
            if isinstance(result, str):
                errors[name] = result
                break
            # demand is never negative: score what would be served
            points[row] = np.maximum(result.mean[lead_steps - 1 :], 0.0)
        else:
            scores[name] = loss(actual.ravel(), points.ravel())
            at_lead = np.abs(actual[:, 0] - points[:, 0])
            lead_errors[name] = float(np.mean(at_lead[np.isfinite(at_lead)])) if np.isfinite(at_lead).any() else math.nan
    if not scores:
        raise ForecastError(f"every candidate failed: {errors}")
    best = min(scores.values())
    name = next(name for name, score in scores.items() if score <= best + SIMPLER_MARGIN * abs(best))
    return Selection(name, scores, errors, lead_errors)


def _origins(series: Series, horizon: int, schedule: Schedule) -> np.ndarray:
    """Origin indices evenly spaced over the look-back, the last one leaving ``horizon`` steps to
    score."""
    last = len(series) - 1 - horizon
    span = min(series.steps_per(schedule.selection_lookback_seconds), len(series) // 2, last)
    if span < 1:
        raise NotEnoughData(f"{len(series)} steps are too few to select at a horizon of {horizon} steps")
    count = min(schedule.selection_origins, span)
    return np.unique(np.round(np.linspace(last - span + 1, last, count)).astype(np.int64))


def _simplest_first(factories: Mapping[str, Callable[[], Model]]) -> list[str]:
    baselines = [name for name in SIMPLEST_FIRST if name in factories]
    return baselines + [name for name in factories if name not in SIMPLEST_FIRST]
