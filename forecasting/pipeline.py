"""One series through time: select a model when selection is due, refit it when a refit is due,
otherwise only update it with the newer data, forecast, and guard the result.

Selections and fits are anchored to the schedule's deadlines on the series' own step grid: a model
is selected on the history up to the latest selection deadline and fit on the history up to the
latest refit deadline, then updated with what came since. So a forecaster created between two
deadlines (a restarted replica, a second one) holds the same model as one that has run all along,
and serves the same values from the same history. A forecaster told the series' known model (read
back after a restart) does not select before the next deadline; where that model is costly to fit,
its first step serves seasonal naive, cheap at once, and says so, as do later steps told to put the
fit off (the caller's pass has no time left for it).

This is what a forecasting worker runs for every tracked series each step; the backtest scores
the same schedule. A forecast that fails the guard (non-finite, negative, absurd) is replaced by
the seasonal-naive one and the reason is returned, so the caller counts it. With conformal
calibration in the plan, the upper bound served is calibrated on the series' own past windows, as
the model fitted last would have served them (see :mod:`forecasting.calibration`): each fit walks
that model over them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.calibration import ConformalBound
from forecasting.core import Forecast, ForecastError, Model, Series
from forecasting.guard import Guarded, guarded
from forecasting.plan import MIN_POINTS, Plan, StepOutcome
from forecasting.registry import LEARNED, MODEL_FACTORIES
from forecasting.schedule import Schedule
from forecasting.selection import AsymmetricLoss, Selection, select, window

CHEAP_MODELS = frozenset({Persistence.name, SeasonalNaive.name})
"""Models whose fit costs no more than a forecast: a known one of these needs no stand-in."""
Selector = Callable[[Series, float], Selection]
"""The selection on the history up to a selection deadline's anchor (the second argument); raises
ForecastError when no model can be picked. A walk that knows its steps in advance passes one that
reads selections made ahead."""
Fitter = Callable[[str, Series, float], Model]
"""The model ``name`` fitted on the history up to a refit deadline's anchor (the third argument),
for this forecaster alone; a walk that knows its steps in advance passes one that reads fits made
ahead."""
Walk = Callable[[int], Forecast | None]
"""What a forecaster would have served from the values of a series up to an index (see
:func:`walk_of`)."""
Walked = Mapping[int, Forecast | None]
"""A walk's forecasts at the indexes a calibration fill asks for (see :func:`walked_windows`)."""
Walker = Callable[[str, float, Series, float], Walked | None]
"""The calibration walk of the model ``name`` fitted at a refit anchor (the second argument) over a
step's series at a quantile, where a walk that knows its steps in advance made it ahead with the
fit; None where it did not."""


def refit_every(schedule: Schedule, model: str) -> float:
    """How often ``model`` is refit: the learned models on their own, longer period."""
    return schedule.learned_refit_every_seconds if model in LEARNED else schedule.refit_every_seconds


def recent_history(series: Series, plan: Plan) -> Series:
    """What a step forecasts from: the schedule's history, from its first known value."""
    return series.tail(series.steps_per(plan.schedule.history_seconds)).known_since_first()


def select_for(plan: Plan, factories: Mapping[str, Callable[[], Model]], history: Series) -> Selection:
    """The selection a forecaster with ``plan`` runs on ``history``."""
    return select(history, factories=factories, lead_steps=plan.lead_steps, window_steps=plan.window_steps,
                  schedule=plan.schedule, loss=AsymmetricLoss(under_weight=plan.under_weight))


def anchor_for(plan: Plan, series: Series, now: float, every: float) -> float:
    """Where the latest deadline of period ``every`` at or before ``now`` (shifted by the series'
    phase) falls on the series' step grid: its last step before the deadline, the data a
    forecaster stepping every step had when the deadline passed. One created later anchors its fit
    there too, so both hold the same model."""
    phase = plan.phase_seconds % every
    deadline = math.floor((now - phase) / every) * every + phase
    step = series.step_seconds
    return min(series.start + (math.ceil((deadline - series.start) / step) - 1) * step, series.end)


def history_until(plan: Plan, series: Series, anchor: float) -> Series:
    """The history a model anchored at ``anchor`` sees: the schedule's history up to it; the whole
    recent history when too few of its points are known (a series younger than a period)."""
    history = series.steps_per(plan.schedule.history_seconds)
    end = round((anchor - series.start) / series.step_seconds) + 1
    anchored = window(series, max(0, end - history), end).known_since_first() if end >= MIN_POINTS else None
    if anchored is None or int(np.isfinite(anchored.values).sum()) < MIN_POINTS:
        return series.tail(history).known_since_first()
    return anchored


def calibration_for(plan: Plan) -> ConformalBound | None:
    """The calibration a forecaster with ``plan`` keeps: none unless the plan calibrates."""
    if plan.calibration != "conformal":
        return None
    return ConformalBound(plan.lead_steps, plan.window_steps, history_seconds=plan.schedule.history_seconds)


def walk_of(plan: Plan, series: Series, fitted: Callable[[], Model], fitted_from: float, quantile: float) -> Walk:
    """What a forecaster with ``plan`` would have served at ``quantile`` from the values of
    ``series`` up to an index with the model it has just fitted on a history that began at
    ``fitted_from`` (``fitted``, which raises what the fit raised): a copy of the model updated
    with the history a step there forecasts from, but none from before the fit's, as every replica
    holds that; None where a step would have served nothing."""
    begin = max(0, round((fitted_from - series.start) / series.step_seconds))
    walked: list[Model] = []

    def walking() -> Model:
        """A copy of the fitted model: the one held goes on from its own state."""
        if not walked:
            walked.append(copy.deepcopy(fitted()))
        return walked[0]

    def served_at(index: int) -> Forecast | None:
        if index < begin:
            return None
        seen = recent_history(window(series, begin, index + 1), plan)
        if int(np.isfinite(seen.values).sum()) < MIN_POINTS:
            return None
        return guarded(lambda: walking().update(seen).predict(plan.horizon, quantile=quantile), seen,
                       plan.horizon, quantile=quantile).forecast

    return served_at


def walked_windows(plan: Plan, series: Series, model: Model, fitted_from: float) -> Walked:
    """The forecasts a fresh fill of the calibration of ``plan`` reads from the walk of ``model``
    over ``series`` at the plan's quantile (empty when the plan does not calibrate): what a fit's
    first step walks, made where the fit is made."""
    bound = calibration_for(plan)
    if bound is None:
        return {}
    walk = walk_of(plan, series, lambda: model, fitted_from, plan.quantile)
    walked: dict[int, Forecast | None] = {}

    def recorded(index: int) -> Forecast | None:
        walked[index] = walk(index)
        return walked[index]

    bound.fill(series, recorded)
    return walked


def selection_moments(plan: Plan, steps: Iterable[tuple[float, Callable[[], Series]]]
                      ) -> Iterator[tuple[Series, float, float]]:
    """``(history, anchor, now)`` of each selection a forecaster stepped at every one of ``steps``
    (``now`` and the series then) makes, as long as it is not told a known model."""
    last: float | None = None
    for now, made in steps:
        series = made()
        anchor = anchor_for(plan, series, now, plan.schedule.select_every_seconds)
        if anchor == last or int(np.isfinite(recent_history(series, plan).values).sum()) < MIN_POINTS:
            continue
        last = anchor
        yield history_until(plan, series, anchor), anchor, now


class SeriesForecaster:
    """The model state of one series between steps."""

    def __init__(self, plan: Plan, *, factories: Mapping[str, Callable[[], Model]] = MODEL_FACTORIES,
                 known: str | None = None, selector: Selector | None = None, fitter: Fitter | None = None,
                 walker: Walker | None = None) -> None:
        """``known``: the model selected for this series before (by another process, or before a
        restart); an unknown name is ignored and the series selects as usual. ``selector``,
        ``fitter`` and ``walker`` replace selecting, fitting and a fit's calibration walk in place
        (see :mod:`forecasting.ahead`)."""
        self.plan = plan
        self._factories = factories
        self._selector = selector
        self._fitter = fitter
        self._walker = walker
        self._known = known if known in factories else None
        self._awaiting_known = self._known is not None and self._known not in CHEAP_MODELS
        """Seasonal naive serves while the known model waits for its first fit."""
        self._stepped = False
        self._chosen: str | None = None
        self._scores: tuple[tuple[str, float], ...] = ()
        self._backtest_mae: float | None = None
        self._selected_anchor: float | None = None
        self._model: Model | None = None
        self._model_name: str | None = None
        self._fitted_anchor: float | None = None
        self._fitted_from: float | None = None
        """Time of the first value of the history the model was last fitted on."""
        self._bound = calibration_for(plan)

    def step(self, series: Series, *, now: float, put_off_fit: bool = False) -> StepOutcome:
        """``put_off_fit``: where the known model still waits for its fit, seasonal naive serves
        once more instead (the first step always serves it)."""
        (outcome,), _ = self.step_quantiles(series, now=now, quantiles=(self.plan.quantile,), put_off_fit=put_off_fit)
        return outcome

    def step_quantiles(self, series: Series, *, now: float, quantiles: Sequence[float],
                       put_off_fit: bool = False) -> tuple[tuple[StepOutcome, ...], SeriesForecaster | None]:
        """One step that fits or updates the model once and forecasts each of ``quantiles`` from
        it: each outcome is what :meth:`step` gives with that quantile in the plan.

        The guard may replace the forecast at some quantiles and keep it at others; the windows
        each remembers for its calibration then differ: when they part that way, the second value
        is a copy of this forecaster, its model and the calibration of the replaced quantiles, with
        which those go on (this one goes on with the rest); else None. A replaced forecast keeps
        its model until the next deadline: a fit is anchored there, so a refit would give the same
        model again (and walk it again).
        """
        plan, schedule = self.plan, self.plan.schedule
        recent = recent_history(series, plan)
        known = int(np.isfinite(recent.values).sum())
        if known < MIN_POINTS:
            waiting = StepOutcome.warming(f"warming up: {known} of {MIN_POINTS} points known")
            return (waiting,) * len(quantiles), None
        selected = self._select_if_due(series, now)
        chosen = self._chosen or SeasonalNaive.name
        stand_in = self._awaiting_known and not selected and (put_off_fit or not self._stepped)
        self._awaiting_known, self._stepped = stand_in, True
        serving = SeasonalNaive.name if stand_in else chosen
        anchor = self._anchor(series, now, refit_every(schedule, serving))
        refit = self._model is None or self._model_name != serving or self._fitted_anchor != anchor
        prepared: list[BaseException | None] = []

        def prepare() -> Model:
            """Fit or update once; a failure is raised again for every quantile."""
            if not prepared:
                try:
                    if refit or self._model is None:
                        fitted_on = self._until(series, anchor)
                        self._fitted_from = fitted_on.start
                        self._model = (self._factories[serving]().fit(fitted_on) if self._fitter is None
                                       else self._fitter(serving, fitted_on, anchor))
                        self._model_name, self._fitted_anchor = serving, anchor
                        if fitted_on.end < recent.end:
                            self._model.update(recent)
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
        bounds = self._scored(series, results, quantiles, prepare, refit=(serving, anchor) if refit else None)
        if any(replaced) and not all(replaced):
            fork = copy.copy(self)
            fork._model, fork._bound = copy.deepcopy(self._model), bounds[True]
        served = [_calibrated(bounds[result.replaced], result.forecast, quantile)
                  for result, quantile in zip(results, quantiles, strict=True)]
        outcomes = tuple(StepOutcome(model=SeasonalNaive.name if result.replaced else serving, forecast=forecast,
                                     fallback_reason=result.reason, refitted=refit, selected=selected,
                                     scores=self._scores, backtest_mae=self._backtest_mae, chosen=chosen,
                                     standing_in=stand_in,
                                     uncalibrated=None if forecast is result.forecast else result.forecast)
                         for result, forecast in zip(results, served, strict=True))
        return outcomes, fork

    def _walk(self, series: Series, prepared: Callable[[], Model], quantile: float,
              refit: tuple[str, float] | None) -> Walk:
        """The walk of the model just fitted (see :func:`walk_of`), read where it was made ahead
        with the fit (``refit``: the model's name and anchor when this step fitted it)."""
        assert self._fitted_from is not None
        in_place = walk_of(self.plan, series, prepared, self._fitted_from, quantile)
        ahead = None if refit is None or self._walker is None else self._walker(*refit, series, quantile)
        if ahead is None:
            return in_place
        return lambda index: ahead[index] if index in ahead else in_place(index)

    def _scored(self, series: Series, results: Sequence[Guarded], quantiles: Sequence[float],
                prepared: Callable[[], Model], *, refit: tuple[str, float] | None) -> dict[bool, ConformalBound | None]:
        """The calibration of the quantiles the guard kept (key False) and of those it replaced
        (True), each with the window it serves remembered: this forecaster's own, and a copy for
        the fork where the guard parts the quantiles. A fit (``refit``: the model's name and anchor)
        fills each afresh by walking the model at a quantile whose window it remembers, as the
        guard's verdict may differ between them."""
        if self._bound is None:
            return {False: None, True: None}
        replaced = [result.replaced for result in results]
        parted = any(replaced) and not all(replaced)
        kept, other = self._bound, copy.deepcopy(self._bound) if parted else self._bound
        for gone, bound in ((False, kept), (True, other)) if parted else ((replaced[0], kept),):
            result, quantile = next((result, quantile) for result, quantile in zip(results, quantiles, strict=True)
                                    if result.replaced == gone)
            walk = self._walk(series, prepared, quantile, refit)
            if refit is not None:
                bound.fill(series, walk)
                continue

            def served_at(index: int, served: Forecast = result.forecast,
                          walk: Walk = walk) -> Forecast | None:
                """The latest window is the one served; earlier ones, that a late step missed, walked."""
                return served if index == len(series) - 1 else walk(index)

            bound.extend(series, served_at)
        return {False: kept, True: other}

    def _anchor(self, series: Series, now: float, every: float) -> float:
        return anchor_for(self.plan, series, now, every)

    def _until(self, series: Series, anchor: float) -> Series:
        return history_until(self.plan, series, anchor)

    def _select_if_due(self, series: Series, now: float) -> bool:
        anchor = self._anchor(series, now, self.plan.schedule.select_every_seconds)
        if self._known is not None and self._selected_anchor is None:
            self._chosen, self._selected_anchor = self._known, anchor  # known: select at the next deadline
            return False
        if self._chosen is not None and self._selected_anchor == anchor:
            return False
        try:
            history = self._until(series, anchor)
            selection = (select_for(self.plan, self._factories, history) if self._selector is None
                         else self._selector(history, anchor))
            self._chosen, self._scores = selection.name, tuple(sorted(selection.scores.items()))
            backtest_mae = selection.lead_errors.get(selection.name, math.nan)
            self._backtest_mae = backtest_mae if math.isfinite(backtest_mae) else None
        except ForecastError:
            self._chosen, self._scores, self._backtest_mae = SeasonalNaive.name, (), None
        self._selected_anchor = anchor
        return True


def _calibrated(bound: ConformalBound | None, forecast: Forecast, quantile: float) -> Forecast:
    return forecast if bound is None else bound.adjusted(forecast, quantile=quantile)
