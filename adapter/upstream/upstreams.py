"""The upstream adapters the config names, one per group-version Foresight serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from adapter.kubernetes.wire import CUSTOM_GROUP, CUSTOM_VERSION, EXTERNAL_GROUP, EXTERNAL_VERSION
from adapter.settings.config import UpstreamSettings
from adapter.upstream.client import Upstream


@dataclass(frozen=True)
class Upstreams:
    """Where what Foresight does not serve is forwarded; ``None`` answers it with 404."""

    external: Upstream | None = None
    custom: Upstream | None = None

    @classmethod
    def from_settings(cls, settings: UpstreamSettings, *, source: str) -> Upstreams:
        """Reads every credential file now; a bad one raises ``ConfigError`` naming its field."""
        external = custom = None
        if settings.external is not None:
            external = Upstream(settings.external, f"{EXTERNAL_GROUP}/{EXTERNAL_VERSION}",
                                field="upstream.external", source=source)
        if settings.custom is not None:
            custom = Upstream(settings.custom, f"{CUSTOM_GROUP}/{CUSTOM_VERSION}", field="upstream.custom", source=source)
        return cls(external, custom)

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        """Every upstream's session, open while the application runs (an aiohttp ``cleanup_ctx``)."""
        upstreams = [upstream for upstream in (self.external, self.custom) if upstream is not None]
        for upstream in upstreams:
            upstream.open()
        try:
            yield
        finally:
            for upstream in upstreams:
                await upstream.close()
