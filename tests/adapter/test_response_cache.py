"""The server renders a body once per reading and request target: the same reading answers with
the same bytes, and a new reading is served from the next request on."""

from __future__ import annotations

import json

import pytest

from .demo_adapter import demo_adapter

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/requests_per_second?labelSelector=app%3Dllama"
PODS = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/gpu_utilization?labelSelector=app%3Dllama"


@pytest.mark.parametrize("path", [EXTERNAL, PODS], ids=["external", "pods"])
async def test_a_new_reading_is_served_from_the_next_request(path: str) -> None:
    async with demo_adapter() as demo:
        first = await (await demo.client.get(path)).read()
        assert await (await demo.client.get(path)).read() == first
        assert {item["timestamp"] for item in json.loads(first)["items"]} == {"2023-11-14T22:13:20Z"}
        demo.clock.now += 60.0
        await demo.store.refresh_now()
        refreshed = await demo.get(path, status=200)
        assert {item["timestamp"] for item in refreshed["items"]} == {"2023-11-14T22:14:20Z"}
