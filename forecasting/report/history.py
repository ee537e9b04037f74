"""One workload's history as a report reads it: its demand as a trace, and where Prometheus has
them, its p99 latency and replica count at the same steps (what the capacity is measured from)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.core import DAY_SECONDS, FloatArray, Series
from forecasting.report.settings import ReportError, ReportSettings
from forecasting.traces import Trace

MIN_HISTORY_SECONDS = DAY_SECONDS
"""The least known history a report rests on: one daily cycle, the shortest the models can learn
and the replay can warm its forecaster up on."""


@dataclass(frozen=True, eq=False)
class WorkloadHistory:
    name: str
    """What the report calls the workload: the trace's name, or ``namespace/selector``."""
    demand: Trace
    latency_p99_seconds: FloatArray | None = None
    """p99 latency at each step of ``demand``, NaN where unknown; None without latency history."""
    replicas: FloatArray | None = None
    """Replicas serving at each step of ``demand``, NaN where unknown."""

    def __post_init__(self) -> None:
        for label, values in (("latency", self.latency_p99_seconds), ("replicas", self.replicas)):
            if values is not None and len(values) != len(self.demand):
                raise ValueError(f"{self.name}: the {label} history has {len(values)} steps, demand {len(self.demand)}")

    def series(self, step_seconds: float) -> Series:
        """Demand in requests per second at ``step_seconds`` (the mean over each step; a finer
        step than the trace's keeps the trace's)."""
        trace = self.demand
        factor = max(1, round(step_seconds / trace.step_seconds))
        rates = trace.rate_per_second()
        whole = len(rates) // factor * factor
        start = trace.start + (len(rates) - whole) * trace.step_seconds  # the newest steps are whole
        grouped = rates[len(rates) - whole:].reshape(-1, factor)
        known = np.isfinite(grouped).sum(axis=1)
        means = np.where(known > 0, np.nansum(grouped, axis=1) / np.maximum(known, 1), np.nan)
        return Series(means, trace.step_seconds * factor, start)


def check_history(history: WorkloadHistory, settings: ReportSettings) -> None:
    """Refuse a history too short for a day's cycle or for the horizon asked for, or without demand."""
    trace = history.demand
    known = np.isfinite(trace.requests)
    span = known.sum() * trace.step_seconds
    if not known.any() or np.nansum(trace.requests) <= 0:
        raise ReportError(f"{history.name}: the history has no requests")
    if span < MIN_HISTORY_SECONDS:
        raise ReportError(f"{history.name}: {span / 3600:.1f} h of history with data; a report needs at least "
                          f"{MIN_HISTORY_SECONDS / 3600:g} h (one daily cycle)")
    if settings.horizon_seconds > trace.duration_seconds:
        raise ReportError(f"{history.name}: a horizon of {settings.horizon_seconds / 3600:g} h is longer than the "
                          f"{trace.duration_seconds / 3600:.1f} h of history it would rest on")
