"""The aiohttp application: routes, the one translation of errors into ``Status``, and the
lifecycle of the server's own background work.

Handlers only parse, read the store and render the wire format; all querying happens in the
store's background refresh (or, once, for a key's first request). The hot path of a tracked key
is a few dictionary lookups: request parsing and response bodies are remembered by the raw
request target (:mod:`adapter.serving.request_cache`), a body for the reading it renders.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from adapter.access.control import AUTHENTICATION_RELOAD_SECONDS, AccessControl
from adapter.kubernetes import wire
from adapter.kubernetes.errors import (
    AdapterError,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
)
from adapter.kubernetes.identity import Identity
from adapter.observability.telemetry import Telemetry
from adapter.runtime.supervision import Supervisor
from adapter.serving import openapi, openapi_serving, status_page
from adapter.serving.request_cache import KnownTarget, RequestCache
from adapter.settings.config import ForecastSettings, MetricRule, RefreshSettings
from adapter.settings.forecast_names import forecast_metric_names
from adapter.tracking.metric_values import MetricRequest, MetricValues, RefreshPasses
from adapter.tracking.store import Api, MetricStore
from adapter.tracking.tracker import ForecastTracker
from adapter.upstream.client import Upstream
from adapter.upstream.upstreams import Upstreams

log = logging.getLogger(__name__)

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
EXTERNAL_PREFIX = f"/apis/{wire.EXTERNAL_GROUP}/{wire.EXTERNAL_VERSION}"
CUSTOM_PREFIX = f"/apis/{wire.CUSTOM_GROUP}/{wire.CUSTOM_VERSION}"
REFRESHER_STALL_SECONDS = 300.0
"""Longer than a refresh pass can go without one evaluation ending (queries time out in 50 s)."""
FORECASTER_STALL_SECONDS = 600.0
"""Longer than any one series' step (a model selection takes seconds of a worker's time)."""
RELOADER_STALL_SECONDS = 300.0
"""Thirty reload checks missed in a row: the kube-apiserver's ConfigMap read has hung."""


@dataclass(frozen=True)
class AppContext:
    """Everything the handlers need, built once by :func:`create_app`."""

    rules: dict[str, MetricRule]
    """The rules served; :meth:`reconfigure` replaces them in place (``values`` reads the same
    dictionary)."""
    store: MetricStore
    telemetry: Telemetry
    clock: Callable[[], float]
    banner: str | None
    tracker: ForecastTracker | None
    forecast_signals: frozenset[str]
    refresh_in_background: bool
    access: AccessControl | None
    supervisor: Supervisor
    values: MetricValues
    """The one way metric values are read, shared with the KEDA scaler."""
    upstreams: Upstreams
    """Other adapters that answer the metrics Foresight does not serve."""
    requests: RequestCache = field(default_factory=RequestCache)
    """Metric requests parsed, and their bodies rendered, by raw request target."""

    def reconfigure(
        self, rules: Mapping[str, MetricRule], *, refresh: RefreshSettings, forecasts: ForecastSettings
    ) -> None:
        """Serve a reloaded config from the next request on: the new rules in the handlers, the
        store and the tracker, and nothing parsed or rendered under the old ones."""
        self.rules.clear()
        self.rules.update(rules)
        self.requests.clear()
        self.store.reconfigure(refresh, rules)
        if self.tracker is not None:
            self.tracker.reconfigure(forecasts, rules)


CONTEXT = web.AppKey("context", AppContext)
USER = web.RequestKey("user", str)
"""The authenticated requester's user name, where requests are authenticated."""
IDENTITY = web.RequestKey("identity", Identity)
"""The authenticated requester, whom a forwarded request is made for."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(document: object, *, status: int = 200) -> web.Response:
    return web.json_response(document, status=status)


def _json_bytes(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json", charset="utf-8")


def _endpoint(route: str, handler: Handler, telemetry: Telemetry, access: AccessControl | None) -> Handler:
    """``handler`` behind access control, with the one translation of errors into ``Status`` and
    its request telemetry.

    A wrapper per route rather than a middleware: the route's series are bound once, and aiohttp's
    middleware chain would cost more than the whole cached read.
    """
    record = telemetry.hot_path.request

    async def endpoint(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            if access is not None:
                identity = await access.check(request)
                if identity is not None:
                    request[USER] = identity.user
                    request[IDENTITY] = identity
            response = await handler(request)
        except AdapterError as error:
            response = _json(wire.status(error), status=error.code)
        except Exception:
            log.exception("unexpected error serving %s %s", request.method, request.path)
            internal = InternalError("internal error; see the adapter's log")
            response = _json(wire.status(internal), status=internal.code)
        record(route, _served_metric(request), response.status, time.perf_counter() - started)
        return response

    return endpoint


def _served_metric(request: web.Request) -> str:
    """The served metric a request asked for, or ``""``: a request that parsed into a served
    metric is remembered by its target, so an unknown or invalid name is never a label value."""
    known = request.app[CONTEXT].requests.get(request.raw_path)
    return "" if known is None else known.parsed.name


def _metric_request(request: web.Request, api: Api) -> KnownTarget:
    """Parse and validate a metric request; HPAs repeat the same few targets every 15 s, so the
    result is remembered by the raw request target."""
    context = request.app[CONTEXT]
    known = context.requests.get(request.raw_path)
    if known is not None and known.parsed.key.api == api:
        return known
    query = parse_qs(request.rel_url.raw_query_string, keep_blank_values=True)
    parsed = context.values.request(
        api,
        namespace=request.match_info["namespace"],
        # client-go lowercases resource names in the path, so names are matched case-insensitively.
        name=request.match_info["metric"].lower(),
        selector=query.get("labelSelector", [""])[0],
        metric_selector=query.get("metricLabelSelector", [""])[0],
    )
    return context.requests.add(request.raw_path, parsed)


async def _forwarded(request: web.Request, upstream: Upstream) -> web.Response:
    """The upstream's answer to ``request``, as it is (``ServiceUnavailable`` when none comes)."""
    answer = await upstream.forward(
        request.method, request.raw_path, accept=request.headers.get("Accept", ""), identity=request.get(IDENTITY)
    )
    response = web.Response(status=answer.status, body=answer.body)
    response.headers["Content-Type"] = answer.content_type
    return response


def _upstream_of(request: web.Request, api: Api) -> Upstream | None:
    """The upstream that answers this metric request, where Foresight does not serve its metric."""
    context = request.app[CONTEXT]
    upstream = context.upstreams.external if api == "external" else context.upstreams.custom
    if upstream is None or context.values.serves(api, request.match_info["metric"].lower()):
        return None
    return upstream


async def external_metric(request: web.Request) -> web.Response:
    upstream = _upstream_of(request, "external")
    if upstream is not None:
        return await _forwarded(request, upstream)
    known = _metric_request(request, "external")
    parsed = known.parsed
    if parsed.forecast is not None:
        return await _forecast_metric(request, parsed)
    name, rule = parsed.name, parsed.rule
    reading = await request.app[CONTEXT].values.reading(parsed, user=request.get(USER))
    body = known.rendered(reading)
    if body is None:
        items = [
            wire.external_value(name, value, labels=labels, timestamp=reading.timestamp, window_seconds=rule.window)
            for labels, value in reading.values
        ]
        body = known.keep(reading, json.dumps(wire.external_list(items)).encode())
    return _json_bytes(body)


async def _forecast_metric(request: web.Request, parsed: MetricRequest) -> web.Response:
    """A forecast metric (see :meth:`MetricValues.forecast`), as one item."""
    context = request.app[CONTEXT]
    forecast = await context.values.forecast(parsed, user=request.get(USER))
    item = wire.external_value(
        parsed.name, forecast.value, labels=dict(forecast.labels), timestamp=context.clock(),
        window_seconds=forecast.window,
    )
    return _json_bytes(json.dumps(wire.external_list([item])).encode())


async def pod_metric(request: web.Request) -> web.Response:
    upstream = _upstream_of(request, "pods")
    if upstream is not None:
        return await _forwarded(request, upstream)
    pod = request.match_info["pod"]
    if pod != "*" and not DNS1123_SUBDOMAIN.match(pod):
        raise BadRequest(f"pod name {pod!r} is not a valid object name")
    known = _metric_request(request, "pods")
    parsed = known.parsed
    name, rule, key = parsed.name, parsed.rule, parsed.key
    reading = await request.app[CONTEXT].values.reading(parsed, user=request.get(USER))
    body = known.rendered(reading)
    if body is not None:
        return _json_bytes(body)
    values = [(labels.get("pod", ""), value) for labels, value in reading.values]
    if any(not pod_name for pod_name, _ in values):
        raise ServiceUnavailable(f"the per-pod query of metric {name!r} returned series without a 'pod' label")
    if pod != "*":
        values = [(pod_name, value) for pod_name, value in values if pod_name == pod]
        if not values:
            raise NotFound(f'no value of metric "{name}" for pod {pod!r} in namespace {key.namespace!r}')
    items = [
        wire.pod_value(
            name,
            value,
            namespace=key.namespace,
            pod=pod_name,
            metric_selector=key.scope.metric_selector,
            timestamp=reading.timestamp,
            window_seconds=rule.window,
        )
        for pod_name, value in sorted(values)
    ]
    return _json_bytes(known.keep(reading, json.dumps(wire.custom_list(items)).encode()))


async def api_groups(request: web.Request) -> web.Response:
    return _json(wire.api_group_list())


async def api_group(request: web.Request) -> web.Response:
    group = request.match_info["group"]
    if group not in wire.GROUP_VERSIONS:
        raise NotFound(f"the server could not find the requested resource /apis/{group}")
    return _json(wire.api_group(group))


async def _discovery(request: web.Request, own: wire.APIResourceList, upstream: Upstream | None) -> web.Response:
    """``own``, merged with the upstream's list where there is an upstream."""
    if upstream is None:
        return _json(own)
    return _json(await upstream.merged(own, request.raw_path, identity=request.get(IDENTITY)))


async def external_discovery(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    forecasts = [name for signal in context.forecast_signals for name in forecast_metric_names(signal)]
    own = wire.external_resources(sorted([*context.rules, *forecasts]))
    return await _discovery(request, own, context.upstreams.external)


async def custom_discovery(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    own = wire.custom_resources(sorted(name for name, rule in context.rules.items() if rule.pods_query is not None))
    return await _discovery(request, own, context.upstreams.custom)


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def alive(request: web.Request) -> web.Response:
    """Fails while a background task has stopped making progress, so the kubelet restarts a
    replica that cannot heal itself (a slow or absent Prometheus fails readiness, not this)."""
    problems = request.app[CONTEXT].supervisor.problems()
    if problems:
        raise ServiceUnavailable(f"background work has stalled: {'; '.join(problems)}")
    return web.Response(text="ok")


async def ready(request: web.Request) -> web.Response:
    if not request.app[CONTEXT].store.ready():
        raise ServiceUnavailable("the data source has not answered within the staleness bound")
    return web.Response(text="ok")


async def own_metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[CONTEXT].telemetry.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def index(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    html = status_page.render(
        rules=context.rules,
        forecast_signals=context.forecast_signals,
        views=list(context.store.views()),
        forecasts=list(context.tracker.views()) if context.tracker is not None else [],
        banner=context.banner,
        now=context.clock(),
    )
    return web.Response(text=html, content_type="text/html")


async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI documents the aggregator merges into the kube-apiserver's, and ``kubectl
    explain`` reads, for the metrics the discovery handlers list."""
    context = request.app[CONTEXT]
    forecasts = [name for signal in context.forecast_signals for name in forecast_metric_names(signal)]
    external_metrics = tuple(sorted([*context.rules, *forecasts]))
    pod_metrics = tuple(sorted(name for name, rule in context.rules.items() if rule.pods_query is not None))
    document = openapi.documents(external_metrics, pod_metrics).get(request.path)
    if document is None:
        raise NotFound(f"the server could not find the requested resource {request.path}")
    answer = openapi_serving.answer(
        document,
        accept=request.headers.get("Accept", ""),
        if_none_match=request.headers.get("If-None-Match", ""),
        query_hash=request.query.get("hash", ""),
        now=context.clock(),
    )
    return web.Response(status=answer.status, headers=answer.headers, body=answer.body)


async def unmatched(request: web.Request) -> web.Response:
    """Everything no route serves: a ``Status``, never a text page."""
    if request.method not in ("GET", "HEAD"):
        raise MethodNotAllowed(f"method {request.method} is not allowed: every resource here is read-only")
    upstreams = request.app[CONTEXT].upstreams
    # the custom metrics API's other objects (namespaces, nodes, deployments...) are the upstream's
    for prefix, upstream in ((EXTERNAL_PREFIX, upstreams.external), (CUSTOM_PREFIX, upstreams.custom)):
        if upstream is not None and request.path.startswith(f"{prefix}/"):
            return await _forwarded(request, upstream)
    raise NotFound(f"the server could not find the requested resource {request.path}")


async def background_work(app: web.Application) -> AsyncIterator[None]:
    """The server's background tasks (an aiohttp ``cleanup_ctx``), started unless tests drive them
    and stopped on shutdown: register it after what they use (the source, the forecast workers,
    access control), which then opens before them and closes after them."""
    context = app[CONTEXT]
    if context.refresh_in_background:
        context.supervisor.start()
    yield
    await context.supervisor.stop()


def _supervise(supervisor: Supervisor, store: MetricStore, tracker: ForecastTracker | None,
               access: AccessControl | None) -> None:
    """The server's own background tasks; each reports progress from inside its long passes."""
    refresher = supervisor.add("refresher", store.refresh_now, pause=store.pause_after,
                               stall_after=max(REFRESHER_STALL_SECONDS, 10 * store.pause_after(0.0)))
    store.progress = refresher.progress
    if tracker is not None:
        forecaster = supervisor.add("forecaster", tracker.refresh_now, pause=tracker.pause_after,
                                    stall_after=max(FORECASTER_STALL_SECONDS, 10 * tracker.tick))
        tracker.progress = forecaster.progress
    if access is not None:
        supervisor.add("authentication reload", access.reload, pause=lambda _: AUTHENTICATION_RELOAD_SECONDS,
                       stall_after=RELOADER_STALL_SECONDS, initial_delay=AUTHENTICATION_RELOAD_SECONDS)


ROUTES: tuple[tuple[str, Handler], ...] = (
    ("/apis", api_groups),
    (f"{EXTERNAL_PREFIX}/namespaces/{{namespace}}/{{metric}}", external_metric),
    (f"{CUSTOM_PREFIX}/namespaces/{{namespace}}/pods/{{pod}}/{{metric}}", pod_metric),
    (EXTERNAL_PREFIX, external_discovery),
    (CUSTOM_PREFIX, custom_discovery),
    ("/apis/{group}", api_group),
    ("/healthz", healthy),
    ("/livez", alive),
    ("/readyz", ready),
    ("/metrics", own_metrics),
    (openapi.V2_PATH, openapi_document),
    (openapi.V3_PATH, openapi_document),
    (f"{openapi.V3_PATH}/apis/{{group}}/{{version}}", openapi_document),
    ("/", index),
)


def create_app(
    *,
    rules: dict[str, MetricRule],
    store: MetricStore,
    telemetry: Telemetry,
    clock: Callable[[], float] = time.time,
    banner: str | None = None,
    tracker: ForecastTracker | None = None,
    forecast_signals: frozenset[str] = frozenset(),
    refresh_in_background: bool = True,
    access: AccessControl | None = None,
    supervisor: Supervisor | None = None,
    upstreams: Upstreams,
) -> web.Application:
    """The adapter's application; ``access=None`` serves everyone (plain HTTP on loopback only).
    Tests pass ``refresh_in_background=False`` and call ``store.refresh_now()`` /
    ``tracker.refresh_now()`` themselves instead of sleeping. Work added to ``supervisor`` before
    start-up (the config watcher) runs beside the server's own. ``upstreams`` answer what the
    rules do not serve. The caller registers the lifecycles: those of the resources the handlers
    and background tasks use, then :func:`background_work`."""
    supervisor = supervisor or Supervisor()
    _supervise(supervisor, store, tracker, access)
    passes = RefreshPasses()
    store.refreshed = passes.ended
    if tracker is not None:
        tracker.refreshed = passes.ended
    values = MetricValues(
        rules=rules, store=store, tracker=tracker, forecast_signals=forecast_signals, passes=passes
    )
    app = web.Application()
    app[CONTEXT] = AppContext(
        rules=rules, store=store, telemetry=telemetry, clock=clock, banner=banner,
        tracker=tracker, forecast_signals=forecast_signals, refresh_in_background=refresh_in_background,
        access=access, supervisor=supervisor, values=values, upstreams=upstreams,
    )
    for path, handler in ROUTES:
        app.router.add_get(path, _endpoint(path, handler, telemetry, access))
    # [\s\S], not ".": a path may carry an escaped newline, and it must get a Status too
    app.router.add_route("*", r"/{path:[\s\S]*}", _endpoint("(unmatched)", unmatched, telemetry, access))
    return app
