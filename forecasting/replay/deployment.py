"""The pods of one scaled workload through time, counted in simulation ticks.

A pod asked for at tick ``t`` serves from tick ``t + startup``. A scale-down removes the pods a
ReplicaSet removes first: those not ready yet, then the most recently ready (``ActivePods``
ordering in ``pkg/controller/controller_utils.go``). Since every pod takes the same start-up, pods
become ready in the order they were created, so the newest pod is always the first to go.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from forecasting.hpa import Pod


class Deployment:
    def __init__(self, replicas: int, *, startup_ticks: int, ready_at: int = 0) -> None:
        self._startup = startup_ticks
        self._ready_ticks: list[int] = [ready_at] * replicas
        """Tick from which each pod serves, in creation order (so non-decreasing)."""

    @property
    def replicas(self) -> int:
        """Pods that exist, ready or not: the scale's ``status.replicas``."""
        return len(self._ready_ticks)

    def ready(self, tick: int) -> int:
        return bisect_right(self._ready_ticks, tick)

    def scale_to(self, replicas: int, tick: int) -> None:
        if replicas > self.replicas:
            self._ready_ticks.extend([tick + self._startup] * (replicas - self.replicas))
        else:
            del self._ready_ticks[replicas:]

    def pods(self, tick: int, tick_seconds: float) -> Sequence[Pod]:
        """The pods as the HPA sees them: running, ready once started up."""
        pods = []
        for index, ready_tick in enumerate(self._ready_ticks):
            started = (ready_tick - self._startup) * tick_seconds
            ready = ready_tick <= tick
            pods.append(Pod(f"pod-{index}", ready=ready, started_at=started,
                            ready_changed_at=ready_tick * tick_seconds if ready else started))
        return pods
