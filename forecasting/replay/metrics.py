"""What a replay measures for each controller, accumulated tick by tick."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from forecasting.replay.service import Flow

JOULES_PER_KWH = 3.6e6


class ControllerJson(TypedDict):
    slo_violation_share: float
    underprovisioned_minutes: float
    peak_queue: float
    replica_hours: float
    gpu_hours: float
    energy_kwh: float
    energy_per_request_joules: float
    scale_events: int


@dataclass(frozen=True)
class ControllerMetrics:
    slo_violation_share: float
    """Share of the requests that arrived and were (or will be) served over the latency SLO."""
    underprovisioned_minutes: float
    """Time during which the ready capacity was below the arrival rate."""
    peak_queue: float
    """Most requests waiting at once."""
    replica_hours: float
    """Replicas that existed, ready or starting, over time: starting ones hold their GPUs too."""
    gpu_hours: float
    energy_kwh: float
    energy_per_request_joules: float
    """GPU energy over the requests served; 0 when none was."""
    scale_events: int
    """Times the replica count was changed."""
    requests: float
    served: float
    queued_at_end: float

    def to_json(self) -> ControllerJson:
        return ControllerJson(
            slo_violation_share=self.slo_violation_share, underprovisioned_minutes=self.underprovisioned_minutes,
            peak_queue=self.peak_queue, replica_hours=self.replica_hours, gpu_hours=self.gpu_hours,
            energy_kwh=self.energy_kwh, energy_per_request_joules=self.energy_per_request_joules,
            scale_events=self.scale_events,
        )


class Tally:
    """Running sums for one controller."""

    def __init__(self, gpus_per_replica: int) -> None:
        self._gpus = gpus_per_replica
        self.arrived = self.served = self.late = 0.0
        self.underprovisioned_seconds = self.replica_seconds = self.joules = 0.0
        self.peak_queue = self.queue = 0.0
        self.scale_events = 0

    def add(self, flow: Flow, *, seconds: float, replicas: int, underprovisioned: bool, watts: float) -> None:
        self.arrived += flow.arrived
        self.served += flow.served
        self.late += flow.late
        self.queue = flow.queue_end
        self.peak_queue = max(self.peak_queue, flow.peak_queue)
        self.underprovisioned_seconds += seconds if underprovisioned else 0.0
        self.replica_seconds += replicas * seconds
        self.joules += watts * seconds

    def result(self) -> ControllerMetrics:
        replica_hours = self.replica_seconds / 3600
        return ControllerMetrics(
            slo_violation_share=self.late / self.arrived if self.arrived > 0 else 0.0,
            underprovisioned_minutes=self.underprovisioned_seconds / 60,
            peak_queue=self.peak_queue,
            replica_hours=replica_hours,
            gpu_hours=replica_hours * self._gpus,
            energy_kwh=self.joules / JOULES_PER_KWH,
            energy_per_request_joules=self.joules / self.served if self.served > 0 else 0.0,
            scale_events=self.scale_events,
            requests=self.arrived,
            served=self.served,
            queued_at_end=self.queue,
        )
