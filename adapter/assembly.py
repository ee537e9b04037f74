"""Wires a source, the rules and the store into an application (shared by ``serve`` and ``demo``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry

from adapter.config import MetricRule, RefreshSettings
from adapter.server import create_app
from adapter.source import Source
from adapter.store import MetricStore
from adapter.telemetry import InstrumentedSource, Telemetry


def assemble(
    *,
    rules: Mapping[str, MetricRule],
    source: Source,
    refresh: RefreshSettings,
    clock: Callable[[], float] = time.time,
    banner: str | None = None,
    refresh_in_background: bool = True,
) -> tuple[web.Application, MetricStore]:
    """A ready-to-run application and its store (tests drive the store directly)."""
    telemetry = Telemetry.create(CollectorRegistry(auto_describe=True))
    instrumented = InstrumentedSource(source, telemetry)
    store = MetricStore(instrumented, settings=refresh, telemetry=telemetry, clock=clock)
    app = create_app(
        rules=rules,
        source=instrumented,
        store=store,
        telemetry=telemetry,
        clock=clock,
        banner=banner,
        refresh_in_background=refresh_in_background,
    )
    return app, store
