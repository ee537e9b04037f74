"""The aiohttp application: routes, the one error middleware, and the refresher's lifecycle.

Handlers only parse, read the store and render the wire format; all querying happens in the
store's background refresh (or, once, for a key's first request).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from adapter import status_page, wire
from adapter.config import MetricRule
from adapter.errors import AdapterError, BadRequest, InternalError, NotFound, ServiceUnavailable
from adapter.rules import QueryScope
from adapter.selectors import parse_selector
from adapter.source import Source
from adapter.store import MetricStore, SeriesKey
from adapter.telemetry import Telemetry

log = logging.getLogger(__name__)

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
EXTERNAL_PREFIX = f"/apis/{wire.EXTERNAL_GROUP}/{wire.EXTERNAL_VERSION}"
CUSTOM_PREFIX = f"/apis/{wire.CUSTOM_GROUP}/{wire.CUSTOM_VERSION}"


@dataclass(frozen=True)
class AppContext:
    """Everything the handlers need, built once by :func:`create_app`."""

    rules: Mapping[str, MetricRule]
    store: MetricStore
    source: Source
    telemetry: Telemetry
    clock: Callable[[], float]
    banner: str | None


CONTEXT = web.AppKey("context", AppContext)
REFRESHER = web.AppKey("refresher", asyncio.Task[None])
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(document: object, *, status: int = 200) -> web.Response:
    return web.json_response(document, status=status)


def _status_response(error: AdapterError) -> web.Response:
    return _json(wire.status(error), status=error.code)


@web.middleware
async def errors_and_telemetry(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place errors become ``Status`` objects; also counts and times every request."""
    context = request.app[CONTEXT]
    started = time.perf_counter()
    try:
        response = await handler(request)
    except AdapterError as error:
        response = _status_response(error)
    except web.HTTPMethodNotAllowed as error:
        response = _json(
            {**wire.status(NotFound(f"method {request.method} is not allowed on {request.path}")),
             "reason": "MethodNotAllowed", "code": 405},
            status=405,
        )
        response.headers["Allow"] = ",".join(sorted(error.allowed_methods))
    except web.HTTPNotFound:
        response = _status_response(NotFound(f"the server could not find the requested resource {request.path}"))
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.path)
        response = _status_response(InternalError("internal error; see the adapter's log"))
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else "(unmatched)"
    context.telemetry.http_requests.labels(path, str(response.status)).inc()
    context.telemetry.http_duration.labels(path).observe(time.perf_counter() - started)
    return response


def _namespace(request: web.Request) -> str:
    namespace = request.match_info["namespace"]
    if not DNS1123_LABEL.match(namespace):
        raise BadRequest(f"namespace {namespace!r} is not a valid namespace name")
    return namespace


def _rule(request: web.Request, *, group: str, per_pod: bool) -> tuple[str, MetricRule]:
    # client-go lowercases resource names in the path, so names are matched case-insensitively.
    name = request.match_info["metric"].lower()
    rule = request.app[CONTEXT].rules.get(name)
    if rule is None or (per_pod and rule.pods_query is None):
        raise NotFound(f'the server could not find the metric "{name}" in {group}')
    return name, rule


async def external_metric(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    namespace = _namespace(request)
    name, rule = _rule(request, group=wire.EXTERNAL_GROUP, per_pod=False)
    selector = parse_selector(request.query.get("labelSelector"))
    key = SeriesKey(name, "external", namespace, str(selector))
    reading = await context.store.read(key, rule, QueryScope(namespace, selector))
    items = [
        wire.external_value(name, value, labels=labels, timestamp=reading.timestamp, window_seconds=rule.window)
        for labels, value in reading.values
    ]
    return _json(wire.external_list(items))


async def pod_metric(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    namespace = _namespace(request)
    pod = request.match_info["pod"]
    if pod != "*" and not DNS1123_SUBDOMAIN.match(pod):
        raise BadRequest(f"pod name {pod!r} is not a valid object name")
    name, rule = _rule(request, group=wire.CUSTOM_GROUP, per_pod=True)
    selector = parse_selector(request.query.get("labelSelector"))
    metric_selector = parse_selector(request.query.get("metricLabelSelector"))
    key = SeriesKey(name, "pods", namespace, str(selector), str(metric_selector))
    reading = await context.store.read(key, rule, QueryScope(namespace, selector, metric_selector))
    values = [(labels.get("pod", ""), value) for labels, value in reading.values]
    if any(not pod_name for pod_name, _ in values):
        raise ServiceUnavailable(f"the per-pod query of metric {name!r} returned series without a 'pod' label")
    if pod != "*":
        values = [(pod_name, value) for pod_name, value in values if pod_name == pod]
        if not values:
            raise NotFound(f'no value of metric "{name}" for pod {pod!r} in namespace {namespace!r}')
    items = [
        wire.pod_value(
            name,
            value,
            namespace=namespace,
            pod=pod_name,
            metric_selector=metric_selector,
            timestamp=reading.timestamp,
            window_seconds=rule.window,
        )
        for pod_name, value in sorted(values)
    ]
    return _json(wire.custom_list(items))


async def api_groups(request: web.Request) -> web.Response:
    return _json(wire.api_group_list())


async def api_group(request: web.Request) -> web.Response:
    group = request.match_info["group"]
    if group not in wire.GROUP_VERSIONS:
        raise NotFound(f"the server could not find the requested resource /apis/{group}")
    return _json(wire.api_group(group))


async def external_discovery(request: web.Request) -> web.Response:
    return _json(wire.external_resources(sorted(request.app[CONTEXT].rules)))


async def custom_discovery(request: web.Request) -> web.Response:
    rules = request.app[CONTEXT].rules
    return _json(wire.custom_resources(sorted(name for name, rule in rules.items() if rule.pods_query is not None)))


async def alive(request: web.Request) -> web.Response:
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
        rules=context.rules, views=list(context.store.views()), banner=context.banner, now=context.clock()
    )
    return web.Response(text=html, content_type="text/html")


async def _guarded(name: str, coroutine: Awaitable[None]) -> None:
    """Run a long-lived task; a crash or an unexpected return is logged, never silent."""
    try:
        await coroutine
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background task %r crashed", name)
        raise
    log.error("background task %r exited unexpectedly", name)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    context = app[CONTEXT]
    app[REFRESHER] = asyncio.create_task(_guarded("refresher", context.store.run()), name="refresher")
    yield
    app[REFRESHER].cancel()
    await asyncio.gather(app[REFRESHER], return_exceptions=True)
    await context.source.close()


def create_app(
    *,
    rules: Mapping[str, MetricRule],
    source: Source,
    store: MetricStore,
    telemetry: Telemetry,
    clock: Callable[[], float] = time.time,
    banner: str | None = None,
    refresh_in_background: bool = True,
) -> web.Application:
    """The adapter's application. Tests pass ``refresh_in_background=False`` and call
    ``store.refresh_now()`` themselves instead of sleeping."""
    app = web.Application(middlewares=[errors_and_telemetry])
    app[CONTEXT] = AppContext(rules=rules, store=store, source=source, telemetry=telemetry, clock=clock, banner=banner)
    app.router.add_get("/apis", api_groups)
    app.router.add_get(f"{EXTERNAL_PREFIX}/namespaces/{{namespace}}/{{metric}}", external_metric)
    app.router.add_get(f"{CUSTOM_PREFIX}/namespaces/{{namespace}}/pods/{{pod}}/{{metric}}", pod_metric)
    app.router.add_get(EXTERNAL_PREFIX, external_discovery)
    app.router.add_get(CUSTOM_PREFIX, custom_discovery)
    app.router.add_get("/apis/{group}", api_group)
    app.router.add_get("/healthz", alive)
    app.router.add_get("/livez", alive)
    app.router.add_get("/readyz", ready)
    app.router.add_get("/metrics", own_metrics)
    app.router.add_get("/", index)
    if refresh_in_background:
        app.cleanup_ctx.append(_lifecycle)
    else:
        app.on_cleanup.append(lambda app: app[CONTEXT].source.close())
    return app
