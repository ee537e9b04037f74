"""What an HPA sees when Prometheus fails: the last good value while it is fresh, then 503; the
source's load follows the number of keys, not the request rate. Uses the real Prometheus kept for
restarts, stopped and restarted to make a real outage (the shared one is never restarted)."""

from __future__ import annotations

import asyncio

import pytest

from .adapter_client import RunningAdapter, adapter_settings, running_adapter
from .prometheus import PrometheusServer

pytestmark = pytest.mark.integration
PATH = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/queue_depth?labelSelector=app%3Dllama"


@pytest.fixture
def prometheus(restartable_prometheus: PrometheusServer) -> PrometheusServer:
    """The Prometheus these tests may stop and start."""
    return restartable_prometheus


def instant_queries(adapter: RunningAdapter) -> float:
    return adapter.sample("foresight_source_queries_total", kind="instant")


async def test_outage_serves_last_good_value_then_503_then_recovers(prometheus: PrometheusServer) -> None:
    settings = adapter_settings(prometheus.url, {"refresh": {"staleness": "2m"}})
    async with running_adapter(settings) as adapter:
        first = await adapter.get_json(PATH)
        good_value = first["items"][0]["value"]
        prometheus.stop()
        try:
            await adapter.store.refresh_now()  # fails: Prometheus is down
            adapter.clock.offset = 60  # within the staleness bound
            during = await adapter.get_json(PATH)
            assert during["items"][0]["value"] == good_value
            assert during["items"][0]["timestamp"] == first["items"][0]["timestamp"]

            adapter.clock.offset = 180  # past the bound: never an invented value
            await adapter.store.refresh_now()
            stale = await adapter.get_json(PATH, status=503)
            assert stale["reason"] == "ServiceUnavailable"
            assert "unreachable" in stale["message"]
            assert "Traceback" not in stale["message"] and "requests." not in stale["message"]
            ready = await adapter.client.get("/readyz")
            assert ready.status == 503
        finally:
            prometheus.start()
        adapter.clock.offset = 0
        await adapter.store.refresh_now()
        recovered = await adapter.get_json(PATH)
        assert recovered["items"][0]["value"] == good_value
        assert (await adapter.client.get("/readyz")).status == 200


async def test_first_request_while_prometheus_is_down_is_503(prometheus: PrometheusServer) -> None:
    settings = adapter_settings(prometheus.url)
    async with running_adapter(settings) as adapter:
        prometheus.stop()
        try:
            body = await adapter.get_json(PATH, status=503)
            assert body["kind"] == "Status" and body["code"] == 503
        finally:
            prometheus.start()


async def test_concurrent_requests_share_one_query_and_later_reads_hit_the_store(prometheus: PrometheusServer) -> None:
    settings = adapter_settings(prometheus.url)
    async with running_adapter(settings) as adapter:
        responses = await asyncio.gather(*(adapter.client.get(PATH) for _ in range(20)))
        assert [response.status for response in responses] == [200] * 20
        assert instant_queries(adapter) == 1
        for _ in range(30):
            await adapter.get_json(PATH)
        assert instant_queries(adapter) == 1
        assert adapter.sample("foresight_cache_lookups_total", result="hit") == 30
        await adapter.store.refresh_now()
        assert instant_queries(adapter) == 2


async def test_idle_keys_are_dropped(prometheus: PrometheusServer) -> None:
    settings = adapter_settings(prometheus.url, {"refresh": {"idle_after": "10m"}})
    async with running_adapter(settings) as adapter:
        await adapter.get_json(PATH)
        assert len(list(adapter.store.views())) == 1
        adapter.clock.offset = 601
        await adapter.store.refresh_now()
        assert list(adapter.store.views()) == []


async def test_key_caps_answer_429_and_count_it(prometheus: PrometheusServer) -> None:
    settings = adapter_settings(prometheus.url, {"refresh": {"max_keys": 3, "max_keys_per_namespace": 2}})
    async with running_adapter(settings) as adapter:
        base = "/apis/external.metrics.k8s.io/v1beta1/namespaces"
        await adapter.get_json(f"{base}/inference/queue_depth?labelSelector=app%3Dllama")
        await adapter.get_json(f"{base}/inference/queue_depth?labelSelector=app%3Dmistral")
        refused = await adapter.get_json(f"{base}/inference/queue_depth?labelSelector=app%3Dphi", status=429)
        assert refused["reason"] == "TooManyRequests" and "namespace" in refused["message"]
        await adapter.get_json(f"{base}/other/queue_depth?labelSelector=app%3Dllama")
        refused = await adapter.get_json(f"{base}/other/queue_depth", status=429)
        assert "max_keys" in refused["message"]
        assert adapter.sample("foresight_rejected_keys_total", scope="namespace") == 1
        assert adapter.sample("foresight_rejected_keys_total", scope="total") == 1
        # a tracked key is still served
        await adapter.get_json(f"{base}/inference/queue_depth?labelSelector=app%3Dllama")
