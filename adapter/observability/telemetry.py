"""The adapter's own metrics, on an injected registry (never the process-global one)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from adapter.kubernetes.errors import SourceError
from adapter.observability.hot_path_stats import HotPathStats
from adapter.sources.protocol import RangeSeries, Sample, Source

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass(frozen=True)
class Telemetry:
    """Every series the adapter exports about itself."""

    registry: CollectorRegistry
    hot_path: HotPathStats
    source_queries: Counter
    source_errors: Counter
    source_duration: Histogram
    tracked_keys: Gauge
    rejected_keys: Counter
    non_finite: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Telemetry:
        hot_path = HotPathStats(bounds=LATENCY_BUCKETS)
        registry.register(hot_path)
        return cls(
            registry=registry,
            hot_path=hot_path,
            source_queries=Counter(
                "foresight_source_queries", "Queries sent to the data source", ["kind"], registry=registry
            ),
            source_errors=Counter(
                "foresight_source_query_errors", "Queries to the data source that failed", ["kind"], registry=registry
            ),
            source_duration=Histogram(
                "foresight_source_query_duration_seconds", "Data source query latency", ["kind"],
                buckets=LATENCY_BUCKETS, registry=registry,
            ),
            tracked_keys=Gauge(
                "foresight_tracked_keys", "(metric, namespace, selector) keys kept fresh", registry=registry
            ),
            rejected_keys=Counter(
                "foresight_rejected_keys", "New keys refused because a cap was reached", ["scope"], registry=registry
            ),
            non_finite=Counter(
                "foresight_non_finite_results", "NaN/Inf/empty results and the policy applied",
                ["metric", "kind", "policy"], registry=registry,
            ),
        )


class InstrumentedSource:
    """Counts and times every query of the wrapped source."""

    def __init__(self, inner: Source, telemetry: Telemetry) -> None:
        self._inner = inner
        self._telemetry = telemetry

    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        started = time.perf_counter()
        self._telemetry.source_queries.labels("instant").inc()
        try:
            return await self._inner.instant(query, at=at)
        except SourceError:
            self._telemetry.source_errors.labels("instant").inc()
            raise
        finally:
            self._telemetry.source_duration.labels("instant").observe(time.perf_counter() - started)

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        started = time.perf_counter()
        self._telemetry.source_queries.labels("range").inc()
        try:
            return await self._inner.range(query, start=start, end=end, step=step)
        except SourceError:
            self._telemetry.source_errors.labels("range").inc()
            raise
        finally:
            self._telemetry.source_duration.labels("range").observe(time.perf_counter() - started)

    async def start(self) -> None:
        await self._inner.start()

    async def close(self) -> None:
        await self._inner.close()
