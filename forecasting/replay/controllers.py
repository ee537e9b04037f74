"""The three ways of provisioning a replay compares, on the same trace and service model.

* **reactive**: an HPA on ``requests_per_second`` (or tokens per second, for a replay of a
  trace's tokens) with an ``AverageValue`` target of the target
  share (0.8) × the capacity per replica and no ``behavior`` — what a user configures today;
* **predictive**: the same HPA plus ``requests_per_second_forecast`` with the same target, so it
  scales on the larger of the two;
* **oracle**: exactly ``ceil(demand / target)`` ready replicas at every moment, with no start-up
  delay and no stabilisation — the least capacity that holds the target, a lower bound.

The HPAs read what the adapter would serve them (see :class:`WorkloadView`) and run the
controller's own algorithm (:mod:`forecasting.hpa`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from forecasting.hpa import (
    HorizontalController,
    HpaSpec,
    MetricSpec,
    MetricTarget,
    MetricUnavailable,
    Pod,
    PodMetric,
    Scale,
    to_milli,
)
from forecasting.replay.demand import Demand
from forecasting.replay.deployment import Deployment
from forecasting.replay.forecasts import ForecastReading, ServedForecast

RATE = "requests_per_second"
QUEUE = "queue_depth"
UTILIZATION = "gpu_utilization"
SIGNALS = {"requests": RATE, "prompt_tokens": "prompt_tokens_per_second",
           "generation_tokens": "generation_tokens_per_second"}
"""The demand signal a replay's HPAs scale on, by the trace column it replays."""


def demand_unit(signal: str) -> str:
    """What ``signal`` counts, for reports: ``req`` or ``token``."""
    return "req" if signal == RATE else "token"


def forecast_of(signal: str) -> str:
    """The name the adapter serves ``signal``'s forecast under."""
    return f"{signal}_forecast"


def default_hpa(target_per_replica: float, *, min_replicas: int, max_replicas: int, signal: str = RATE) -> HpaSpec:
    """The reactive HPA a user would write: the demand signal (requests or tokens per second),
    ``AverageValue`` target."""
    metric = MetricSpec("External", signal, MetricTarget("AverageValue", to_milli(target_per_replica)))
    return HpaSpec(max_replicas=max_replicas, metrics=(metric,), min_replicas=min_replicas)


def reactive_and_predictive(hpa: HpaSpec, target_per_replica: float, *,
                            signal: str = RATE) -> tuple[HpaSpec, HpaSpec]:
    """The HPA without any forecast metric, and with the demand ``signal``'s forecast beside each
    of its metrics (with its target), or beside the others at ``target_per_replica``.

    Raises ValueError naming a metric the replay cannot simulate.
    """
    forecast = forecast_of(signal)
    simulated = (signal, forecast, QUEUE, UTILIZATION)
    for metric in hpa.metrics:
        if metric.name not in simulated or metric.source == "Resource" or (metric.name == forecast and metric.source != "External"):
            raise ValueError(f"metric {metric.source} {metric.name!r} is not simulated; a replay serves the External "
                             f"metrics {', '.join(simulated)} and the Pods metrics {', '.join(m for m in simulated if m != forecast)}")
    reactive_metrics = tuple(metric for metric in hpa.metrics if metric.name != forecast)
    if not reactive_metrics:
        raise ValueError(f"the HPA has only {forecast} metrics; the reactive controller needs another")
    forecasts = tuple(MetricSpec("External", forecast, metric.target) for metric in reactive_metrics if metric.name == signal)
    if not forecasts:
        forecasts = (MetricSpec("External", forecast, MetricTarget("AverageValue", to_milli(target_per_replica))),)
    return replace(hpa, metrics=reactive_metrics), replace(hpa, metrics=reactive_metrics + forecasts)


@dataclass
class ServiceState:
    """What the service did in the last tick, for the metrics that describe it."""

    queue: float = 0.0
    utilisation: float = 0.0


class WorkloadView:
    """What the adapter serves one HPA at one sync, and the pods the HPA lists."""

    def __init__(self, demand: Demand, tick: int, *, window_ticks: int, deployment: Deployment, state: ServiceState,
                 forecast: ServedForecast | None, signal: str = RATE) -> None:
        self._demand, self._tick, self._window, self._signal = demand, tick, window_ticks, signal
        self._deployment, self._state, self._forecast = deployment, state, forecast
        self.reading: ForecastReading | None = None
        """The forecast read at this sync, if the HPA asked for one."""

    def external(self, name: str) -> float:
        rate = self._demand.rate_over(self._tick, self._window)
        if rate is None:  # no data in the window: the adapter answers an error, forecasts too
            raise MetricUnavailable(f"{name}: no data")
        if name == self._signal:
            return rate
        if name == forecast_of(self._signal):
            if self._forecast is None:
                raise MetricUnavailable(f"{name} is not served to this controller")
            self.reading = self._forecast.at(self._demand.time(self._tick))
            return rate if self.reading is None else self.reading.upper  # warming: the current value
        if name == QUEUE:
            return self._state.queue
        if name == UTILIZATION:
            return 100.0 * self._state.utilisation
        raise MetricUnavailable(f"{name} is not simulated")

    def per_pod(self, spec: MetricSpec) -> Mapping[str, PodMetric]:
        """Ready pods share the load evenly; a pod still starting has no metrics yet."""
        total = self.external(spec.name)
        ready = self._deployment.ready(self._tick)
        share = total if spec.name == UTILIZATION else total / ready if ready else 0.0
        now = self._demand.time(self._tick)
        window = self._window * self._demand.tick_seconds
        return {pod.name: PodMetric(to_milli(share), now, window) for pod in self.pods() if pod.ready}

    def pods(self) -> Sequence[Pod]:
        return self._deployment.pods(self._tick, self._demand.tick_seconds)


class HpaControl:
    """A Deployment scaled by one HPA."""

    def __init__(self, controller: HorizontalController, deployment: Deployment,
                 forecast: ServedForecast | None = None, *, signal: str = RATE) -> None:
        self.controller, self.deployment, self.forecast, self.signal = controller, deployment, forecast, signal
        self.state = ServiceState()
        self.last_reading: ForecastReading | None = None

    def sync(self, demand: Demand, tick: int, *, window_ticks: int) -> bool:
        """One HPA sync at ``tick``; whether it rescaled."""
        view = WorkloadView(demand, tick, window_ticks=window_ticks, deployment=self.deployment, state=self.state,
                            forecast=self.forecast, signal=self.signal)
        replicas = self.deployment.replicas
        decision = self.controller.sync(Scale(replicas, replicas), view, now=demand.time(tick))
        if self.forecast is not None:
            self.last_reading = view.reading
        if decision.rescaled:
            self.deployment.scale_to(decision.replicas, tick)
        return decision.rescaled


def oracle_replicas(rate: float, target_per_replica: float, *, min_replicas: int, max_replicas: int) -> int:
    """The fewest replicas that keep ``rate`` at or under the target, within the HPA's bounds."""
    return min(max(math.ceil(rate / target_per_replica - 1e-12), min_replicas), max_replicas)
