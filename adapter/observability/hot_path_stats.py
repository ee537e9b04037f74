"""Request and cache counters for the hot path, exported through the Collector protocol.

prometheus_client's metric children take a lock on every update, which costs more than serving
a cached value. These counters are plain integers updated on the event loop thread and turned
into metric families only when ``/metrics`` is scraped (also on the event loop thread).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass
class _Latency:
    buckets: list[int]
    total_seconds: float = 0.0
    count: int = 0


@dataclass(eq=False)  # registered by identity
class HotPathStats(Collector):
    """HTTP requests by route, metric and code, their latency by route, and store lookups by
    outcome.

    ``metric`` is the served metric a request asked for, or empty: only names the adapter serves
    become label values, so a client cannot grow the series by asking for names of its own.
    """

    bounds: Sequence[float]
    _requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    _latency: dict[str, _Latency] = field(default_factory=dict)
    _lookups: Counter[str] = field(default_factory=Counter)

    def request(self, route: str, metric: str, status: int, seconds: float) -> None:
        self._requests[(route, metric, status)] += 1
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = _Latency(buckets=[0] * (len(self.bounds) + 1))
        latency.buckets[bisect_left(self.bounds, seconds)] += 1
        latency.total_seconds += seconds
        latency.count += 1

    def lookup(self, result: str) -> None:
        self._lookups[result] += 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "foresight_http_requests",
            "HTTP requests served, by route, metric and code",
            labels=["path", "metric", "code"],
        )
        for (route, metric, status), count in sorted(self._requests.items()):
            requests.add_metric([route, metric, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "foresight_http_request_duration_seconds", "HTTP request latency by route", labels=["path"]
        )
        for route, stats in sorted(self._latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, self.bounds), "+Inf"], stats.buckets, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([route], buckets, stats.total_seconds)
        yield latency
        lookups = CounterMetricFamily(
            "foresight_cache_lookups", "Metric reads by outcome (hit, miss, stale)", labels=["result"]
        )
        for result in ("hit", "miss", "stale"):
            lookups.add_metric([result], self._lookups[result])
        yield lookups
