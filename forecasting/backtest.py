"""Walk-forward evaluation of every model, and of selection itself (``auto``), on one series.

At each origin ``t`` (evenly spaced over the later part of the series) each model forecasts
``t + lead`` from data up to ``t`` only. Models are refit on the adapter's schedule, on the
schedule's history before the origin, and updated between refits; the baselines cost nothing to
fit and see the whole past, so seasonal naive is the value a week earlier once two weeks are
known. ``auto`` re-selects on the schedule from the data up to then and serves its pick's
forecast. A forecast refused by the guard is replaced by seasonal naive's and counted.

Beside the errors at ``t + lead``, the report says how often the bound the adapter serves (the max
of ``auto``'s upper bound over ``[t + lead, t + lead + window]``) held, with the model's own bound
and with the conformal one (see :mod:`forecasting.coverage`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from forecasting.accuracy import mae, mase, naive_scale, pinball, under_forecast_rate
from forecasting.ahead import Task, workers_pool
from forecasting.baselines import Persistence, SeasonalNaive, season_for
from forecasting.core import (
    DAY_SECONDS,
    FloatArray,
    ForecastError,
    Model,
    NotEnoughData,
    Series,
    steps_for,
)
from forecasting.coverage import (
    COVERAGE_QUANTILES,
    Coverage,
    CoverageJson,
    walk_coverage,
    walk_steps,
)
from forecasting.pipeline import refit_every
from forecasting.registry import MODEL_FACTORIES
from forecasting.schedule import DEFAULT_SCHEDULE, Schedule, due
from forecasting.selection import DEFAULT_LOSS, AsymmetricLoss, Walk, select, window

AUTO = "auto"
MAX_ORIGINS = 300
"""Default bound on scored origins: enough for a stable mean error, few enough that a 1-minute
trace with every model refit on its schedule finishes within minutes."""
SCORED_SPAN_SECONDS = 2 * DAY_SECONDS
SCORED_SHARE = 0.3
"""Origins lie in the last two days or the last 30 % of the series, whichever is shorter, so the
models have most of the series as history at every origin."""
FULL_HISTORY = (Persistence.name, SeasonalNaive.name)
"""Models fit on everything before the origin rather than the schedule's history."""


class ModelJson(TypedDict):
    name: str
    mae: float
    mase: float
    pinball: float
    under_forecast_rate: float
    ratio_to_persistence: float
    ratio_to_seasonal_naive: float


class ReportJson(TypedDict):
    trace: str
    step_seconds: int
    lead_seconds: int
    seasonal_naive_period_seconds: int
    selected: str
    models: list[ModelJson]
    coverage: CoverageJson


@dataclass(frozen=True)
class ModelScore:
    """One model's errors over the origins (in the series' unit), and MAE ratios to the baselines."""

    name: str
    mae: float
    mase: float
    """MAE over the in-sample MAE of seasonal naive at the same lead (see ``naive_scale``)."""
    pinball: float
    """Pinball loss of the upper bound at the report's quantile."""
    under_forecast_rate: float
    ratio_to_persistence: float
    ratio_to_seasonal_naive: float
    replaced: Mapping[str, int]
    """Origins where the guard replaced this model's forecast by seasonal naive's, by reason."""

    def to_json(self) -> ModelJson:
        return ModelJson(name=self.name, mae=self.mae, mase=self.mase, pinball=self.pinball,
                         under_forecast_rate=self.under_forecast_rate, ratio_to_persistence=self.ratio_to_persistence,
                         ratio_to_seasonal_naive=self.ratio_to_seasonal_naive)


@dataclass(frozen=True, eq=False)
class BacktestReport:
    """What ``foresight backtest`` prints, plus the per-origin forecasts behind it."""

    trace: str
    step_seconds: float
    lead_seconds: float
    """The lead asked for, rounded up to whole steps (at least one)."""
    seasonal_naive_period_seconds: float
    """Season of seasonal naive at the last origin: a week, a day, or 0 (persistence)."""
    selected: str
    """What ``auto`` picked at its last selection."""
    models: tuple[ModelScore, ...]
    quantile: float
    coverage: Coverage
    """How often ``auto``'s served bound held, at the report's quantile and the usual ones."""
    origins: FloatArray
    """Times of the origins."""
    actual: FloatArray
    """The value at each origin's ``t + lead``."""
    points: Mapping[str, FloatArray] = field(repr=False)
    """Point forecast of ``t + lead`` made at each origin, per model and ``auto``."""
    selections: tuple[tuple[float, str], ...] = ()
    """``(time, pick)`` for every selection ``auto`` made."""

    def to_json(self) -> ReportJson:
        return ReportJson(trace=self.trace, step_seconds=round(self.step_seconds), lead_seconds=round(self.lead_seconds),
                          seasonal_naive_period_seconds=round(self.seasonal_naive_period_seconds),
                          selected=self.selected, models=[model.to_json() for model in self.models],
                          coverage=self.coverage.to_json())

    def table(self) -> str:
        """The report for a terminal."""
        span = (self.origins[-1] - self.origins[0]) / 3600
        season = {7 * DAY_SECONDS: "the value one week earlier", DAY_SECONDS: "the value one day earlier"}.get(
            self.seasonal_naive_period_seconds, "persistence (under two days of history)")
        lines = [
            (f"{self.trace}: step {self.step_seconds:g} s, lead {self.lead_seconds:g} s, "
             f"{len(self.origins)} origins over the last {span:.1f} h"),
            f"seasonal naive: {season}",
            (f"{'model':<16}{'MAE':>11}{'MASE':>8}{f'pinball@{self.quantile:g}':>13}{'under':>7}"
             f"{'/persist':>9}{'/s-naive':>9}  replaced"),
        ]
        for m in self.models:
            replaced = ", ".join(f"{reason} {count}" for reason, count in sorted(m.replaced.items())) or "-"
            lines.append(f"{m.name:<16}{m.mae:>11.4g}{m.mase:>8.3f}{m.pinball:>13.4g}{m.under_forecast_rate:>7.0%}"
                         f"{m.ratio_to_persistence:>9.3f}{m.ratio_to_seasonal_naive:>9.3f}  {replaced}")
        picks = Counter(pick for _, pick in self.selections)
        lines.append(f"auto picked: {', '.join(f'{n} ×{c}' for n, c in picks.most_common())}; "
                     f"at the last selection: {self.selected}")
        lines += self.coverage.lines()
        return "\n".join(lines)


def run_backtest(
    series: Series,
    *,
    name: str,
    lead_seconds: float,
    window_seconds: float = 300.0,
    factories: Mapping[str, Callable[[], Model]] = MODEL_FACTORIES,
    schedule: Schedule = DEFAULT_SCHEDULE,
    max_origins: int = MAX_ORIGINS,
    quantile: float = 0.9,
    loss: AsymmetricLoss = DEFAULT_LOSS,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> BacktestReport:
    """Walk every model in ``factories`` (which must include the two baselines) and ``auto``
    forward over the later part of ``series``, and the adapter's forecaster at every step of it for
    the coverage of its bound over ``window_seconds`` after the lead; ``progress(done, total)``
    after each step of that walk and each stretch of a model's walk or selection finished.

    Each model's walk between two refits and each of ``auto``'s selections is one task, and the
    coverage walk reads its selections and refits made ahead: with more than one of ``workers``
    they run in that many processes (the factories must then pickle), with the same result. Raises NotEnoughData when no origin
    can be scored.
    """
    missing = [baseline for baseline in FULL_HISTORY if baseline not in factories]
    if missing:
        raise ValueError(f"the factories must include the baselines; missing: {', '.join(missing)}")
    lead = steps_for(lead_seconds, series.step_seconds)
    window_steps = steps_for(window_seconds, series.step_seconds)
    origins = _origins(series, lead, max_origins)
    times = series.times()[origins]
    selecting = np.flatnonzero(_deadlines(times, schedule.select_every_seconds))
    first = int(origins[0])
    walked = len(walk_steps(series, lead_steps=lead, window_steps=window_steps, first=first))
    # seasonal naive first: it replaces whatever the guard refuses at the same origin
    names = [SeasonalNaive.name] + [model for model in factories if model != SeasonalNaive.name]
    # a walk starts afresh at each of its model's refits: the stretches between them are independent tasks
    stretches = {model: list(pairwise([*np.flatnonzero(_deadlines(times, refit_every(schedule, model))), len(origins)]))
                 for model in names}
    total = walked + sum(len(parts) for parts in stretches.values()) + len(selecting)
    with workers_pool(workers) as pool:
        walks = {model: [Task(pool, partial(_walk, series, factories[model], origins[begin:end], lead=lead,
                                            quantile=quantile, history=None if model in FULL_HISTORY
                                            else series.steps_per(schedule.history_seconds)))
                         for begin, end in stretches[model]]
                 for model in names}
        picks = [Task(pool, partial(_select, series, int(origins[row]), lead, factories, schedule, loss))
                 for row in selecting]
        coverage = walk_coverage(series, lead_steps=lead, window_steps=window_steps, first=first,
                                 quantiles=sorted({*COVERAGE_QUANTILES, quantile}), factories=factories,
                                 schedule=schedule, under_weight=loss.under_weight, pool=pool,
                                 progress=None if progress is None else lambda done, _: progress(done, total))
        finished = walked
        results: dict[str, _Walked] = {}
        # once its own walk is done, this process takes on the tasks no worker has started
        for model, tasks in walks.items():
            parts = []
            for task in tasks:
                parts.append(task.result())
                finished += 1
                if progress is not None:
                    progress(finished, total)
            results[model] = _Walked(np.concatenate([part.means for part in parts]),
                                     np.concatenate([part.uppers for part in parts]),
                                     tuple(reason for part in parts for reason in part.reasons))
        chosen: list[tuple[str, str]] = []
        for selection in picks:
            chosen.append(selection.result())
            finished += 1
            if progress is not None:
                progress(finished, total)
    fallback = results[SeasonalNaive.name]
    failed = next((row for row, reason in enumerate(fallback.reasons) if reason is not None), None)
    if failed is not None:
        raise ForecastError(f"seasonal naive failed at origin {times[failed]:g}: {fallback.reasons[failed]}")
    means: dict[str, FloatArray] = {}
    uppers: dict[str, FloatArray] = {}
    replaced: dict[str, Counter[str]] = {}
    for model, walk in results.items():
        refused = np.array([reason is not None for reason in walk.reasons])
        means[model] = np.where(refused, fallback.means, walk.means)
        uppers[model] = np.where(refused, fallback.uppers, walk.uppers)
        replaced[model] = Counter(reason for reason in walk.reasons if reason is not None)
    # auto serves its latest pick at each origin; a failed selection serves seasonal naive
    latest = np.searchsorted(selecting, np.arange(len(origins)), side="right") - 1
    auto = [chosen[index] for index in latest]
    means[AUTO] = np.array([means[pick][row] for row, (pick, _) in enumerate(auto)])
    uppers[AUTO] = np.array([uppers[pick][row] for row, (pick, _) in enumerate(auto)])
    replaced[AUTO] = Counter(reason for row, (pick, failure) in enumerate(auto)
                             if (reason := failure or results[pick].reasons[row]) is not None)
    selections = tuple((float(times[row]), pick) for row, (pick, _) in zip(selecting, chosen, strict=True))

    actual = series.values[origins + lead]
    scale = naive_scale(window(series, 0, first + 1), lead)
    errors = {model: mae(actual, means[model]) for model in means}
    scores = tuple(
        ModelScore(model, errors[model], mase(actual, means[model], scale=scale),
                   pinball(actual, uppers[model], quantile), under_forecast_rate(actual, means[model]),
                   _ratio(errors[model], errors[Persistence.name]), _ratio(errors[model], errors[SeasonalNaive.name]),
                   dict(replaced[model]))
        for model in [*factories, AUTO]
    )
    return BacktestReport(
        trace=name, step_seconds=series.step_seconds, lead_seconds=lead * series.step_seconds,
        seasonal_naive_period_seconds=season_for(window(series, 0, int(origins[-1]) + 1)),
        selected=selections[-1][1], models=scores, quantile=quantile, coverage=coverage,
        origins=series.times()[origins], actual=actual,
        points={model: means[model] for model in [*factories, AUTO]}, selections=selections,
    )


@dataclass(frozen=True, eq=False)
class _Walked:
    """One model's forecast of ``t + lead`` at each origin (at least 0), or why it had none."""

    means: FloatArray
    uppers: FloatArray
    reasons: tuple[str | None, ...]


def _walk(series: Series, factory: Callable[[], Model], origins: npt.NDArray[np.int64], *, lead: int,
          quantile: float, history: int | None) -> _Walked:
    """One model walked over ``origins``: fit at the first on the ``history`` steps before it
    (everything before it when None), updated at the others."""
    walk = Walk(factory, series, quantile=quantile)
    means, uppers = np.zeros(len(origins)), np.zeros(len(origins))
    reasons: list[str | None] = []
    for row, origin in enumerate(int(index) for index in origins):
        start = 0 if history is None else max(0, origin + 1 - history)
        result = walk.at(origin, lead, refit_from=start if row == 0 else None)
        if isinstance(result, str):
            reasons.append(result)
            continue
        reasons.append(None)
        # demand is never negative
        means[row], uppers[row] = max(float(result.mean[lead - 1]), 0.0), max(float(result.upper[lead - 1]), 0.0)
    return _Walked(means, uppers, tuple(reasons))


def _deadlines(times: FloatArray, every: float) -> npt.NDArray[np.bool_]:
    """Whether a schedule deadline falls at each of ``times``, the first always."""
    flags = np.zeros(times.shape[0], dtype=bool)
    last: float | None = None
    for index, now in enumerate(times):
        if due(last, float(now), every):
            flags[index], last = True, float(now)
    return flags


def _select(series: Series, origin: int, lead: int, factories: Mapping[str, Callable[[], Model]],
            schedule: Schedule, loss: AsymmetricLoss) -> tuple[str, str]:
    """Selection on the schedule's history up to ``origin``, as the adapter would run it then: the
    pick, or seasonal naive and the reason no model could be picked."""
    known = window(series, max(0, origin + 1 - series.steps_per(schedule.history_seconds)), origin + 1)
    try:
        return select(known, factories=factories, lead_steps=lead, schedule=schedule, loss=loss).name, ""
    except NotEnoughData:
        return SeasonalNaive.name, "not-enough-data"
    except ForecastError:
        return SeasonalNaive.name, "error"


def _origins(series: Series, lead: int, max_origins: int) -> npt.NDArray[np.int64]:
    """At most ``max_origins`` origin indices, evenly spaced over the later part of the series,
    after the first known value and with a known actual at ``t + lead``."""
    if max_origins < 1:
        raise ValueError(f"max_origins must be at least 1, not {max_origins}")
    count = len(series)
    span = min(series.steps_per(SCORED_SPAN_SECONDS), int(SCORED_SHARE * count))
    last = count - 1 - lead
    # at least lead + 1 steps before the first origin, for the MASE scale
    candidates = np.arange(max(last - span + 1, lead), last + 1)
    known = np.isfinite(series.values)
    first_known = int(np.argmax(known))
    candidates = candidates[known[candidates + lead] & (candidates >= first_known)]
    if candidates.size == 0:
        raise NotEnoughData(f"{count} steps leave no origin with a known value {lead} steps later to score")
    picks = np.round(np.linspace(0, candidates.size - 1, min(max_origins, candidates.size))).astype(np.int64)
    return candidates[np.unique(picks)]


def _ratio(error: float, reference: float) -> float:
    """``error / reference``; a perfect reference gives 1 when matched and infinity otherwise."""
    if reference > 0:
        return error / reference
    return 1.0 if error == 0 else float("inf")
