"""One series through time: select a model when selection is due, refit it when a refit is due,
otherwise only update it with the newer data, forecast, and guard the result.

This is what a forecasting worker runs for every tracked series each step; the backtest scores
the same schedule. A forecast that fails the guard (non-finite, negative, absurd) is replaced by
the seasonal-naive one and the reason is returned, so the caller counts it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from forecasting.baselines import SeasonalNaive
from forecasting.core import Forecast, ForecastError, Model, Series
from forecasting.guard import guarded
from forecasting.plan import MIN_POINTS, Plan, StepOutcome
from forecasting.registry import MODEL_FACTORIES
from forecasting.schedule import due
from forecasting.selection import AsymmetricLoss, select


class SeriesForecaster:
    """The model state of one series between steps."""

    def __init__(self, plan: Plan, *, factories: Mapping[str, Callable[[], Model]] = MODEL_FACTORIES) -> None:
        self.plan = plan
        self._factories = factories
        self._chosen: str | None = None
        self._scores: tuple[tuple[str, float], ...] = ()
        self._selected_at: float | None = None
        self._model: Model | None = None
        self._model_name: str | None = None
        self._fitted_at: float | None = None

    def step(self, series: Series, *, now: float) -> StepOutcome:
        plan, schedule = self.plan, self.plan.schedule
        recent = series.tail(series.steps_per(schedule.history_seconds)).known_since_first()
        known = int(np.isfinite(recent.values).sum())
        if known < MIN_POINTS:
            return StepOutcome(None, None, reason=f"warming up: {known} of {MIN_POINTS} points known")
        selected = self._select_if_due(recent, now)
        chosen = self._chosen or SeasonalNaive.name
        refit = self._model is None or self._model_name != chosen or self._due(self._fitted_at, now, schedule.refit_every_seconds)

        def produce() -> Forecast:
            if refit or self._model is None:
                self._model, self._model_name, self._fitted_at = self._factories[chosen]().fit(recent), chosen, now
            else:
                self._model.update(recent)
            return self._model.predict(plan.horizon, quantile=plan.quantile)

        result = guarded(produce, recent, plan.horizon, quantile=plan.quantile)
        if result.replaced:
            self._model = None  # refit at the next step
        model = SeasonalNaive.name if result.replaced else chosen
        return StepOutcome(model, result.forecast, result.reason, refit, selected, None, self._scores)

    def _due(self, last: float | None, now: float, every: float) -> bool:
        """The schedule's deadline, shifted by this series' phase."""
        phase = self.plan.phase_seconds % every
        return due(None if last is None else last - phase, now - phase, every)

    def _select_if_due(self, recent: Series, now: float) -> bool:
        if self._chosen is not None and not self._due(self._selected_at, now, self.plan.schedule.select_every_seconds):
            return False
        try:
            selection = select(
                recent,
                factories=self._factories,
                lead_steps=self.plan.lead_steps,
                window_steps=self.plan.window_steps,
                schedule=self.plan.schedule,
                loss=AsymmetricLoss(under_weight=self.plan.under_weight),
            )
            self._chosen, self._scores = selection.name, tuple(sorted(selection.scores.items()))
        except ForecastError:
            self._chosen, self._scores = SeasonalNaive.name, ()
        self._selected_at = now
        return True
