"""An in-process adapter over the real test Prometheus, driven without sleeping.

The store's background refresher is off; tests call ``refresh_now()`` and move the injected clock.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from adapter.assembly import assemble
from adapter.config import Settings, settings_from_mapping
from adapter.presets import resolve_rules
from adapter.prometheus import PrometheusSource
from adapter.server import CONTEXT
from adapter.store import MetricStore
from adapter.tracker import ForecastTracker


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


@asynccontextmanager
async def running_adapter(settings: Settings) -> AsyncIterator[RunningAdapter]:
    assert settings.prometheus is not None
    rules = resolve_rules(settings, source="test config")
    source = PrometheusSource.open(settings.prometheus, max_concurrency=settings.refresh.concurrency)
    clock = ManualClock()
    adapter = assemble(
        rules=rules, source=source, refresh=settings.refresh, forecasts=settings.forecasts, clock=clock,
        refresh_in_background=False,
    )

    async with TestClient(TestServer(adapter.app)) as client:
        yield RunningAdapter(client=client, store=adapter.store, tracker=adapter.tracker, clock=clock, settings=settings)
