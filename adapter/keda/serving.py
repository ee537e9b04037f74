"""The KEDA scaler's gRPC server (``grpc.aio``, on the adapter's event loop): TLS that requires a
client certificate from the configured CA, or plaintext on loopback for local trials, started and
stopped with the application.

A client certificate the CA issued is the whole of access control: whoever holds one reads every
metric in every namespace through the scaler, so the CA should issue certificates to KEDA's
operator alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from aiohttp import web

from adapter.access.serving_tls import ServingCertificate
from adapter.keda.externalscaler_pb2_grpc import add_ExternalScalerServicer_to_server
from adapter.keda.scaler import ExternalScaler

log = logging.getLogger(__name__)
MAX_CONCURRENT_RPCS = 4096
"""Calls at once, streams included (one per ``external-push`` trigger); past it, RESOURCE_EXHAUSTED."""
MAX_MESSAGE_BYTES = 64 * 1024
"""A ScaledObjectRef is a few hundred bytes; nothing larger is read."""


@dataclass(frozen=True)
class ScalerTls:
    """The serving certificate, and the CA bundle (PEM) whose client certificates are accepted."""

    certificate: ServingCertificate
    client_ca: bytes = field(repr=False)


@dataclass(frozen=True)
class ScalerListener:
    """Where the scaler listens; ``tls=None`` is plaintext, which the CLI allows on loopback only."""

    host: str
    port: int
    tls: ScalerTls | None
    drain_seconds: float = 15.0
    """How long calls in flight may take to finish once the server stops."""


class ScalerServer:
    """The gRPC server of one :class:`ExternalScaler`; ``port`` is the bound one after start."""

    def __init__(self, scaler: ExternalScaler, listener: ScalerListener) -> None:
        self.scaler = scaler
        self.listener = listener
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._stopped: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen; raises ``OSError`` when the address cannot be bound."""
        server = grpc.aio.server(
            maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
            options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES), ("grpc.so_reuseport", 0)],
        )
        add_ExternalScalerServicer_to_server(self.scaler, server)  # type: ignore[no-untyped-call]  # protoc's output
        host = self.listener.host
        address = f"[{host}]:{self.listener.port}" if ":" in host else f"{host}:{self.listener.port}"
        tls = self.listener.tls
        try:
            if tls is None:
                port = server.add_insecure_port(address)
            else:
                credentials = grpc.ssl_server_credentials(
                    [(tls.certificate.key, tls.certificate.chain)], root_certificates=tls.client_ca,
                    require_client_auth=True,
                )
                port = server.add_secure_port(address, credentials)
        except RuntimeError:  # how grpc says the address cannot be bound
            port = 0
        if not port:
            raise OSError(f"the KEDA scaler cannot listen on {address}")
        await server.start()
        self._server, self.port = server, port
        log.info("serving the KEDA external scaler on %s://%s:%d", "grpcs" if tls else "grpc", host, port)

    def begin_stop(self) -> None:
        """Refuse new calls, end the streams cleanly and give unary calls in flight the drain."""
        if self._server is not None and self._stopped is None:
            self.scaler.stop()
            self._stopped = asyncio.ensure_future(self._server.stop(self.listener.drain_seconds))

    async def stop(self) -> None:
        self.begin_stop()
        if self._stopped is not None:
            await self._stopped


def serve_with(app: web.Application, server: ScalerServer) -> None:
    """Run ``server`` with ``app``: it starts after the app's background work and, on shutdown,
    stops taking calls as the HTTP listener does, and finishes before the store and the data
    source close."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await server.start()
        yield
        await server.stop()

    async def shutting_down(app: web.Application) -> None:
        server.begin_stop()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(shutting_down)
