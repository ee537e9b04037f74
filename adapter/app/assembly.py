"""Wires a source, the rules, the store and the forecast tracker into an application (shared by
``serve`` and ``demo``), with the lifecycle of each resource it holds."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry

from adapter.access.control import AccessControl
from adapter.app.lifecycles import access_lifecycle, forecast_workers_lifecycle, source_lifecycle
from adapter.keda.scaler import ExternalScaler
from adapter.keda.serving import ScalerListener, ScalerServer, serve_with
from adapter.kubernetes.selectors import parse_selector
from adapter.observability.telemetry import InstrumentedSource, Telemetry
from adapter.runtime.supervision import Supervisor
from adapter.serving.forecast_metrics import ForecastCollector
from adapter.serving.server import CONTEXT, background_work, create_app
from adapter.settings.config import ForecastSettings, MetricRule, RefreshSettings
from adapter.settings.forecast_names import parse_forecast_metric
from adapter.signals.rules import QueryScope
from adapter.sources.protocol import Source
from adapter.tracking.forecast_pool import ForecastPool
from adapter.tracking.store import MetricStore
from adapter.tracking.tracker import ForecastKey, ForecastTracker
from adapter.upstream.upstreams import Upstreams
from forecasting import Schedule


@dataclass(frozen=True)
class Adapter:
    """The application and the parts tests drive directly."""

    app: web.Application
    store: MetricStore
    tracker: ForecastTracker | None
    rules: dict[str, MetricRule]
    """The rules the handlers serve; :meth:`reconfigure` replaces them in place."""
    scaler: ScalerServer | None = None
    """The KEDA external scaler, where one is served beside the HTTP APIs."""

    @property
    def registry(self) -> CollectorRegistry:
        """The registry of the adapter's own series (``/metrics``)."""
        return self.app[CONTEXT].telemetry.registry

    @property
    def supervisor(self) -> Supervisor:
        """The background tasks; work added before start-up runs beside the server's own."""
        return self.app[CONTEXT].supervisor

    def reconfigure(self, rules: Mapping[str, MetricRule], refresh: RefreshSettings, forecasts: ForecastSettings) -> None:
        """Serve a reloaded config from the next request on."""
        self.app[CONTEXT].reconfigure(rules, refresh=refresh, forecasts=forecasts)
        if self.tracker is not None:
            _track_configured_workloads(self.tracker, forecasts, rules)


def assemble(
    *,
    rules: Mapping[str, MetricRule],
    source: Source,
    refresh: RefreshSettings,
    forecasts: ForecastSettings | None = None,
    clock: Callable[[], float] = time.time,
    banner: str | None = None,
    forecast_tick_seconds: float | None = None,
    refresh_in_background: bool = True,
    access: AccessControl | None = None,
    supervisor: Supervisor | None = None,
    keda: ScalerListener | None = None,
    upstreams: Upstreams | None = None,
    read_back_models: bool = True,
) -> Adapter:
    """A ready-to-run application; ``forecasts=None`` serves no forecast metrics; with ``keda``, the
    KEDA external scaler is served there too, on the same store and forecasts; ``upstreams`` answer
    the metrics the rules do not serve; ``read_back_models`` as :class:`ForecastTracker` takes it.

    Nothing starts here: the source, the forecast workers, access control, the upstream sessions,
    the background work and the scaler start with the application, in that order, and close in
    reverse when it stops."""
    rules = dict(rules)
    telemetry = Telemetry.create(CollectorRegistry(auto_describe=True))
    instrumented = InstrumentedSource(source, telemetry)
    store = MetricStore(instrumented, settings=refresh, telemetry=telemetry, clock=clock)
    tracker = None
    pool = None
    signals: frozenset[str] = frozenset()
    # A signal the presets do not serve (no inference server configured) has no forecast; a
    # signal named explicitly in the config was checked when the config was loaded.
    served = [signal for signal in forecasts.signals if signal in rules] if forecasts is not None else []
    if forecasts is not None and served:
        signals = frozenset(served)
        pool = ForecastPool(forecasts.workers)
        tracker = ForecastTracker(
            instrumented,
            pool,
            settings=forecasts,
            schedule=Schedule(history_seconds=forecasts.history),
            clock=clock,
            idle_after=refresh.idle_after,
            tick_seconds=forecast_tick_seconds,
            read_back_models=read_back_models,
        )
        telemetry.registry.register(ForecastCollector(tracker))
        _track_configured_workloads(tracker, forecasts, rules)
    upstreams = upstreams or Upstreams()
    app = create_app(
        rules=rules,
        store=store,
        telemetry=telemetry,
        clock=clock,
        banner=banner,
        tracker=tracker,
        forecast_signals=signals,
        refresh_in_background=refresh_in_background,
        access=access,
        supervisor=supervisor,
        upstreams=upstreams,
    )
    app.cleanup_ctx.append(source_lifecycle(instrumented))
    if pool is not None:
        app.cleanup_ctx.append(forecast_workers_lifecycle(pool))
    if access is not None:
        app.cleanup_ctx.append(access_lifecycle(access))
    app.cleanup_ctx.append(upstreams.lifecycle)
    app.cleanup_ctx.append(background_work)
    scaler = None
    if keda is not None:
        scaler = ScalerServer(ExternalScaler(app[CONTEXT].values), keda)
        serve_with(app, scaler)
    return Adapter(app, store, tracker, rules, scaler)


def _track_configured_workloads(
    tracker: ForecastTracker, forecasts: ForecastSettings, rules: Mapping[str, MetricRule]
) -> None:
    """Track the forecasts the config lists, before any HPA asks for them."""
    for workload in forecasts.workloads:
        selector = parse_selector(workload.selector)
        scope = QueryScope(workload.namespace, selector)
        for name in workload.track:
            signal, _ = parse_forecast_metric(name) or (name, None)
            if signal in rules and signal in forecasts.signals:
                key = ForecastKey(signal, workload.namespace, str(selector))
                tracker.track(key, rules[signal], scope, pinned=True)
