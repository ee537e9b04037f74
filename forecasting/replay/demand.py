"""A trace laid on the simulation's ticks, and the request rate a monitoring system would report.

The requests of each trace step arrive evenly over it. The tick is the largest duration that
divides both the trace's step and the HPA's sync period, so demand is constant within a tick and
every sync falls on a tick boundary. A step with no record in the trace brings no requests, and
the request-rate metric has no value where its whole window has no record (the HPA then sees an
error, as it would from a monitoring gap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from forecasting.core import FloatArray
from forecasting.traces import Trace

_MILLI = 1000


def tick_seconds(step_seconds: float, sync_seconds: float) -> float:
    """The largest whole number of milliseconds dividing both durations."""
    step, sync = round(step_seconds * _MILLI), round(sync_seconds * _MILLI)
    if step <= 0 or sync <= 0:
        raise ValueError(f"step and sync period must be at least 1 ms, not {step_seconds} and {sync_seconds}")
    return math.gcd(step, sync) / _MILLI


def ticks_in(seconds: float, tick: float) -> int:
    """Whole ticks covering ``seconds`` (rounded up, so a start-up is never shortened)."""
    return max(0, math.ceil(seconds / tick - 1e-9))


@dataclass(frozen=True, eq=False)
class Demand:
    tick_seconds: float
    ticks_per_step: int
    start: float
    """Time of tick 0, the trace's first step."""
    rates: FloatArray
    """Requests per second in each tick; 0 where the trace has no record."""
    known: np.ndarray
    """Whether the trace has a record for each tick."""
    _arrivals: FloatArray = field(init=False, repr=False)
    _known_ticks: np.ndarray = field(init=False, repr=False)

    @classmethod
    def from_trace(cls, trace: Trace, *, sync_seconds: float) -> Demand:
        tick = tick_seconds(trace.step_seconds, sync_seconds)
        per_step = round(trace.step_seconds / tick)
        rates = np.repeat(trace.rate_per_second(), per_step)
        known = np.isfinite(rates)
        return cls(tick, per_step, trace.start, np.where(known, rates, 0.0), known)

    def __post_init__(self) -> None:
        counted = np.concatenate([[0.0], np.cumsum(self.rates)])
        object.__setattr__(self, "_arrivals", counted)
        object.__setattr__(self, "_known_ticks", np.concatenate([[0], np.cumsum(self.known)]))

    def __len__(self) -> int:
        return int(self.rates.shape[0])

    def time(self, tick: int) -> float:
        return self.start + tick * self.tick_seconds

    def rate_over(self, end_tick: int, window_ticks: int) -> float | None:
        """The mean rate over the recorded ticks of ``[end_tick − window_ticks, end_tick)``, or
        None when none of them is recorded."""
        begin = max(0, end_tick - window_ticks)
        end = min(end_tick, len(self))
        known = int(self._known_ticks[end] - self._known_ticks[begin]) if end > begin else 0
        if known == 0:
            return None
        return float(self._arrivals[end] - self._arrivals[begin]) / known
