"""Every resource the application holds opens when it starts and closes when it stops: building one
starts nothing, and nothing of theirs is left once the application's cleanup has run. What the
background tasks use opens before them and closes after them.

The kube-apiserver here is an address that refuses connections (none runs here): each call still
runs on the client's threads, and fails.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from kubernetes import client

from adapter.access.authentication import AuthenticationSettings, Authenticator
from adapter.access.authentication_source import AuthenticationOptions
from adapter.access.control import AccessControl
from adapter.access.kube_api import KubeApi, KubeUnavailable
from adapter.app.assembly import assemble
from adapter.settings.config import ForecastSettings, RefreshSettings
from adapter.sources.demo.fleet import default_fleet
from adapter.sources.demo.source import DemoSource
from adapter.sources.protocol import RangeSeries, Sample

from .demo_adapter import demo_adapter

NOW = 1_700_000_000.0
HANG_GUARD_S = 120.0
"""Only tells a thread or process that ends from one that never does."""
FORECAST = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/requests_per_second_forecast?labelSelector=app%3Dllama"


def _threads(prefix: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]


def _gone(threads: list[threading.Thread]) -> bool:
    for thread in threads:
        thread.join(timeout=HANG_GUARD_S)
    return not any(thread.is_alive() for thread in threads)


@pytest.fixture
def refusing_kube_api() -> Iterator[str]:
    """The URL of an address that refuses connections: bound, never listening."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}"


def _kube_api(host: str) -> KubeApi:
    configuration = client.Configuration()
    configuration.host = host
    return KubeApi(client.ApiClient(configuration))


async def test_a_demo_source_starts_its_thread_on_start_not_when_built() -> None:
    before = set(threading.enumerate())
    source = DemoSource(default_fleet(start=NOW - 600, seed=1), clock=lambda: NOW)
    assert set(threading.enumerate()) - before == set(), "building the source started a thread"
    await source.start()
    started = _threads("demo-source")
    assert started and await source.instant("vector(1)")
    await source.close()
    assert _gone(started)


async def test_a_kube_api_starts_no_thread_until_started(refusing_kube_api: str) -> None:
    before = set(threading.enumerate())
    kube = _kube_api(refusing_kube_api)
    assert set(threading.enumerate()) - before == set(), "building the client started a thread"
    kube.start()
    with pytest.raises(KubeUnavailable):
        await kube.config_map("kube-system", "extension-apiserver-authentication")
    started = _threads("kube-api")
    assert started, "the call ran on the client's threads"
    kube.close()
    assert _gone(started)


async def test_the_demo_source_and_the_forecast_workers_are_gone_after_cleanup() -> None:
    before = set(multiprocessing.active_children())
    async with demo_adapter(forecasts=ForecastSettings(history="1h", workers=1)) as demo:
        assert (await demo.client.get(FORECAST)).status == 200  # tracks the forecast
        assert demo.tracker is not None
        await demo.tracker.refresh_now()  # a worker process fits it
        threads = _threads("demo-source")
        workers = set(multiprocessing.active_children()) - before
        assert threads and workers
    assert _gone(threads), "the demo source's thread outlived the application"
    assert not [worker for worker in workers if worker.is_alive()], "a forecast worker outlived the application"


async def test_access_controls_kube_api_threads_are_gone_after_cleanup(refusing_kube_api: str) -> None:
    kube = _kube_api(refusing_kube_api)
    access = AccessControl(
        Authenticator(AuthenticationSettings(), kube, token_cache_seconds=10.0), None,
        options=AuthenticationOptions(skip_lookup=True), config_maps=kube,
        tls=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH), kube_api=kube,
    )
    adapter = assemble(rules={}, source=OrderedSource(), refresh=RefreshSettings(), access=access,
                       refresh_in_background=False)
    async with TestClient(TestServer(adapter.app)) as test_client:
        response = await test_client.get("/apis", headers={"Authorization": "Bearer token"})
        assert response.status == 503, await response.text()  # the TokenReview could not be made
        threads = _threads("kube-api")
        assert threads
    assert _gone(threads), "the kube-apiserver client's threads outlived the application"


class OrderedSource:
    """Records, as it starts and closes, whether the refresher is running then."""

    def __init__(self) -> None:
        self.refresher_running_at: dict[str, bool] = {}

    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        return []

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        return []

    async def start(self) -> None:
        self.refresher_running_at["start"] = _refresher_running()

    async def close(self) -> None:
        self.refresher_running_at["close"] = _refresher_running()


def _refresher_running() -> bool:
    return any(task.get_name() == "refresher" and not task.done() for task in asyncio.all_tasks())


async def test_the_source_opens_before_the_background_work_starts_and_closes_after_it_stops() -> None:
    source = OrderedSource()
    adapter = assemble(rules={}, source=source, refresh=RefreshSettings())
    async with TestClient(TestServer(adapter.app)):
        assert _refresher_running()
    assert source.refresher_running_at == {"start": False, "close": False}
