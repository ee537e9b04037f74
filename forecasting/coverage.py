"""How often the served bound held: the adapter's forecaster stepped at every step over the later
part of a series, and the share of windows whose realised max over ``[t + L, t + L + H]`` was at or
under the bound served at ``t``, with the model's own bound and with the conformal one.

One walk gives both: the forecaster calibrates as the adapter's does with ``forecasts.calibration:
conformal``, and says what the model's own bound was where it replaced it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import TypedDict

import numpy as np

from forecasting.ahead import WalkAhead
from forecasting.core import DAY_SECONDS, Forecast, Model, Series
from forecasting.pipeline import SeriesForecaster
from forecasting.plan import Plan
from forecasting.schedule import Schedule
from forecasting.selection import window

COVERAGE_QUANTILES = (0.8, 0.9, 0.95)
"""The quantiles whose coverage is reported, besides the one a report is made at."""
WARM_UP_SECONDS = DAY_SECONDS
"""The walk starts this long before the first scored window, so that it has selected and fitted as
an adapter that has run for a day has."""


class QuantileCoverageJson(TypedDict):
    quantile: float
    model: float
    conformal: float
    model_bound_ratio: float
    conformal_bound_ratio: float


class CoverageJson(TypedDict):
    lead_seconds: int
    window_seconds: int
    windows: int
    quantiles: list[QuantileCoverageJson]


@dataclass(frozen=True)
class QuantileCoverage:
    """Coverage at one quantile: the share of windows the bound held, and what it cost."""

    quantile: float
    model: float
    """Share of windows at or under the model's own bound."""
    conformal: float
    """Share of windows at or under the conformal bound."""
    model_bound_ratio: float
    """Mean of the model's bound over the mean realised max: the headroom it served."""
    conformal_bound_ratio: float

    def to_json(self) -> QuantileCoverageJson:
        return QuantileCoverageJson(quantile=self.quantile, model=self.model, conformal=self.conformal,
                                    model_bound_ratio=self.model_bound_ratio,
                                    conformal_bound_ratio=self.conformal_bound_ratio)


@dataclass(frozen=True)
class Coverage:
    """The coverage of ``auto``'s served bound, at each quantile, over the same windows."""

    lead_seconds: float
    window_seconds: float
    windows: int
    """Windows scored: every step from the first origin whose window has passed and is known."""
    quantiles: tuple[QuantileCoverage, ...]

    def to_json(self) -> CoverageJson:
        return CoverageJson(lead_seconds=round(self.lead_seconds), window_seconds=round(self.window_seconds),
                            windows=self.windows, quantiles=[row.to_json() for row in self.quantiles])

    def lines(self) -> list[str]:
        """The coverage table for a terminal."""
        end = self.lead_seconds + self.window_seconds
        heading = f"coverage of auto's bound over [t+{self.lead_seconds:g} s, t+{end:g} s], {self.windows} windows"
        lines = [heading, f"{'quantile':<10}{'held: model':>12}{'conformal':>11}{'bound/actual: model':>21}{'conformal':>11}"]
        lines += [f"{row.quantile:<10g}{row.model:>12.1%}{row.conformal:>11.1%}{row.model_bound_ratio:>21.3f}"
                  f"{row.conformal_bound_ratio:>11.3f}" for row in self.quantiles]
        return lines


@dataclass
class _Group:
    """A forecaster and the quantiles (by index) it serves."""

    forecaster: SeriesForecaster
    members: tuple[int, ...]


def walk_coverage(
    series: Series,
    *,
    lead_steps: int,
    window_steps: int,
    first: int,
    quantiles: Sequence[float],
    factories: Mapping[str, Callable[[], Model]],
    schedule: Schedule,
    under_weight: float,
    pool: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Coverage:
    """Step the forecaster at every step of :func:`walk_steps` and score the windows served from
    index ``first`` on, at each of ``quantiles``; ``progress(done, total)`` after each step. Given
    a ``pool``, the walk's selections and refits are made ahead in it (see :mod:`forecasting.ahead`)."""
    plan = Plan(lead_steps=lead_steps, window_steps=window_steps, quantile=quantiles[0], under_weight=under_weight,
                schedule=schedule, calibration="conformal")
    history = series.steps_per(schedule.history_seconds)
    steps = walk_steps(series, lead_steps=lead_steps, window_steps=window_steps, first=first)
    forecaster = SeriesForecaster(plan, factories=factories)
    if pool is not None:
        ahead = WalkAhead(pool, plan, factories, ((series.start + (origin + 1) * series.step_seconds,
                                                   partial(window, series, max(0, origin + 1 - history), origin + 1))
                                                  for origin in steps))
        forecaster = SeriesForecaster(plan, factories=factories, selector=ahead.select, fitter=ahead.fit,
                                      walker=ahead.walked)
    groups = [_Group(forecaster, tuple(range(len(quantiles))))]
    last = steps.stop - 1
    # the model's bound and the conformal one, by quantile and scored origin
    model, conformal = np.full((2, len(quantiles), max(0, last + 1 - first)), np.nan)
    for done, origin in enumerate(steps, start=1):
        seen = window(series, max(0, origin + 1 - history), origin + 1)
        stepped: list[_Group] = []
        for group in groups:
            served, parted = _advance(group, seen, quantiles, plan)
            stepped += parted
            for index, (own, calibrated) in served.items():
                if origin >= first:
                    model[index, origin - first], conformal[index, origin - first] = own, calibrated
        groups = stepped
        if progress is not None:
            progress(done, len(steps))
    spans = np.arange(first, last + 1)[:, None] + np.arange(lead_steps, lead_steps + window_steps + 1)
    realised = _known_max(series.values[spans]) if spans.size else np.empty(0)
    scored = np.isfinite(realised) & np.isfinite(model).all(axis=0)
    rows = []
    for index, quantile in enumerate(quantiles):
        (own, own_ratio), (calibrated, ratio) = _held(model[index], realised, scored), _held(conformal[index], realised, scored)
        rows.append(QuantileCoverage(quantile, own, calibrated, own_ratio, ratio))
    return Coverage(lead_steps * series.step_seconds, window_steps * series.step_seconds, int(scored.sum()), tuple(rows))


def walk_steps(series: Series, *, lead_steps: int, window_steps: int, first: int) -> range:
    """The indices the walk steps at: from a day before ``first`` to the last whose window has
    passed."""
    return range(max(0, first - series.steps_per(WARM_UP_SECONDS)), len(series) - lead_steps - window_steps)


def _advance(group: _Group, seen: Series, quantiles: Sequence[float],
             plan: Plan) -> tuple[dict[int, tuple[float, float]], list[_Group]]:
    """One step of ``group`` on ``seen``: the window max of the model's bound and of the conformal
    one by quantile index, and the groups that go on (two when the guard parts the quantiles)."""
    outcomes, fork = group.forecaster.step_quantiles(seen, now=seen.end + seen.step_seconds,
                                                     quantiles=[quantiles[index] for index in group.members])
    served = {
        index: (_window_max(outcome.forecast if outcome.uncalibrated is None else outcome.uncalibrated, plan),
                _window_max(outcome.forecast, plan))
        for index, outcome in zip(group.members, outcomes, strict=True) if outcome.forecast is not None
    }
    if fork is None:
        return served, [group]
    replaced = tuple(index for index, outcome in zip(group.members, outcomes, strict=True) if outcome.fallback_reason)
    return served, [_Group(group.forecaster, tuple(i for i in group.members if i not in replaced)),
                    _Group(fork, replaced)]


def _window_max(forecast: Forecast, plan: Plan) -> float:
    """What the adapter serves from ``forecast``: its largest upper bound over the window, at least 0."""
    return max(float(forecast.upper[plan.lead_steps - 1 : plan.lead_steps + plan.window_steps].max()), 0.0)


def _known_max(values: np.ndarray) -> np.ndarray:
    """The max of each row's known values; NaN where a row has none."""
    known = np.isfinite(values)
    return np.where(known.any(axis=1), np.where(known, values, -np.inf).max(axis=1), np.nan)


def _held(bound: np.ndarray, realised: np.ndarray, scored: np.ndarray) -> tuple[float, float]:
    """The share of scored windows at or under ``bound``, and its mean over the realised mean."""
    if not scored.any():
        return float("nan"), float("nan")
    actual = float(realised[scored].mean())
    ratio = float(bound[scored].mean()) / actual if actual > 0 else float("nan")
    return float((realised[scored] <= bound[scored]).mean()), ratio
