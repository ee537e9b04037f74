"""Clients that try to exhaust the adapter: too many connections, handshakes that never end, request
heads sent slowly, bytes that are not HTTP. The real listener serves over real TLS on loopback;
other clients, from another loopback address, must still be answered.

Limits are small so the tests open a handful of connections, and the timeouts short so they end
soon; every wait is on the server's own counters or on a socket's end, never on a clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import trustme
from prometheus_client import CollectorRegistry

from adapter.app.assembly import assemble
from adapter.serving.connection_guard import ConnectionLimits
from adapter.serving.listener import GuardedSite, StatusRequestHandler, serve
from adapter.settings.config import RefreshSettings
from tests.empty_source import EmptySource

pytestmark = pytest.mark.integration
ATTACKER = "127.0.0.1"
OTHER_CLIENT = "127.0.0.2"
LIMITS = ConnectionLimits(max_connections=8, max_per_client=4, busy_handshakes=100, busy_share=1.0,
                          handshake_seconds=0.5, header_seconds=0.5)
"""Caps only: the server never counts as busy."""
BUSY_LIMITS = ConnectionLimits(max_connections=8, max_per_client=4, busy_handshakes=2, handshake_seconds=5.0)


@dataclass
class Listening:
    site: GuardedSite
    registry: CollectorRegistry
    client_tls: ssl.SSLContext

    def sample(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    async def until_open(self, count: int) -> None:
        while self.site.open_connections != count:
            await asyncio.sleep(0.01)

    async def connect(self, source: str = ATTACKER, *, tls: bool = True) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(
            "127.0.0.1", self.site.port, local_addr=(source, 0), ssl=self.client_tls if tls else None,
            server_hostname="localhost" if tls else None,
        )

    async def get(self, path: str, *, source: str = OTHER_CLIENT) -> tuple[int, bytes]:
        reader, writer = await self.connect(source)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            answer = await reader.read()
        finally:
            writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split()[1]), body


@asynccontextmanager
async def listen(limits: ConnectionLimits) -> AsyncIterator[Listening]:
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    adapter = assemble(rules={}, source=EmptySource(), refresh=RefreshSettings(), refresh_in_background=False)
    stop, ready = asyncio.Event(), asyncio.get_running_loop().create_future()
    serving = asyncio.create_task(serve(
        adapter.app, host="127.0.0.1", port=0, ssl_context=server_tls, limits=limits, registry=adapter.registry,
        drain_seconds=1.0, started=ready.set_result, stop=stop,
    ))
    site = await ready
    try:
        yield Listening(site, adapter.registry, client_tls)
    finally:
        stop.set()
        await serving


@pytest.fixture
async def listening() -> AsyncIterator[Listening]:
    async with listen(LIMITS) as listening:
        yield listening


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Whether the server ended the connection (end of stream or a reset)."""
    try:
        return await reader.read(1) == b""
    except (ConnectionError, ssl.SSLError):
        return True


async def test_connections_past_the_per_client_cap_are_reset_and_others_are_served(listening: Listening) -> None:
    held = [await listening.connect(tls=False) for _ in range(LIMITS.max_per_client)]  # handshakes never begun
    await listening.until_open(LIMITS.max_per_client)
    reader, writer = await listening.connect(tls=False)
    assert await closed_by_server(reader)
    writer.close()
    assert listening.sample("foresight_connections_refused_total", cap="client") == 1
    assert await listening.get("/healthz") == (200, b"ok")
    for _, held_writer in held:
        held_writer.close()
    await listening.until_open(0)


async def test_connections_past_the_total_cap_are_reset(listening: Listening) -> None:
    sources = [f"127.0.0.{3 + index}" for index in range(LIMITS.max_connections)]
    held = [await listening.connect(source, tls=False) for source in sources]
    await listening.until_open(LIMITS.max_connections)
    reader, writer = await listening.connect(OTHER_CLIENT, tls=False)
    assert await closed_by_server(reader)
    writer.close()
    assert listening.sample("foresight_connections_refused_total", cap="total") == 1
    for _, held_writer in held:
        held_writer.close()
    await listening.until_open(0)
    assert await listening.get("/healthz") == (200, b"ok")


async def test_while_busy_with_handshakes_only_clients_holding_no_connection_get_in() -> None:
    async with listen(BUSY_LIMITS) as listening:
        held = [await listening.connect(tls=False) for _ in range(BUSY_LIMITS.busy_handshakes)]
        await listening.until_open(BUSY_LIMITS.busy_handshakes)
        reader, writer = await listening.connect(tls=False)
        assert await closed_by_server(reader), "a client already holding connections waits"
        writer.close()
        assert listening.sample("foresight_connections_refused_total", cap="busy") == 1
        assert await listening.get("/healthz", source=OTHER_CLIENT) == (200, b"ok")
        for _, held_writer in held:
            held_writer.close()
        await listening.until_open(0)


async def test_a_handshake_that_never_ends_is_closed_and_its_place_released(listening: Listening) -> None:
    reader, writer = await listening.connect(tls=False)
    await listening.until_open(1)
    assert await closed_by_server(reader)
    writer.close()
    await listening.until_open(0)
    assert listening.sample("foresight_connections_timed_out_total", phase="handshake") == 1


async def test_a_request_head_sent_too_slowly_is_cut_off(listening: Listening) -> None:
    reader, writer = await listening.connect()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")  # and the head never ends
    assert await closed_by_server(reader)
    writer.close()
    await listening.until_open(0)
    assert listening.sample("foresight_connections_timed_out_total", phase="header") == 1


async def test_a_kept_alive_connection_waits_between_requests_longer_than_the_head_timeout(
    listening: Listening,
) -> None:
    reader, writer = await listening.connect()
    try:
        for _ in range(2):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
            assert await reader.readexactly(2) == b"ok"
            await asyncio.sleep(2 * LIMITS.header_seconds)  # idle, not slow: the head timer is off
    finally:
        writer.close()
    assert listening.sample("foresight_connections_timed_out_total", phase="header") == 0


async def test_an_unparsable_request_gets_a_status_and_one_short_log_line(
    listening: Listening, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StatusRequestHandler, "rejections", type(StatusRequestHandler.rejections)())
    with caplog.at_level(logging.DEBUG):
        answers = []
        for _ in range(3):
            reader, writer = await listening.connect()
            writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n")
            answers.append(await reader.read())
            writer.close()
    head, _, body = answers[0].partition(b"\r\n\r\n")
    assert head.split()[1] == b"400" and b"Content-Type: application/json" in head
    status = json.loads(body)
    assert status["kind"] == "Status" and status["reason"] == "BadRequest" and status["code"] == 400
    lines = [record for record in caplog.records if "could not parse a request" in record.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and lines[0].levelno == logging.WARNING
    assert "\n" not in lines[0].getMessage()
    assert not [record for record in caplog.records if record.exc_info], "no traceback"
