"""What one connection may cost before it has sent a request: admission, the TLS handshake's
time, and the time to send a request head.

Every open TLS connection holds about 300 KB (asyncio keeps a 256 KiB read buffer per TLS
connection), so connections are admitted against a cap in total and per client address before
any TLS state exists: a refused connection costs an accept and a reset. While the server is busy
(near its cap, or with many handshakes under way, each a millisecond of the event loop's time)
only clients holding no connection get in, so a probe from the kubelet still does while a flood
from elsewhere is refused. A handshake must finish
within ``handshake_seconds`` and a request head arrive within ``header_seconds`` of the
connection opening or of its first byte (the Go apiserver's read-header timeout), so slow clients
cannot hold their share for long. An idle keep-alive connection is the request handler's
business (its keep-alive timeout), not this module's.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
HEAD_END = b"\r\n\r\n"
DRAINED_FROM = 64
"""Open connections from which a fall to a quarter counts as a surge drained."""


@dataclass(frozen=True)
class ConnectionLimits:
    """Bounds on connections; the defaults leave the HPA controller, the aggregator's availability
    checks, Prometheus's scrapes and the kubelet's probes far below them."""

    max_connections: int = 600
    """Open connections at once, TLS handshakes included: about 180 MB of TLS buffers at most."""
    max_per_client: int = 100
    """Open connections at once from one client address, so one client cannot take the rest's."""
    busy_handshakes: int = 32
    """TLS handshakes under way past which the server counts as busy."""
    busy_share: float = 0.9
    """Share of ``max_connections`` open past which the server counts as busy."""
    handshake_seconds: float = 10.0
    """Time a client has to finish the TLS handshake."""
    header_seconds: float = 10.0
    """Time a client has to send a whole request head once it connected or began one."""
    idle_seconds: float = 75.0
    """An idle keep-alive connection is closed after this long (Go clients keep theirs 90 s)."""
    backlog: int = 1024
    """Connections the kernel queues before the server accepts them: a burst is accepted (and
    refused) quickly rather than left to retry its SYN a second later, a probe's among them."""


class Admission:
    """Counts open connections, in total and by client address."""

    def __init__(
        self,
        limits: ConnectionLimits,
        *,
        on_refused: Callable[[str], None] = lambda reason: None,
        on_drained: Callable[[], None] = lambda: None,
    ) -> None:
        self._limits = limits
        self._on_drained = on_drained
        self._high_water = 0
        self._by_client: Counter[str] = Counter()
        self.open = 0
        self.handshakes = 0
        """TLS handshakes under way; the guarded connections count them."""
        self._on_refused = on_refused

    def busy(self) -> bool:
        return (
            self.handshakes >= self._limits.busy_handshakes
            or self.open >= self._limits.busy_share * self._limits.max_connections
        )

    def admit(self, client: str) -> bool:
        held = self._by_client[client]
        if self.open >= self._limits.max_connections:
            refused = "total"
        elif held >= self._limits.max_per_client:
            refused = "client"
        elif held and self.busy():
            refused = "busy"
        else:
            self.open += 1
            self._by_client[client] += 1
            self._high_water = max(self._high_water, self.open)
            return True
        self._on_refused(refused)
        return False

    def release(self, client: str) -> None:
        self.open -= 1
        self._by_client[client] -= 1
        if not self._by_client[client]:
            del self._by_client[client]
        if self._high_water >= DRAINED_FROM and self.open <= self._high_water // 4:
            self._high_water = self.open
            self._on_drained()  # most of a surge has closed: its memory can go back


class GuardedConnection(asyncio.Protocol):
    """One accepted connection: admitted or reset, then (with TLS) its handshake, then the request
    handler, fed only while request heads arrive on time.

    With TLS the server listens in plain TCP and starts TLS here with ``loop.start_tls``, so a
    connection refused at admission never allocates TLS state and a handshake that fails or times
    out releases its place exactly once.
    """

    def __init__(
        self,
        new_handler: Callable[[], asyncio.Protocol],
        *,
        admission: Admission,
        limits: ConnectionLimits,
        tls: ssl.SSLContext | None,
        spawn: Callable[[asyncio.Task[None]], None] | None = None,
        on_timeout: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self._new_handler = new_handler
        self._handler: asyncio.Protocol | None = None
        """The request handler, made only for an admitted connection."""
        self._admission = admission
        self._limits = limits
        self._tls = tls
        self._spawn = spawn or (lambda task: None)
        self._on_timeout = on_timeout
        self._client = ""
        self._counted = False
        self._transport: asyncio.BaseTransport | None = None
        self._early: list[bytes] = []
        self._head_deadline: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if peer else ""
        if not self._admission.admit(self._client):
            transport.abort()  # type: ignore[attr-defined]
            return
        self._counted = True
        self._handler = self._new_handler()
        if self._tls is None:
            self._open(transport)
            return
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()  # the handshake's bytes are for start_tls, not for this protocol
        self._spawn(asyncio.get_running_loop().create_task(self._handshake(transport, self._tls)))

    async def _handshake(self, transport: asyncio.Transport, tls: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        self._admission.handshakes += 1
        try:
            secured = await loop.start_tls(
                transport, self, tls, server_side=True, ssl_handshake_timeout=self._limits.handshake_seconds
            )
        except BaseException as error:  # a failed, slow or cancelled handshake gives its place back
            if isinstance(error, TimeoutError | ConnectionAbortedError):  # asyncio aborts a slow one
                self._on_timeout("handshake")
            transport.abort()
            self._release()
            if not isinstance(error, Exception):
                raise
            return
        finally:
            self._admission.handshakes -= 1
        if secured is not None and self._counted:  # None: lost as the handshake ended
            self._open(secured)

    def _open(self, transport: asyncio.BaseTransport) -> None:
        assert self._handler is not None
        self._transport = transport
        self._handler.connection_made(transport)
        self._await_head()
        early, self._early = self._early, []
        for data in early:
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if self._transport is None or self._handler is None:  # plaintext that came with the handshake's end
            self._early.append(data)
            return
        seen = self._tail + data
        end = seen.rfind(HEAD_END)
        if end >= 0:
            self._head_arrived()
            seen = seen[end + len(HEAD_END):]  # what follows is the next request's
        if seen and self._head_deadline is None:
            self._await_head()
        self._tail = seen[-(len(HEAD_END) - 1):]
        self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received() if self._transport is not None and self._handler is not None else None

    def pause_writing(self) -> None:
        if self._handler is not None:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._handler is not None:
            self._handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        if self._transport is not None and self._handler is not None:
            self._handler.connection_lost(exc)
        self._release()

    def _await_head(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = asyncio.get_running_loop().call_later(self._limits.header_seconds, self._too_slow)

    def _head_arrived(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _too_slow(self) -> None:
        self._head_deadline = None
        self._on_timeout("header")
        if self._transport is not None:
            self._transport.abort()  # type: ignore[attr-defined]

    def _release(self) -> None:
        if self._counted:
            self._counted = False
            self._admission.release(self._client)
