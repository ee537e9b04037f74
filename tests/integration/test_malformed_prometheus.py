"""Answers of the wrong shape from Prometheus are source errors: the refresher goes on, a tracked
key answers 503 once its last good value is stale (never 500), and everything recovers when the
answers are right again.

A real Prometheus never answers in the wrong shape, so a proxy in front of the test's real
Prometheus stands in for a broken one (or a broken Thanos or Mimir in front of it): it forwards
every query, or answers each with a fixed body while a test sets one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from adapter.kubernetes.errors import SourceError
from adapter.sources.prometheus import PrometheusSource

from .adapter_client import adapter_settings, running_adapter
from .prometheus import PrometheusServer

pytestmark = pytest.mark.integration
PATH = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/queue_depth?labelSelector=app%3Dllama"


def _success(result: object) -> str:
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


MALFORMED_INSTANT = {
    "result a string": json.dumps({"status": "success", "data": {"resultType": "matrix", "result": "x"}}),
    "result null": _success(None),
    "result a list of strings": _success(["x"]),
    "sample without value": _success([{"metric": {}}]),
    "value not a pair": _success([{"metric": {}, "value": [1]}]),
    "value not a number": _success([{"metric": {}, "value": [1, "many"]}]),
    "value a bare number": _success([{"metric": {}, "value": [1, 2]}]),
    "time a string": _success([{"metric": {}, "value": ["now", "1"]}]),
    "labels a list": _success([{"metric": ["job"], "value": [1, "1"]}]),
    "label value a number": _success([{"metric": {"job": 1}, "value": [1, "1"]}]),
    "no data": json.dumps({"status": "success"}),
    "data null": json.dumps({"status": "success", "data": None}),
    "top level a list": "[]",
    "not JSON": "<html>bad gateway</html>",
}
MALFORMED_RANGE = {
    "values a string": _success([{"metric": {}, "values": "x"}]),
    "values missing": _success([{"metric": {}}]),
    "a point not a pair": _success([{"metric": {}, "values": [[1, "1"], [2]]}]),
    "a point's value not a number": _success([{"metric": {}, "values": [[1, "1"], [2, "lots"]]}]),
}


class BreakableProxy:
    """Forwards to Prometheus, or answers every API call with ``answer`` while it is set."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.answer: str | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.answer is not None:
            return web.Response(text=self.answer, content_type="application/json")
        async with aiohttp.ClientSession() as session, session.request(
            request.method, f"{self.upstream}{request.path_qs}", data=await request.read(),
            headers={"Content-Type": request.headers.get("Content-Type", "")},
        ) as upstream:
            return web.Response(body=await upstream.read(), status=upstream.status,
                                content_type=upstream.content_type)


@pytest.fixture
async def proxy(prometheus: PrometheusServer) -> AsyncIterator[BreakableProxy]:
    breakable = BreakableProxy(prometheus.url)
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", breakable.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    breakable.url = f"http://127.0.0.1:{port}"
    try:
        yield breakable
    finally:
        await runner.cleanup()


async def _source(proxy: BreakableProxy) -> PrometheusSource:
    settings = adapter_settings(proxy.url).prometheus
    assert settings is not None
    source = PrometheusSource.open(settings, max_concurrency=1)
    await source.start()
    return source


@pytest.mark.parametrize("body", MALFORMED_INSTANT.values(), ids=MALFORMED_INSTANT.keys())
async def test_a_malformed_instant_answer_is_a_source_error(proxy: BreakableProxy, body: str) -> None:
    source = await _source(proxy)
    try:
        assert await source.instant("vector(1)"), "the proxy forwards a good answer"
        proxy.answer = body
        with pytest.raises(SourceError, match="Prometheus gave an unreadable answer"):
            await source.instant("vector(1)")
    finally:
        await source.close()


@pytest.mark.parametrize("body", MALFORMED_RANGE.values(), ids=MALFORMED_RANGE.keys())
async def test_a_malformed_range_answer_is_a_source_error(proxy: BreakableProxy, body: str) -> None:
    source = await _source(proxy)
    try:
        proxy.answer = body
        with pytest.raises(SourceError, match="Prometheus gave an unreadable answer"):
            await source.range("vector(1)", start=1_700_000_000.0, end=1_700_000_060.0, step=15.0)
    finally:
        await source.close()


async def test_the_probe_of_an_idle_refresher_survives_a_malformed_answer(proxy: BreakableProxy) -> None:
    async with running_adapter(adapter_settings(proxy.url)) as adapter:
        proxy.answer = MALFORMED_INSTANT["result a string"]
        await adapter.store.refresh_now()  # no key tracked: the pass is the vector(1) probe
        assert (await adapter.client.get("/readyz")).status == 503
        proxy.answer = None
        await adapter.store.refresh_now()
        assert (await adapter.client.get("/readyz")).status == 200


async def test_a_tracked_key_answers_503_once_stale_then_recovers(proxy: BreakableProxy) -> None:
    async with running_adapter(adapter_settings(proxy.url, {"refresh": {"staleness": "2m"}})) as adapter:
        good = (await adapter.get_json(PATH))["items"][0]["value"]
        proxy.answer = MALFORMED_INSTANT["result a string"]
        await adapter.store.refresh_now()
        adapter.clock.offset = 60
        assert (await adapter.get_json(PATH))["items"][0]["value"] == good, "the last good value while fresh"
        adapter.clock.offset = 180
        await adapter.store.refresh_now()
        stale = await adapter.get_json(PATH, status=503)
        assert stale["reason"] == "ServiceUnavailable" and "unreadable answer" in stale["message"]
        proxy.answer = None
        adapter.clock.offset = 0
        await adapter.store.refresh_now()
        assert (await adapter.get_json(PATH))["items"][0]["value"] == good
