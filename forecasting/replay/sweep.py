"""The frontier sweep: the reactive HPAs a user could write and the predictive configurations
Foresight serves, each replayed on the same demand (see DESIGN.md, "Forecast semantics").

* reactive: the request-rate HPA at each target share, with
  ``behavior.scaleDown.stabilizationWindowSeconds`` at each stabilisation;
* predictive: the same HPAs (from a target of 0.5 up) with ``requests_per_second_forecast`` beside
  the rate at the same target, for each quantile the forecast serves. Quantile 0.5 serves the forecast's mean (the
  point forecast, the median of the symmetric models).

The walk-forward forecast is fitted once for each lead (by default the start-up) and window swept,
and every quantile is read from the same fits (:class:`~forecasting.replay.forecasts.WalkForwardForecasts`)
at each HPA sync of the span, before any HPA runs: a :class:`ForecastTable`. Then only the HPA
simulations remain, one per configuration, and they fan out to worker processes; the reactive ones
start while the parent fits the forecast. Each simulation is what :func:`run_replay` does for
that HPA, so a predictive configuration gives the figures a replay with it gives.

Worker processes are started with ``spawn``; the caller sets the single-thread BLAS variables
before (as ``foresight replay`` does), so that the workers inherit them.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from forecasting.core import FloatArray, Model
from forecasting.cores import usable_cores
from forecasting.hpa import Behavior, HpaSpec, ScalingRules
from forecasting.registry import MODEL_FACTORIES
from forecasting.replay.controllers import RATE, default_hpa, forecast_of, reactive_and_predictive
from forecasting.replay.forecasts import ForecastReading, WalkForwardForecasts, tracked_history
from forecasting.replay.frontier import Comparison, Point, compare, frontier
from forecasting.replay.metrics import ControllerMetrics
from forecasting.replay.simulation import ReplaySettings, Stage, simulate_hpa, simulate_oracle
from forecasting.traces import Trace

TARGET_SHARES = tuple(round(0.5 + 0.05 * index, 2) for index in range(10))
"""The predictive HPAs' targets: 0.5, 0.55, … 0.95 (the forecast's quantile adds headroom too)."""
REACTIVE_TARGET_SHARES = tuple(round(0.3 + 0.05 * index, 2) for index in range(14))
"""The reactive HPAs' targets: 0.3, 0.35, … 0.95. Headroom is a reactive HPA's only lever against
bursts, and on bursty demand a target of 0.5 still leaves more than 5 % of requests over the SLO,
so the sweep goes lower to put reactive's frontier where users' budgets are."""
STABILIZATIONS = (0, 60, 300)
"""``behavior.scaleDown.stabilizationWindowSeconds``."""
QUANTILES = (0.5, 0.7, 0.8, 0.9, 0.95)
MEAN_QUANTILE = 0.5
"""The quantile that serves the forecast's mean."""


@dataclass(frozen=True)
class Config:
    """One HPA of the sweep."""

    target_share: float
    stabilization_seconds: int | None
    """``behavior.scaleDown.stabilizationWindowSeconds``; None for an HPA without a ``behavior``
    section (the HPA's defaults, as plain ``foresight replay`` runs it)."""
    quantile: float | None = None
    """None for a reactive HPA."""
    lead_seconds: float | None = None
    window_seconds: float | None = None
    peak_seconds: float | None = None
    """The forecast's history is each step's peak rate over this long (None: its mean rate)."""
    signal: str = RATE
    """The demand signal the HPA scales on."""

    @property
    def predictive(self) -> bool:
        return self.quantile is not None

    def hpa(self, settings: ReplaySettings) -> HpaSpec:
        target = self.target_share * settings.service.capacity_per_replica
        base = default_hpa(target, min_replicas=settings.min_replicas, max_replicas=settings.max_replicas,
                           signal=settings.signal)
        behaviour = (None if self.stabilization_seconds is None
                     else Behavior(scale_down=ScalingRules(stabilization_window_seconds=self.stabilization_seconds)))
        reactive, predictive = reactive_and_predictive(HpaSpec(base.max_replicas, base.metrics, base.min_replicas,
                                                               behaviour), target, signal=settings.signal)
        return predictive if self.predictive else reactive

    def to_json(self) -> dict[str, object]:
        config: dict[str, object] = {"target_share": self.target_share,
                                     "scale_down_stabilization_seconds": self.stabilization_seconds,
                                     "metrics": [self.signal, forecast_of(self.signal)] if self.predictive
                                     else [self.signal]}
        if self.predictive:
            config.update(quantile=self.quantile, lead_seconds=self.lead_seconds, window_seconds=self.window_seconds)
            if self.peak_seconds is not None:
                config.update(peak_seconds=self.peak_seconds)
        return config


def default_reactive_config(settings: ReplaySettings) -> Config:
    """The reactive HPA plain ``foresight replay`` runs: the default target share, no ``behavior``."""
    return Config(settings.target_share, None, signal=settings.signal)


def configs(settings: ReplaySettings, *, targets: Sequence[float] = TARGET_SHARES,
            reactive_targets: Sequence[float] = REACTIVE_TARGET_SHARES,
            stabilizations: Sequence[int] = STABILIZATIONS, quantiles: Sequence[float] = QUANTILES,
            windows: Sequence[float] | None = None, leads: Sequence[float] | None = None) -> tuple[Config, ...]:
    """Every reactive configuration, then every predictive one (the leads default to the start-up,
    the windows to the settings' window)."""
    windows = tuple(windows or (settings.window_seconds,))
    leads = tuple(leads or (settings.service.startup_seconds,))
    reactive = tuple(Config(target, stabilization, signal=settings.signal)
                     for stabilization in stabilizations for target in reactive_targets)
    predictive = tuple(Config(target, stabilization, quantile, lead, window, settings.peak_seconds, settings.signal)
                       for lead in leads for window in windows for quantile in quantiles
                       for stabilization in stabilizations for target in targets)
    return reactive + predictive


@dataclass(frozen=True, eq=False)
class ForecastTable:
    """What the forecast serves at each HPA sync of the span, for each (lead, window) and quantile:
    NaN while it warms up (or where no HPA reads it: the rate has no value then)."""

    horizons: tuple[tuple[float, float], ...]
    """(lead, window) pairs, seconds."""
    quantiles: tuple[float, ...]
    upper: FloatArray
    """``[horizon, quantile, sync]``; the mean for :data:`MEAN_QUANTILE`."""
    steps_run: int

    def served(self, quantile: float, window_seconds: float, lead_seconds: float | None = None) -> FloatArray:
        """What the forecast at ``quantile`` over ``window_seconds`` after ``lead_seconds`` (the
        first lead fitted, when None) serves at each sync."""
        lead = self.horizons[0][0] if lead_seconds is None else lead_seconds
        served: FloatArray = self.upper[self.horizons.index((lead, window_seconds)), self.quantiles.index(quantile)]
        return served


class TableForecast:
    """One quantile's row of a :class:`ForecastTable`, read as the HPA reads a forecast."""

    def __init__(self, stage: Stage, values: FloatArray) -> None:
        self._start = stage.demand.time(stage.first)
        self._period = stage.sync_ticks * stage.demand.tick_seconds
        self._values = values

    def at(self, now: float) -> ForecastReading | None:
        value = float(self._values[round((now - self._start) / self._period)])
        return None if math.isnan(value) else ForecastReading(value, value, None)


def forecast_table(trace: Trace, settings: ReplaySettings, stage: Stage, quantiles: Sequence[float], *,
                   windows: Sequence[float] | None = None, leads: Sequence[float] | None = None,
                   factories: Mapping[str, Callable[[], Model]] = MODEL_FACTORIES,
                   progress: Callable[[int, int], None] | None = None,
                   pool: Executor | None = None) -> ForecastTable:
    """The forecast at each of ``quantiles`` over each of ``windows`` (default: the settings'
    window) after each of ``leads`` (default: the start-up), read at each sync where an HPA reads
    it: one walk-forward fit per lead and window, as the adapter fits one per workload (as
    :func:`run_replay`'s, which steps at the same moments), every quantile read from the same fits;
    the walks' selections made ahead in ``pool`` when given."""
    quantiles = tuple(quantiles)
    horizons = tuple((lead, window) for lead in (leads or (settings.service.startup_seconds,))
                     for window in (windows or (settings.window_seconds,)))
    fitted = tuple(sorted(q for q in quantiles if q != MEAN_QUANTILE)) or (0.9,)
    tracked, tracked_step = tracked_history(trace.rate_per_second(), trace.step_seconds, settings.forecast_step_seconds,
                                            settings.peak_seconds)
    walks = [WalkForwardForecasts(tracked, step_seconds=tracked_step, start=trace.start,
                                  lead_seconds=lead, window_seconds=window,
                                  quantiles=fitted, schedule=settings.schedule, calibration=settings.calibration,
                                  factories=factories, pool=pool, first_read=stage.demand.time(stage.first))
             for lead, window in horizons]
    syncs = stage.syncs()
    upper = np.full((len(horizons), len(quantiles), len(syncs)), np.nan)
    demand = stage.demand
    for column, tick in enumerate(syncs):
        if demand.rate_over(tick, stage.window_ticks) is not None:  # else no HPA asks for the forecast
            for layer, walk in enumerate(walks):
                readings = walk.at(demand.time(tick))
                if readings is not None:
                    for row, quantile in enumerate(quantiles):
                        upper[layer, row, column] = (readings[0].mean if quantile == MEAN_QUANTILE
                                                     else readings[fitted.index(quantile)].upper)
        if progress is not None and (column % 200 == 0 or column == len(syncs) - 1):
            progress(column + 1, len(syncs))
    return ForecastTable(horizons, quantiles, upper, sum(walk.steps_run for walk in walks))


@dataclass(frozen=True, eq=False)
class Run:
    config: Config
    metrics: ControllerMetrics

    def point(self) -> Point:
        return Point(self.metrics.gpu_hours, self.metrics.slo_violation_share, self.config.to_json())


@dataclass(frozen=True, eq=False)
class FrontierResult:
    trace: str
    settings: ReplaySettings
    runs: tuple[Run, ...]
    oracle: ControllerMetrics
    """The oracle at the default target share."""
    forecast_steps: int
    default_reactive: Run
    """The reactive HPA plain ``foresight replay`` runs (the default target share, no ``behavior``
    section): a run of the sweep when it has that configuration, else one more simulation, kept
    out of the families' points."""

    def points(self, predictive: bool) -> tuple[Point, ...]:
        return tuple(run.point() for run in self.runs if run.config.predictive == predictive)

    def frontier(self, predictive: bool) -> tuple[Point, ...]:
        return frontier(self.points(predictive))

    def comparison(self) -> tuple[Comparison, ...]:
        return compare(self.points(False), self.points(True))


_STAGE: Stage | None = None
_SETTINGS: ReplaySettings | None = None


def _start_worker(stage: Stage, settings: ReplaySettings) -> None:
    global _STAGE, _SETTINGS  # noqa: PLW0603 - one worker's shared inputs, set once
    _STAGE, _SETTINGS = stage, settings


def _simulate(config: Config, served: FloatArray | None) -> Run:
    assert _STAGE is not None and _SETTINGS is not None
    forecast = None if served is None else TableForecast(_STAGE, served)
    return Run(config, simulate_hpa(_STAGE, config.hpa(_SETTINGS), config.target_share
                                    * _SETTINGS.service.capacity_per_replica, forecast))


SIMULATION_COST = 0.006
"""One HPA simulation's cost as a share of the forecast pass's (measured on a week at one minute:
about 1 s against 170 s), for the progress estimate: the simulations share the workers."""


def run_frontier(trace: Trace, settings: ReplaySettings, *, targets: Sequence[float] = TARGET_SHARES,
                 reactive_targets: Sequence[float] = REACTIVE_TARGET_SHARES,
                 stabilizations: Sequence[int] = STABILIZATIONS, quantiles: Sequence[float] = QUANTILES,
                 windows: Sequence[float] | None = None, leads: Sequence[float] | None = None,
                 workers: int | None = None,
                 factories: Mapping[str, Callable[[], Model]] = MODEL_FACTORIES,
                 progress: Callable[[int, int], None] | None = None) -> FrontierResult:
    """Replay every configuration of the sweep on ``trace`` (the span, bounds and forecast
    settings from ``settings``; its target, quantile and HPA are the sweep's); ``workers``
    processes (default: every core), ``progress(done, total)`` now and then."""
    if settings.hpa is not None:
        raise ValueError("the frontier sweeps its own HPAs; it takes no HPA manifest")
    stage = Stage.of(trace, settings)
    sweep = configs(settings, targets=targets, reactive_targets=reactive_targets, stabilizations=stabilizations,
                    quantiles=quantiles, windows=windows, leads=leads)
    default = default_reactive_config(settings)
    reactive = [config for config in sweep if not config.predictive]
    if default not in sweep:
        reactive.append(default)
    predictive = [config for config in sweep if config.predictive]
    processes = workers or usable_cores()
    forecast_units, simulation_units = 1000, 1000 * SIMULATION_COST / processes
    total = forecast_units + round((len(reactive) + len(predictive)) * simulation_units)
    state = {"forecast": 0, "simulations": 0}

    def report() -> None:
        if progress is not None:
            progress(min(total, state["forecast"] + round(state["simulations"] * simulation_units)), total)

    def forecast_progress(done: int, steps: int) -> None:
        state["forecast"] = forecast_units * done // max(steps, 1)
        report()

    runs: dict[Config, Run] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context,
                             initializer=_start_worker, initargs=(stage, settings)) as pool:
        pending: set[Future[Run]] = {pool.submit(_simulate, config, None) for config in reactive}
        table = forecast_table(trace, settings, stage, sorted({config.quantile for config in predictive
                                                               if config.quantile is not None}) or [0.9],
                               windows=sorted({config.window_seconds for config in predictive
                                               if config.window_seconds is not None}) or None,
                               leads=sorted({config.lead_seconds for config in predictive
                                             if config.lead_seconds is not None}) or None,
                               factories=factories, progress=forecast_progress, pool=pool)
        pending |= {pool.submit(_simulate, config, table.served(config.quantile, config.window_seconds,
                                                                config.lead_seconds))
                    for config in predictive if config.quantile is not None and config.window_seconds is not None}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                run = future.result()
                runs[run.config] = run
                state["simulations"] += 1
            report()
    oracle = simulate_oracle(stage, settings.target_per_replica, min_replicas=settings.min_replicas,
                             max_replicas=settings.max_replicas)
    return FrontierResult(trace.name, settings, tuple(runs[config] for config in sweep), oracle, table.steps_run,
                          runs[default])
