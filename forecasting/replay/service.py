"""The served workload: a fluid FIFO queue in front of the ready replicas, and their GPU power.

Within one tick of ``seconds`` the arrival rate λ and the ready capacity c (ready replicas × the
requests per second one replica serves within the SLO) are constant, so the backlog is linear:
``Q(s) = max(0, Q₀ + (λ − c)·s)``. Every request is served once, in arrival order: what arrives
beyond the capacity waits, nothing is dropped (arrivals = served + Δqueue, exactly).

A request arriving at ``s`` waits ``Q(s) / c`` — the work ahead of it at the capacity of that
moment — and then takes the service latency; it is over the SLO when that wait exceeds the
budget ``slo − service latency``, i.e. when ``Q(s) > c · budget``. With no ready replica every
arrival is over the SLO. The measure of such ``s`` in the tick is exact for the linear backlog; the
only approximation is that a capacity change within ``budget`` after an arrival is not seen.

GPU power per GPU rises linearly with utilisation between idle and maximum watts; a replica still
starting holds its GPUs at idle power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSettings:
    capacity_per_replica: float
    """Requests per second one ready replica serves within the latency SLO."""
    startup_seconds: float
    """From the HPA asking for a replica to that replica serving (image pull, model load, warm-up)."""
    slo_latency_seconds: float = 0.2
    service_latency_seconds: float | None = None
    """Latency of a request that does not queue; half the SLO when not given."""
    gpus_per_replica: int = 1
    idle_watts: float = 100.0
    """Power of one GPU with nothing to do (and of the GPUs of a replica still starting)."""
    max_watts: float = 700.0
    """Power of one fully used GPU."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.capacity_per_replica) and self.capacity_per_replica > 0):
            raise ValueError(f"capacity per replica must be positive, not {self.capacity_per_replica}")
        if not (math.isfinite(self.startup_seconds) and self.startup_seconds >= 0):
            raise ValueError(f"start-up must be a non-negative duration, not {self.startup_seconds}")
        if not self.slo_latency_seconds > 0:
            raise ValueError(f"the latency SLO must be positive, not {self.slo_latency_seconds}")
        if not 0 <= self.service_latency < self.slo_latency_seconds:
            raise ValueError(f"the service latency ({self.service_latency} s) must be below the SLO "
                             f"({self.slo_latency_seconds} s)")
        if self.gpus_per_replica < 1 or not 0 <= self.idle_watts <= self.max_watts:
            raise ValueError("need at least one GPU per replica and 0 ≤ idle watts ≤ max watts")

    @property
    def service_latency(self) -> float:
        given = self.service_latency_seconds
        return self.slo_latency_seconds / 2 if given is None else given

    @property
    def queue_budget_seconds(self) -> float:
        """How long a request may wait in the queue and still meet the SLO."""
        return self.slo_latency_seconds - self.service_latency

    def gpu_watts(self, utilisation: float) -> float:
        return self.idle_watts + (self.max_watts - self.idle_watts) * min(max(utilisation, 0.0), 1.0)


@dataclass(frozen=True)
class Flow:
    """One tick of the queue."""

    arrived: float
    served: float
    late: float
    """Requests that arrived in the tick and will be served over the SLO."""
    queue_end: float
    peak_queue: float


def serve(queue: float, rate: float, capacity: float, seconds: float, *, budget: float) -> Flow:
    """The tick ``[0, seconds)`` with backlog ``queue`` at its start, arrivals at ``rate`` and
    ready capacity ``capacity`` (both requests per second)."""
    arrived = rate * seconds
    served = min(queue + arrived, capacity * seconds)
    queue_end = max(queue + arrived - served, 0.0)
    return Flow(arrived, served, rate * _late_seconds(queue, rate, capacity, seconds, budget), queue_end,
                max(queue, queue_end))


def _late_seconds(queue: float, rate: float, capacity: float, seconds: float, budget: float) -> float:
    """Measure of the arrival instants ``s`` in ``[0, seconds)`` with ``Q(s) > capacity · budget``."""
    if rate <= 0:
        return 0.0
    threshold = capacity * budget
    slope = rate - capacity
    if slope == 0:
        return seconds if queue > threshold else 0.0
    if slope > 0:  # the backlog grows: late from when it passes the threshold
        return seconds - min(max((threshold - queue) / slope, 0.0), seconds)
    return min(max((queue - threshold) / -slope, 0.0), seconds)  # it drains: late until below it
