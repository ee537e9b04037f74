"""An upstream that accepts a connection and never answers costs a request its ``timeout``, then
a 503, and leaves the adapter as it was."""

import asyncio
from pathlib import Path

import pytest

from adapter.kubernetes.errors import ServiceUnavailable
from adapter.settings.config import UpstreamAdapter
from adapter.upstream.client import Upstream


async def test_a_silent_upstream_is_a_service_unavailable_after_the_timeout(tmp_path: Path) -> None:
    accepted = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # the TLS handshake never gets an answer
        accepted.set()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    (tmp_path / "token").write_text("a-token")
    settings = UpstreamAdapter(url=f"https://127.0.0.1:{port}", bearer_token_file=tmp_path / "token", timeout=1.0)
    upstream = Upstream(settings, "external.metrics.k8s.io/v1beta1", field="upstream.external", source="test.yaml")
    upstream.open()
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            await upstream.forward("GET", "/apis/external.metrics.k8s.io/v1beta1/namespaces/a/m", accept="", identity=None)
        assert accepted.is_set()
        assert caught.value.message == (
            f"the upstream adapter of external.metrics.k8s.io/v1beta1 at https://127.0.0.1:{port} did not answer "
            "(nothing within the timeout of 1s)"
        )
    finally:
        await upstream.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
