"""One upstream adapter, reached over one connection-limited HTTPS session.

The session lives as long as the application (``Upstreams.lifecycle``). A request is
forwarded with a fresh set of headers: the caller's own never pass through, so a caller cannot
assert an identity; Foresight asserts the one it authenticated, and only over its front-proxy
client certificate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from adapter import __version__
from adapter.kubernetes.errors import ServiceUnavailable
from adapter.kubernetes.identity import Identity
from adapter.kubernetes.wire import APIResourceList
from adapter.settings.config import UpstreamAdapter
from adapter.upstream.credentials import TokenFile, client_tls
from adapter.upstream.discovery import DiscoveryMerge, InvalidDiscovery, upstream_resources
from adapter.upstream.identity_headers import front_proxy_headers

log = logging.getLogger(__name__)
MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""Larger than any metric list or discovery document; past it the upstream counts as failing."""
CONNECT_SECONDS = 5.0


@dataclass(frozen=True)
class Answer:
    """The upstream's answer, to be returned as it is."""

    status: int
    body: bytes
    content_type: str


class Upstream:
    """The adapter that answers one group-version's metrics Foresight does not serve."""

    def __init__(self, settings: UpstreamAdapter, group_version: str, *, field: str, source: str) -> None:
        self.url = settings.url
        self.group_version = group_version
        self.forwards_identity = settings.cert_file is not None
        self._tls = client_tls(settings, field=field, source=source)
        self._token = TokenFile(settings.bearer_token_file, field=field, source=source) if settings.bearer_token_file else None
        self._seconds = settings.timeout
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout, connect=min(CONNECT_SECONDS, settings.timeout))
        self._max_connections = settings.max_connections
        self._session: aiohttp.ClientSession | None = None
        self._where = f"the upstream adapter of {group_version} at {self.url}"
        self._merge = DiscoveryMerge(self._where)

    def open(self) -> None:
        """Open the session; on the running loop, when the application starts."""
        connector = aiohttp.TCPConnector(limit=self._max_connections, ssl=self._tls)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def forward(self, method: str, raw_path: str, *, accept: str, identity: Identity | None) -> Answer:
        """``method raw_path`` (path and query as the caller sent them) asked of the upstream;
        :class:`ServiceUnavailable` when it gives no answer."""
        headers = await self._headers(accept, identity)
        assert self._session is not None, "forward() before the application started"
        try:
            async with self._session.request(method, URL(self.url + raw_path, encoded=True), headers=headers,
                                             allow_redirects=False) as response:
                body = await _read_bounded(response)
                content_type = response.headers.get("Content-Type", "application/json")
                return Answer(response.status, body, content_type)
        except (aiohttp.ClientError, TimeoutError, OSError, AnswerTooLarge) as error:
            why = _why(error, self._seconds)
            log.warning("%s did not answer %s: %s", self._where, raw_path.split("?")[0], why)
            raise ServiceUnavailable(f"{self._where} did not answer ({why})") from None

    async def merged(self, own: APIResourceList, raw_path: str, *, identity: Identity | None) -> Mapping[str, Any]:
        """``own`` with the upstream's resources added; ``own`` alone when the upstream fails, so
        that Foresight's own metrics stay discoverable."""
        try:
            answer = await self.forward("GET", raw_path, accept="application/json", identity=identity)
            if answer.status != 200:
                raise InvalidDiscovery(f"its discovery answered {answer.status}")
            resources = upstream_resources(answer.body, self.group_version)
        except (ServiceUnavailable, InvalidDiscovery) as error:
            log.warning("discovery of %s lists Foresight's metrics only: %s", self.group_version, _message(error))
            return own
        return self._merge.merge(own, resources)

    async def _headers(self, accept: str, identity: Identity | None) -> list[tuple[str, str]]:
        headers = [("Accept", accept or "application/json"), ("User-Agent", f"foresight/{__version__}")]
        if self._token is not None:
            headers.append(("Authorization", f"Bearer {await self._token.token()}"))
        if self.forwards_identity and identity is not None:
            headers += front_proxy_headers(identity)
        return headers


class AnswerTooLarge(Exception):
    """The upstream's answer passed :data:`MAX_ANSWER_BYTES`."""


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise AnswerTooLarge(f"an answer of more than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _why(error: Exception, seconds: float) -> str:
    if isinstance(error, TimeoutError):
        return f"nothing within the timeout of {seconds:g}s"
    return str(error) if isinstance(error, AnswerTooLarge) else type(error).__name__


def _message(error: Exception) -> str:
    return error.message if isinstance(error, ServiceUnavailable) else str(error)
