"""One series through time: select a model when selection is due, refit it when a refit is due,
otherwise only update it with the newer data, forecast, and guard the result.

This is what a forecasting worker runs for every tracked series each step; the backtest scores
the same schedule. A forecast that fails the guard (non-finite, negative, absurd) is replaced by
the seasonal-naive one and the reason is returned, so the caller counts it. With conformal
calibration in the plan, the upper bound served is calibrated on the series' own past windows.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from forecasting.baselines import SeasonalNaive
from forecasting.calibration import ConformalBound
from forecasting.core import Forecast, ForecastError, Model, Series
from forecasting.guard import Guarded, guarded
from forecasting.plan import MIN_POINTS, Plan, StepOutcome
from forecasting.registry import MODEL_FACTORIES
from forecasting.schedule import due
from forecasting.selection import AsymmetricLoss, Selection, select

Selector = Callable[[Series, float], Selection]
"""The selection on the recent history at ``now``; raises ForecastError when no model can be
picked. A walk that knows its steps in advance passes one that reads selections made ahead."""
Fitter = Callable[[str, Series, float], Model]
"""The model ``name`` fitted on the recent history at ``now``, for this forecaster alone; a walk
that knows its steps in advance passes one that reads fits made ahead."""


def recent_history(series: Series, plan: Plan) -> Series:
    """What a step fits and selects on: the schedule's history, from its first known value."""
    return series.tail(series.steps_per(plan.schedule.history_seconds)).known_since_first()


def select_for(plan: Plan, factories: Mapping[str, Callable[[], Model]], recent: Series) -> Selection:
    """The selection a forecaster with ``plan`` runs on ``recent``."""
    return select(recent, factories=factories, lead_steps=plan.lead_steps, window_steps=plan.window_steps,
                  schedule=plan.schedule, loss=AsymmetricLoss(under_weight=plan.under_weight))


def phased_due(plan: Plan, last: float | None, now: float, every: float) -> bool:
    """The schedule's deadline, shifted by the series' phase."""
    phase = plan.phase_seconds % every
    return due(None if last is None else last - phase, now - phase, every)


def selection_moments(plan: Plan, steps: Iterable[tuple[float, Callable[[], Series]]]) -> Iterator[tuple[Series, float]]:
    """``(recent history, now)`` at each of ``steps`` (``now`` and the series then) where a
    forecaster stepped at every one of them selects."""
    last: float | None = None
    for now, history in steps:
        if last is not None and not phased_due(plan, last, now, plan.schedule.select_every_seconds):
            continue
        recent = recent_history(history(), plan)
        if int(np.isfinite(recent.values).sum()) >= MIN_POINTS:
            last = now
            yield recent, now


class SeriesForecaster:
    """The model state of one series between steps."""

    def __init__(self, plan: Plan, *, factories: Mapping[str, Callable[[], Model]] = MODEL_FACTORIES,
                 selector: Selector | None = None, fitter: Fitter | None = None) -> None:
        self.plan = plan
        self._factories = factories
        self._selector = selector
        self._fitter = fitter
        self._chosen: str | None = None
        self._scores: tuple[tuple[str, float], ...] = ()
        self._backtest_mae: float | None = None
        self._selected_at: float | None = None
        self._model: Model | None = None
        self._model_name: str | None = None
        self._fitted_at: float | None = None
        self._bound = ConformalBound(plan.lead_steps, plan.window_steps) if plan.calibration == "conformal" else None

    def step(self, series: Series, *, now: float) -> StepOutcome:
        (outcome,), _ = self.step_quantiles(series, now=now, quantiles=(self.plan.quantile,))
        return outcome

    def step_quantiles(self, series: Series, *, now: float,
                       quantiles: Sequence[float]) -> tuple[tuple[StepOutcome, ...], SeriesForecaster | None]:
        """One step that fits or updates the model once and forecasts each of ``quantiles`` from
        it: each outcome is what :meth:`step` gives with that quantile in the plan.

        A quantile whose forecast the guard replaces would refit at its next step, the others
        not: when they part that way, the second value is a copy of this forecaster that refits,
        with which the replaced quantiles go on (this one goes on with the rest); else None.
        """
        plan, schedule = self.plan, self.plan.schedule
        if self._bound is not None:
            self._bound.observe(series)
        recent = recent_history(series, plan)
        known = int(np.isfinite(recent.values).sum())
        if known < MIN_POINTS:
            waiting = StepOutcome(None, None, reason=f"warming up: {known} of {MIN_POINTS} points known")
            return (waiting,) * len(quantiles), None
        selected = self._select_if_due(recent, now)
        chosen = self._chosen or SeasonalNaive.name
        refit = self._model is None or self._model_name != chosen or self._due(self._fitted_at, now, schedule.refit_every_seconds)
        prepared: list[BaseException | None] = []

        def prepare() -> Model:
            """Fit or update once; a failure is raised again for every quantile."""
            if not prepared:
                try:
                    if refit or self._model is None:
                        model = (self._factories[chosen]().fit(recent) if self._fitter is None
                                 else self._fitter(chosen, recent, now))
                        self._model, self._model_name, self._fitted_at = model, chosen, now
                    else:
                        self._model.update(recent)
                    prepared.append(None)
                except BaseException as error:
                    prepared.append(error)
            if prepared[0] is not None:
                raise prepared[0]
            assert self._model is not None
            return self._model

        results = [guarded(lambda q=quantile: prepare().predict(plan.horizon, quantile=q), recent, plan.horizon,  # type: ignore[misc]
                           quantile=quantile) for quantile in quantiles]
        fork: SeriesForecaster | None = None
        replaced = [result.replaced for result in results]
        if all(replaced):
            self._model = None  # refit at the next step
        elif any(replaced):
            fork = copy.copy(self)
            fork._model, fork._bound = None, copy.deepcopy(self._bound)
        served = self._calibrated(results, quantiles, recent.end, fork)
        outcomes = tuple(StepOutcome(SeasonalNaive.name if result.replaced else chosen, forecast, result.reason,
                                     refit, selected, None, self._scores, self._backtest_mae) for result, forecast in zip(results, served, strict=True))
        return outcomes, fork

    def _calibrated(self, results: Sequence[Guarded], quantiles: Sequence[float], origin: float,
                    fork: SeriesForecaster | None) -> list[Forecast]:
        """Each result's forecast with its bound calibrated, and the window each forecaster serves
        remembered: the fork's is the baseline's, this one's the model's (or the baseline's when
        every quantile was replaced)."""
        if self._bound is None:
            return [result.forecast for result in results]
        served = [self._bound.adjusted(result.forecast, quantile=quantile)
                  for result, quantile in zip(results, quantiles, strict=True)]
        if fork is None:
            self._bound.record(results[0].forecast, origin)
        else:
            assert fork._bound is not None
            self._bound.record(next(result.forecast for result in results if not result.replaced), origin)
            fork._bound.record(next(result.forecast for result in results if result.replaced), origin)
        return served

    def _due(self, last: float | None, now: float, every: float) -> bool:
        return phased_due(self.plan, last, now, every)

    def _select_if_due(self, recent: Series, now: float) -> bool:
        if self._chosen is not None and not self._due(self._selected_at, now, self.plan.schedule.select_every_seconds):
            return False
        try:
            selection = (select_for(self.plan, self._factories, recent) if self._selector is None
                         else self._selector(recent, now))
            self._chosen, self._scores = selection.name, tuple(sorted(selection.scores.items()))
            backtest_mae = selection.lead_errors.get(selection.name, math.nan)
            self._backtest_mae = backtest_mae if math.isfinite(backtest_mae) else None
        except ForecastError:
            self._chosen, self._scores, self._backtest_mae = SeasonalNaive.name, (), None
        self._selected_at = now
        return True
