"""Serving an application until SIGTERM: the listening socket with guarded connections, a
``Status`` for requests that cannot be parsed, and a shutdown that keeps its time budget.

``web.run_app`` starts TLS on every connection it accepts and bounds none of them; this runs the
same ``AppRunner`` behind :class:`~adapter.serving.connection_guard.GuardedConnection`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import ssl
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from prometheus_client import CollectorRegistry, Counter, Gauge

from adapter.kubernetes import wire
from adapter.kubernetes.errors import AdapterError
from adapter.runtime import freed_memory
from adapter.serving.connection_guard import Admission, ConnectionLimits, GuardedConnection

log = logging.getLogger(__name__)
REJECTION_LOG_SECONDS = 10.0
"""At most one log line per this many seconds about requests that could not be parsed."""


REASON_CHARS = 200
"""A parser's reason is cut to this length: it quotes what the client sent."""


class RejectionLog:
    """One line for the first unparsable request, then at most one per interval with a count:
    a fuzzer or a port scanner must not fill the log."""

    def __init__(self, *, interval: float = REJECTION_LOG_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._next = float("-inf")
        self._suppressed = 0

    def record(self, client: str | None, reason: str) -> None:
        now = self._clock()
        if now < self._next:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more since the last line)" if self._suppressed else ""
        log.warning("could not parse a request from %s: %s%s", client or "?", reason, more)
        self._next, self._suppressed = now + self._interval, 0


class StatusRequestHandler(RequestHandler):
    """aiohttp's request handler, answering what its parser rejects with a Kubernetes ``Status``
    and logging it in one throttled line instead of a traceback."""

    rejections = RejectionLog()

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        reason = " ".join((message or (str(exc) if exc else HTTPStatus(status).phrase)).split())[:REASON_CHARS]
        self.rejections.record(request.remote, reason)
        error = AdapterError(f"the request could not be parsed: {reason}")
        error.reason, error.code = HTTPStatus(status).phrase.replace(" ", ""), status
        response = web.Response(status=status, body=json.dumps(wire.status(error)), content_type="application/json")
        response.force_close()
        return response


class ConnectionTelemetry:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.open = Gauge("foresight_connections_open", "Client connections open, TLS handshakes included",
                          registry=registry)
        self.refused = Counter("foresight_connections_refused", "Connections reset at accept, by the cap reached",
                               ["cap"], registry=registry)
        self.timed_out = Counter("foresight_connections_timed_out", "Connections closed for a slow TLS handshake "
                                 "or a slow request head", ["phase"], registry=registry)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through :class:`GuardedConnection`."""

    __slots__ = ("_host", "_port", "_limits", "_admission", "_handshakes", "_telemetry", "_handler_options")

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        limits: ConnectionLimits,
        telemetry: ConnectionTelemetry,
        handler_options: dict[str, Any],
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=limits.backlog)
        self._host, self._port, self._limits = host, port, limits
        self._telemetry = telemetry
        self._admission = Admission(
            limits, on_refused=lambda cap: telemetry.refused.labels(cap).inc(), on_drained=freed_memory.trim
        )
        telemetry.open.set_function(lambda: self._admission.open)
        self._handshakes: set[asyncio.Task[None]] = set()
        self._handler_options = handler_options

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the one given for port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    @property
    def open_connections(self) -> int:
        return self._admission.open

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._connection, self._host, self._port, backlog=self._backlog, reuse_address=True
        )

    async def stop(self) -> None:
        await super().stop()
        for handshake in list(self._handshakes):
            handshake.cancel()

    def _connection(self) -> GuardedConnection:
        return GuardedConnection(
            self._new_handler,
            admission=self._admission,
            limits=self._limits,
            tls=self._ssl_context,
            spawn=self._track_handshake,
            on_timeout=lambda phase: self._telemetry.timed_out.labels(phase).inc(),
        )

    def _new_handler(self) -> StatusRequestHandler:
        server = self._runner.server
        assert server is not None
        return StatusRequestHandler(server, loop=asyncio.get_running_loop(), **self._handler_options)

    def _track_handshake(self, task: asyncio.Task[None]) -> None:
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    limits: ConnectionLimits,
    registry: CollectorRegistry,
    drain_seconds: float,
    started: Callable[[GuardedSite], None] = lambda site: None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT (or ``stop``), then stop accepting, give requests in
    flight ``drain_seconds`` to finish, and run the application's cleanup."""
    if not freed_memory.return_large_blocks_on_free():
        log.info("this C library keeps its allocation policy: memory of closed connections may stay reserved")
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    handler_options: dict[str, Any] = {"access_log": None, "keepalive_timeout": limits.idle_seconds}
    # aiohttp waits for a request in flight up to its shutdown timeout twice (to finish, then once
    # more after asking it to stop) before it cancels it: half the drain each.
    runner = web.AppRunner(app, shutdown_timeout=drain_seconds / 2, **handler_options)
    try:
        await runner.setup()  # the app's start-up: a failure there still runs its cleanup below
        site = GuardedSite(runner, host, port, ssl_context=ssl_context, limits=limits,
                           telemetry=ConnectionTelemetry(registry), handler_options=handler_options)
        await site.start()
        started(site)
        await stop.wait()
        log.info("stopping: no new connections; requests in flight have %gs to finish", drain_seconds)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
