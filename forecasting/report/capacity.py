"""The per-replica capacity measured from history: the request rate per replica at which the p99
latency crosses the SLO.

Each step of history with requests, a replica count and a p99 gives a sample (rate per replica,
p99). The samples are put in :data:`BINS` bins of equal width over the rates seen, and each bin
with at least :data:`MIN_SAMPLES` samples is summarised by its median p99, which one slow minute
cannot move. The capacity is where the bins' medians first cross the SLO, rising: linearly between
the centre of the last bin under it and the first over it. Where no bin is over the SLO the load
never reached the capacity, and where the first bin already is, it never went below it: neither
says where the SLO is crossed, so both are refused rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.core import FloatArray
from forecasting.report.settings import ReportError

BINS = 20
MIN_SAMPLES = 3
"""Bins with fewer samples are left out: a median of one or two is an anecdote."""


@dataclass(frozen=True)
class CapacityBin:
    low: float
    """Requests per second per replica, the bin's lower edge."""
    high: float
    samples: int
    median_p99_seconds: float


@dataclass(frozen=True, eq=False)
class MeasuredCapacity:
    requests_per_second: float
    """Per replica, where the median p99 crosses the SLO."""
    slo_latency_seconds: float
    bins: tuple[CapacityBin, ...]
    """The bins the crossing rests on (those with enough samples), by rate rising."""
    rate_per_replica: FloatArray
    """Every sample's rate per replica..."""
    p99_seconds: FloatArray
    """...and its p99."""


def measure_capacity(requests_per_second: FloatArray, replicas: FloatArray, p99_seconds: FloatArray, *,
                     slo_latency_seconds: float, name: str) -> MeasuredCapacity:
    """The capacity per replica of the workload ``name`` from its aligned histories; raises
    ReportError when they do not show where the SLO is crossed."""
    usable = (np.isfinite(requests_per_second) & np.isfinite(replicas) & np.isfinite(p99_seconds)
              & (replicas > 0) & (requests_per_second > 0))
    rates = requests_per_second[usable] / replicas[usable]
    p99 = p99_seconds[usable]
    if rates.size < BINS * MIN_SAMPLES // 2:
        raise ReportError(f"{name}: {rates.size} steps with requests, replicas and p99 latency are too few to "
                          f"measure the capacity per replica; give --capacity-per-replica")
    edges = np.linspace(float(rates.min()), float(rates.max()), BINS + 1)
    which = np.clip(np.searchsorted(edges, rates, side="right") - 1, 0, BINS - 1)
    bins = tuple(CapacityBin(float(edges[index]), float(edges[index + 1]), int((which == index).sum()),
                             float(np.median(p99[which == index])))
                 for index in range(BINS) if (which == index).sum() >= MIN_SAMPLES)
    over = [index for index, capacity_bin in enumerate(bins) if capacity_bin.median_p99_seconds > slo_latency_seconds]
    slo_ms = f"{slo_latency_seconds * 1000:g} ms"
    if not over:
        raise ReportError(f"{name}: the p99 latency stayed within the SLO of {slo_ms} up to "
                          f"{float(rates.max()):.4g} requests/s per replica, so the history does not show the capacity; "
                          f"give --capacity-per-replica")
    if over[0] == 0:
        raise ReportError(f"{name}: the p99 latency was over the SLO of {slo_ms} even at the lowest load seen "
                          f"({float(rates.min()):.4g} requests/s per replica); give --capacity-per-replica")
    below, above = bins[over[0] - 1], bins[over[0]]
    x0, x1 = (below.low + below.high) / 2, (above.low + above.high) / 2
    y0, y1 = below.median_p99_seconds, above.median_p99_seconds
    capacity = x0 + (x1 - x0) * (slo_latency_seconds - y0) / (y1 - y0)
    return MeasuredCapacity(capacity, slo_latency_seconds, bins, rates, p99)
