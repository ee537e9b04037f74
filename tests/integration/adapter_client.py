"""An in-process adapter over the real test Prometheus, driven without sleeping.

The store's background refresher is off; tests call ``refresh_now()`` and move the injected clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from adapter.app.assembly import assemble
from adapter.keda.serving import ScalerListener, ScalerServer
from adapter.serving.server import CONTEXT
from adapter.settings.config import Settings, settings_from_mapping
from adapter.signals.presets import resolve_rules
from adapter.sources.prometheus import PrometheusSource
from adapter.sources.protocol import RangeSeries, Sample, Source
from adapter.tracking.store import MetricStore
from adapter.tracking.tracker import ForecastTracker

from .prometheus import PrometheusServer
from .workload_exporter import TIMESTAMP_SERIES


class ManualClock:
    """Wall-clock time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class RunningAdapter:
    client: TestClient[Any, Any]
    store: MetricStore
    tracker: ForecastTracker | None
    clock: ManualClock
    settings: Settings
    scaler: ScalerServer | None = None

    def sample(self, name: str, **labels: str) -> float:
        """The current value of one of the adapter's own series (0 when never incremented)."""
        registry = self.client.server.app[CONTEXT].telemetry.registry
        return registry.get_sample_value(name, labels) or 0.0

    async def get_json(self, path: str, *, status: int = 200, **kwargs: Any) -> Any:
        response = await self.client.get(path, **kwargs)
        body = await response.json()
        assert response.status == status, body
        assert response.content_type == "application/json"
        return body


def adapter_settings(prometheus_url: str, overrides: Mapping[str, Any] | None = None) -> Settings:
    document: dict[str, Any] = {"prometheus": {"url": prometheus_url, "timeout": "5s"}, **(overrides or {})}
    return settings_from_mapping(document, source="test config")


class AtWholeWindows:
    """The real Prometheus source, with instant queries that name no time evaluated at the newest
    time whose rate window starts and ends on a scrape (:meth:`PrometheusServer.whole_window_time`)
    instead of at "now", where a gap at the window's start (the start-up after the backfill, a scrape
    that timed out on a loaded machine) makes rates come out low. For tests that compare rates with
    the ground truth. While Prometheus cannot be reached, queries go to it unchanged and fail as
    they would."""

    def __init__(self, source: Source, prometheus: PrometheusServer, window_s: int) -> None:
        self._source = source
        self._prometheus = prometheus
        self._window_s = window_s

    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        if at is None:
            try:
                at = await asyncio.to_thread(self._prometheus.whole_window_time, TIMESTAMP_SERIES, self._window_s)
            except OSError:
                pass
        return await self._source.instant(query, at=at)

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        return await self._source.range(query, start=start, end=end, step=step)

    async def start(self) -> None:
        await self._source.start()

    async def close(self) -> None:
        await self._source.close()


@asynccontextmanager
async def running_adapter(
    settings: Settings, *, exact_rates_from: PrometheusServer | None = None, keda: ScalerListener | None = None
) -> AsyncIterator[RunningAdapter]:
    """The adapter on ``settings``; with ``exact_rates_from`` (the Prometheus of the settings), its
    instant queries go through :class:`AtWholeWindows`; with ``keda``, the KEDA scaler listens there
    too."""
    assert settings.prometheus is not None
    rules = resolve_rules(settings, source="test config")
    source: Source = PrometheusSource.open(settings.prometheus, max_concurrency=settings.refresh.concurrency)
    if exact_rates_from is not None:
        source = AtWholeWindows(source, exact_rates_from, int(settings.signals.window))
    clock = ManualClock()
    adapter = assemble(
        rules=rules, source=source, refresh=settings.refresh, forecasts=settings.forecasts, clock=clock,
        refresh_in_background=False, keda=keda,
    )

    async with TestClient(TestServer(adapter.app)) as client:
        yield RunningAdapter(
            client=client, store=adapter.store, tracker=adapter.tracker, clock=clock, settings=settings,
            scaler=adapter.scaler,
        )
