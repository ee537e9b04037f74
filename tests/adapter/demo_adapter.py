"""An adapter over the embedded demo fleet, on a clock the test controls.

The demo fleet and its PromQL evaluator are Foresight's own code (the source ``foresight demo``
serves), not a stand-in: these tests need no Prometheus.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from adapter.app.assembly import assemble
from adapter.serving.server import CONTEXT
from adapter.settings.config import ForecastSettings, MetricRule, RefreshSettings, SignalSettings
from adapter.signals.presets import preset_rules
from adapter.sources.demo.fleet import DemoFleet, default_fleet
from adapter.sources.demo.source import DemoSource
from adapter.tracking.store import MetricStore
from adapter.tracking.tracker import ForecastTracker

START = 1_700_000_000.0
HISTORY = 3600.0


class SteppedClock:
    """Time that moves only when the test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class DemoAdapter:
    client: TestClient[Any, Any]
    store: MetricStore
    tracker: ForecastTracker | None
    clock: SteppedClock
    fleet: DemoFleet

    async def get(self, path: str, *, status: int, **kwargs: Any) -> Any:
        response = await self.client.get(path, **kwargs)
        assert response.status == status, await response.text()
        assert response.content_type == "application/json"
        return await response.json()

    def sample(self, name: str, **labels: str) -> float:
        registry = self.client.server.app[CONTEXT].telemetry.registry
        return registry.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def demo_adapter(
    extra_rules: Mapping[str, MetricRule] | None = None,
    *,
    refresh: RefreshSettings | None = None,
    forecasts: ForecastSettings | None = None,
) -> AsyncIterator[DemoAdapter]:
    clock = SteppedClock(START)
    fleet = default_fleet(start=START - HISTORY, seed=1)
    source = DemoSource(fleet, clock=clock)
    rules = {rule.name: rule for rule in preset_rules(SignalSettings())}
    rules.update(extra_rules or {})
    adapter = assemble(
        rules=rules, source=source, refresh=refresh or RefreshSettings(), forecasts=forecasts, clock=clock,
        refresh_in_background=False,
    )
    async with TestClient(TestServer(adapter.app)) as client:
        yield DemoAdapter(client=client, store=adapter.store, tracker=adapter.tracker, clock=clock, fleet=fleet)
