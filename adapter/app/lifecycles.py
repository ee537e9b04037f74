"""The lifecycles of what an application holds, one aiohttp ``cleanup_ctx`` per resource: the
function that opens a resource when the application starts closes it when the application stops.

aiohttp opens them in the order they are registered and closes them in reverse, and a start-up
that fails part way closes the ones already open. Registered before the server's background work,
what that work uses opens before it starts and closes after it stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from adapter.access.control import AccessControl
from adapter.sources.protocol import Source
from adapter.tracking.forecast_pool import ForecastPool

Lifecycle = Callable[[web.Application], AsyncIterator[None]]


def source_lifecycle(source: Source) -> Lifecycle:
    """The source's query threads and connections."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        try:
            await source.start()
            yield
        finally:
            await source.close()

    return lifecycle


def forecast_workers_lifecycle(pool: ForecastPool) -> Lifecycle:
    """The forecast worker processes: each starts with its first job (an adapter nobody asks for
    forecasts spawns none), and all are terminated when the application stops."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        try:
            yield
        finally:
            pool.close()

    return lifecycle


def access_lifecycle(access: AccessControl) -> Lifecycle:
    """Access control: its kube-apiserver client's threads, and the client CAs loaded before the
    first request (a bad CA file or an unreadable ConfigMap stops start-up with the reason)."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        try:
            await access.start()
            yield
        finally:
            access.close()

    return lifecycle
