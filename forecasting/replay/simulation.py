"""One replay: a trace through the service model under the reactive, predictive and oracle
controllers, tick by tick, with the same demand for all three.

The replay covers the whole trace or its last ``span``; the forecaster starts with the history
before the span, as the adapter backfills its history when it starts tracking a series. Every
controller starts in the steady state for the first replayed step (the oracle's count, all
ready). Everything is deterministic: the same trace and settings give the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from forecasting.ahead import workers_pool
from forecasting.core import FloatArray, Model
from forecasting.hpa import ControllerSettings, HorizontalController, HpaSpec
from forecasting.plan import DEFAULT_CALIBRATION, Calibration
from forecasting.registry import MODEL_FACTORIES
from forecasting.replay.controllers import (
    RATE,
    SIGNALS,
    HpaControl,
    default_hpa,
    oracle_replicas,
    reactive_and_predictive,
)
from forecasting.replay.demand import Demand, ticks_in
from forecasting.replay.deployment import Deployment
from forecasting.replay.forecasts import (
    ForecastReading,
    ServedForecast,
    WalkForwardForecast,
    tracked_history,
)
from forecasting.replay.metrics import ControllerMetrics, Tally
from forecasting.replay.service import ServiceSettings, serve
from forecasting.schedule import DEFAULT_SCHEDULE, Schedule
from forecasting.traces import Trace

CONTROLLERS = ("reactive", "predictive", "oracle")


@dataclass(frozen=True)
class ReplaySettings:
    service: ServiceSettings
    target_share: float = 0.8
    """The HPA target is this share of a replica's capacity, leaving headroom for what it cannot see."""
    min_replicas: int = 1
    max_replicas: int = 1000
    hpa: HpaSpec | None = None
    """The user's HPA; None for the default reactive one. Its bounds replace the two above."""
    window_seconds: float = 300.0
    """The forecast covers ``[now + lead, now + lead + window]``; the lead is the start-up."""
    quantile: float = 0.9
    forecast_step_seconds: float = 60.0
    """The tracker's step (the adapter's ``forecasts.step``): the forecaster sees a finer trace as
    its mean rate over steps this long."""
    metric_window_seconds: float = 60.0
    """The request rate the HPA reads is the mean over this window (``rate(...[1m])``)."""
    span_seconds: float | None = None
    """Replay only the trace's last ``span``; None replays all of it."""
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    schedule: Schedule = DEFAULT_SCHEDULE
    calibration: Calibration = DEFAULT_CALIBRATION
    """How the forecast's bound is calibrated, as the adapter's ``forecasts.calibration``."""
    peak_seconds: float | None = None
    """Forecast each step's peak rate over windows this long instead of its mean rate (peak-aware
    demand: bursts within a step are what SLO violations come from); None for the mean."""
    signal: str = RATE
    """The demand signal the HPAs scale on and the forecast predicts: ``requests_per_second``, or
    ``prompt_tokens_per_second`` / ``generation_tokens_per_second`` for a trace's tokens (whose
    capacity per replica is then in tokens per second)."""

    def __post_init__(self) -> None:
        if not 0 < self.target_share <= 1:
            raise ValueError(f"the target share must be in (0, 1], not {self.target_share}")
        if self.span_seconds is not None and not self.span_seconds > 0:
            raise ValueError(f"the span must be positive, not {self.span_seconds}")
        if self.signal not in SIGNALS.values():
            raise ValueError(f"the signal must be one of {', '.join(SIGNALS.values())}, not {self.signal!r}")
        if not 0.5 < self.quantile < 1:
            raise ValueError(f"the quantile must be in (0.5, 1), not {self.quantile}")
        if not (self.window_seconds > 0 and self.metric_window_seconds > 0 and self.forecast_step_seconds > 0):
            raise ValueError("the forecast window, the forecast step and the metric window must be positive")

    @property
    def target_per_replica(self) -> float:
        return self.target_share * self.service.capacity_per_replica

    def hpas(self) -> tuple[HpaSpec, HpaSpec]:
        """The reactive and predictive HPAs."""
        base = self.hpa or default_hpa(self.target_per_replica, min_replicas=self.min_replicas,
                                       max_replicas=self.max_replicas, signal=self.signal)
        return reactive_and_predictive(base, self.target_per_replica, signal=self.signal)


@dataclass(frozen=True, eq=False)
class Timeline:
    """Samples for the plot, one per trace step (or per sync, for steps shorter than a sync)."""

    times: FloatArray
    demand: FloatArray
    """Mean arrival rate over each sample, requests per second."""
    capacity: Mapping[str, FloatArray]
    """Ready capacity (ready replicas × capacity per replica) at each sample, by controller."""
    forecast_upper: FloatArray
    """The forecast the predictive HPA read last before each sample; NaN while warming up."""
    forecast_mean: FloatArray
    forecast_lead_seconds: float
    """A forecast read at ``t`` is for ``[t + lead, t + lead + window]``: plots shift it by this."""


@dataclass(frozen=True, eq=False)
class ReplayResult:
    trace: str
    settings: ReplaySettings
    start: float
    """Time the replay starts (the span's first step)."""
    end: float
    controllers: Mapping[str, ControllerMetrics]
    scalings: Mapping[str, tuple[tuple[float, int], ...]]
    """``(time, replicas)`` for each change of the replica count, by controller."""
    timeline: Timeline
    forecast_steps: int
    """Times the forecaster was stepped."""


def run_replay(trace: Trace, settings: ReplaySettings, *,
               factories: Mapping[str, Callable[[], Model]] = MODEL_FACTORIES,
               progress: Callable[[int, int], None] | None = None, workers: int = 1) -> ReplayResult:
    """Replay ``trace``; ``progress(done, total)`` now and then. With more than one of
    ``workers``, the forecast's selections and refits are made ahead in that many processes (see
    :mod:`forecasting.ahead`): the result is the same. Raises ValueError for settings the replay
    cannot simulate."""
    if workers == 1:
        return _replay(trace, settings, factories, progress, None)
    with workers_pool(workers) as pool:
        return _replay(trace, settings, factories, progress, pool)


def _replay(trace: Trace, settings: ReplaySettings, factories: Mapping[str, Callable[[], Model]],
            progress: Callable[[int, int], None] | None, pool: Executor | None) -> ReplayResult:
    service, sync = settings.service, settings.controller.sync_period_seconds
    demand = Demand.from_trace(trace, sync_seconds=sync)
    tick = demand.tick_seconds
    first = _first_tick(demand, trace, settings.span_seconds)
    sync_ticks, startup_ticks = ticks_in(sync, tick), ticks_in(service.startup_seconds, tick)
    window_ticks = max(1, ticks_in(settings.metric_window_seconds, tick))
    reactive_hpa, predictive_hpa = settings.hpas()
    bounds = {"min_replicas": reactive_hpa.min_replicas, "max_replicas": reactive_hpa.max_replicas}
    target = settings.target_per_replica
    initial = oracle_replicas(float(demand.rates[first]), target, **bounds)
    tracked, tracked_step = tracked_history(trace.rate_per_second(), trace.step_seconds, settings.forecast_step_seconds,
                                            settings.peak_seconds)
    forecast = WalkForwardForecast(tracked, step_seconds=tracked_step, start=trace.start,
                                   lead_seconds=service.startup_seconds, window_seconds=settings.window_seconds,
                                   quantile=settings.quantile, schedule=settings.schedule,
                                   calibration=settings.calibration, factories=factories, pool=pool,
                                   first_read=demand.time(first))
    hpas = {
        "reactive": HpaControl(HorizontalController(reactive_hpa, settings.controller),
                               Deployment(initial, startup_ticks=startup_ticks, ready_at=first), signal=settings.signal),
        "predictive": HpaControl(HorizontalController(predictive_hpa, settings.controller),
                                 Deployment(initial, startup_ticks=startup_ticks, ready_at=first), forecast,
                                 signal=settings.signal),
    }
    oracle = Deployment(initial, startup_ticks=0, ready_at=first)
    deployments = {"reactive": hpas["reactive"].deployment, "predictive": hpas["predictive"].deployment,
                   "oracle": oracle}
    tallies = {name: Tally(service.gpus_per_replica) for name in CONTROLLERS}
    scalings: dict[str, list[tuple[float, int]]] = {name: [] for name in CONTROLLERS}
    queues = dict.fromkeys(CONTROLLERS, 0.0)
    recorder = _Recorder(demand, first, max(sync_ticks, demand.ticks_per_step), service.capacity_per_replica,
                         service.startup_seconds)
    total = len(demand) - first
    for index in range(first, len(demand)):
        rate = float(demand.rates[index])
        if (index - first) % sync_ticks == 0:
            for name, control in hpas.items():
                if control.sync(demand, index, window_ticks=window_ticks):
                    tallies[name].scale_events += 1
                    scalings[name].append((demand.time(index), control.deployment.replicas))
        wanted = oracle_replicas(rate, target, **bounds)
        if wanted != oracle.replicas:
            oracle.scale_to(wanted, index)
            tallies["oracle"].scale_events += 1
            scalings["oracle"].append((demand.time(index), wanted))
        recorder.sample(index, deployments, hpas["predictive"].last_reading)
        for name, deployment in deployments.items():
            queues[name], utilisation = _serve_tick(service, deployment, tallies[name], queues[name], rate, index, tick)
            if name in hpas:
                hpas[name].state.queue, hpas[name].state.utilisation = queues[name], utilisation
        if progress is not None and ((index - first) % 2000 == 0 or index == len(demand) - 1):
            progress(index - first + 1, total)
    return ReplayResult(
        trace=trace.name, settings=settings, start=demand.time(first), end=demand.time(len(demand)),
        controllers={name: tallies[name].result() for name in CONTROLLERS},
        scalings={name: tuple(events) for name, events in scalings.items()},
        timeline=recorder.timeline(), forecast_steps=forecast.steps_run,
    )


def _serve_tick(service: ServiceSettings, deployment: Deployment, tally: Tally, queue: float, rate: float, index: int,
                tick: float) -> tuple[float, float]:
    """Tick ``index`` served by ``deployment``'s ready replicas, added to ``tally``: the queue at
    its end and the ready replicas' utilisation."""
    ready = deployment.ready(index)
    capacity = ready * service.capacity_per_replica
    flow = serve(queue, rate, capacity, tick, budget=service.queue_budget_seconds)
    utilisation = flow.served / (capacity * tick) if capacity > 0 else 0.0
    watts = service.gpus_per_replica * (ready * service.gpu_watts(utilisation)
                                        + (deployment.replicas - ready) * service.idle_watts)
    tally.add(flow, seconds=tick, replicas=deployment.replicas, underprovisioned=rate > capacity, watts=watts)
    return flow.queue_end, utilisation


@dataclass(frozen=True, eq=False)
class Stage:
    """What every run on one trace shares: its demand on the simulation's ticks, the replayed
    span's first tick, and the service, controller and metric settings."""

    demand: Demand
    first: int
    service: ServiceSettings
    controller: ControllerSettings
    metric_window_seconds: float
    signal: str = RATE

    @classmethod
    def of(cls, trace: Trace, settings: ReplaySettings) -> Stage:
        demand = Demand.from_trace(trace, sync_seconds=settings.controller.sync_period_seconds)
        return cls(demand, _first_tick(demand, trace, settings.span_seconds), settings.service, settings.controller,
                   settings.metric_window_seconds, settings.signal)

    @property
    def sync_ticks(self) -> int:
        return ticks_in(self.controller.sync_period_seconds, self.demand.tick_seconds)

    @property
    def window_ticks(self) -> int:
        return max(1, ticks_in(self.metric_window_seconds, self.demand.tick_seconds))

    def syncs(self) -> range:
        """The ticks at which the HPAs sync."""
        return range(self.first, len(self.demand), self.sync_ticks)


def simulate_hpa(stage: Stage, hpa: HpaSpec, target_per_replica: float,
                 forecast: ServedForecast | None = None) -> ControllerMetrics:
    """The replayed span under one HPA alone, as :func:`run_replay` runs it beside the others:
    starting in the steady state of the oracle at ``target_per_replica``, reading ``forecast``
    for ``requests_per_second_forecast``."""
    demand, first, service = stage.demand, stage.first, stage.service
    tick = demand.tick_seconds
    sync_ticks, window_ticks = stage.sync_ticks, stage.window_ticks
    initial = oracle_replicas(float(demand.rates[first]), target_per_replica, min_replicas=hpa.min_replicas,
                              max_replicas=hpa.max_replicas)
    control = HpaControl(HorizontalController(hpa, stage.controller),
                         Deployment(initial, startup_ticks=ticks_in(service.startup_seconds, tick), ready_at=first),
                         forecast, signal=stage.signal)
    tally, queue = Tally(service.gpus_per_replica), 0.0
    for index in range(first, len(demand)):
        if (index - first) % sync_ticks == 0 and control.sync(demand, index, window_ticks=window_ticks):
            tally.scale_events += 1
        queue, utilisation = _serve_tick(service, control.deployment, tally, queue, float(demand.rates[index]), index, tick)
        control.state.queue, control.state.utilisation = queue, utilisation
    return tally.result()


def simulate_oracle(stage: Stage, target_per_replica: float, *, min_replicas: int, max_replicas: int) -> ControllerMetrics:
    """The oracle of :func:`run_replay` alone: exactly the replicas that hold the target, ready at once."""
    demand, first, service = stage.demand, stage.first, stage.service
    bounds = {"min_replicas": min_replicas, "max_replicas": max_replicas}
    oracle = Deployment(oracle_replicas(float(demand.rates[first]), target_per_replica, **bounds), startup_ticks=0,
                        ready_at=first)
    tally, queue = Tally(service.gpus_per_replica), 0.0
    for index in range(first, len(demand)):
        rate = float(demand.rates[index])
        wanted = oracle_replicas(rate, target_per_replica, **bounds)
        if wanted != oracle.replicas:
            oracle.scale_to(wanted, index)
            tally.scale_events += 1
        queue, _ = _serve_tick(service, oracle, tally, queue, rate, index, demand.tick_seconds)
    return tally.result()


def _first_tick(demand: Demand, trace: Trace, span_seconds: float | None) -> int:
    """The first tick of the replayed span, on a step boundary."""
    if span_seconds is None:
        return 0
    steps = min(len(trace), max(1, round(span_seconds / trace.step_seconds)))
    return (len(trace) - steps) * demand.ticks_per_step


class _Recorder:
    """Samples the replay every ``every`` ticks for the timeline."""

    def __init__(self, demand: Demand, first: int, every: int, capacity_per_replica: float, lead: float) -> None:
        self._demand, self._first, self._every = demand, first, every
        self._capacity, self._lead = capacity_per_replica, lead
        self._times: list[float] = []
        self._rates: list[float] = []
        self._capacities: dict[str, list[float]] = {name: [] for name in CONTROLLERS}
        self._upper: list[float] = []
        self._mean: list[float] = []

    def sample(self, tick: int, deployments: Mapping[str, Deployment], reading: ForecastReading | None) -> None:
        if (tick - self._first) % self._every:
            return
        end = min(tick + self._every, len(self._demand))
        self._times.append(self._demand.time(tick))
        self._rates.append(float(np.mean(self._demand.rates[tick:end])))
        for name, deployment in deployments.items():
            self._capacities[name].append(deployment.ready(tick) * self._capacity)
        self._upper.append(float("nan") if reading is None else reading.upper)
        self._mean.append(float("nan") if reading is None else reading.mean)

    def timeline(self) -> Timeline:
        times = np.array(self._times)
        return Timeline(times, np.array(self._rates), {name: np.array(values) for name, values in self._capacities.items()},
                        np.array(self._upper), np.array(self._mean), self._lead)
