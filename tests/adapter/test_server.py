"""The HTTP surface over the demo fleet: discovery, values, errors as ``Status``, NaN/Inf/empty
policies, what real control-plane clients send, and the adapter's own endpoints."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapter.settings.config import MetricRule, RefreshSettings
from forecasting.quantity import parse_quantity

from .demo_adapter import START, DemoAdapter, demo_adapter

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2"
QUEUE = f"{EXTERNAL}/namespaces/default/queue_depth?labelSelector=app%3Dllama"
HPA_ACCEPT = {"Accept": "application/vnd.kubernetes.protobuf, */*"}
AGGREGATED_DISCOVERY_ACCEPT = {
    "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
}


async def test_discovery_lists_every_metric(demo: DemoAdapter) -> None:
    external = await demo.get(EXTERNAL, status=200)
    names = [resource["name"] for resource in external["resources"]]
    assert names and names == sorted(names)
    assert "energy_per_request_joules" in names
    custom = await demo.get(CUSTOM, status=200)
    per_pod = {resource["name"] for resource in custom["resources"]}
    assert "pods/gpu_utilization" in per_pod and "pods/energy_per_request_joules" not in per_pod
    group = await demo.get("/apis/external.metrics.k8s.io", status=200)
    assert group["preferredVersion"]["version"] == "v1beta1"
    await demo.get("/apis/metrics.k8s.io", status=404)


async def test_aggregator_asking_for_aggregated_discovery_gets_a_plain_group_list(demo: DemoAdapter) -> None:
    body = await demo.get("/apis", status=200, headers=AGGREGATED_DISCOVERY_ACCEPT)
    assert body["kind"] == "APIGroupList"


async def test_hpa_accept_header_gets_json(demo: DemoAdapter) -> None:
    body = await demo.get(QUEUE, status=200, headers=HPA_ACCEPT)
    assert body["kind"] == "ExternalMetricValueList"
    [item] = body["items"]
    assert item["timestamp"] == "2023-11-14T22:13:20Z"


async def test_values_follow_the_simulated_fleet(demo: DemoAdapter) -> None:
    body = await demo.get(QUEUE, status=200)
    state = demo.fleet.current()["llama"]
    assert float(parse_quantity(body["items"][0]["value"])) == pytest.approx(state.queue, abs=0.001)
    pods = await demo.get(f"{CUSTOM}/namespaces/default/pods/*/gpu_utilization?labelSelector=app%3Dllama", status=200)
    assert [item["describedObject"]["name"] for item in pods["items"]] == ["llama-0", "llama-1", "llama-2", "llama-3"]


@pytest.mark.parametrize(
    ("path", "code", "reason", "words"),
    [
        (f"{EXTERNAL}/namespaces/default/unknown_metric", 404, "NotFound", "unknown_metric"),
        (f"{EXTERNAL}/namespaces/default/queue_depth?labelSelector=app%20in%20llama", 400, "BadRequest", "selector"),
        (f"{EXTERNAL}/namespaces/Not_A_Namespace/queue_depth", 400, "BadRequest", "namespace"),
        (f"{EXTERNAL}/namespaces/default/queue_depth?labelSelector=app%3Dnobody", 404, "NotFound", "no data"),
        (f"{CUSTOM}/namespaces/default/pods/*/energy_per_request_joules", 404, "NotFound", "energy_per_request_joules"),
        (f"{CUSTOM}/namespaces/default/pods/llama-9/queue_depth?labelSelector=app%3Dllama", 404, "NotFound", "llama-9"),
        (f"{CUSTOM}/namespaces/default/pods/Bad_Pod/queue_depth", 400, "BadRequest", "pod name"),
        (f"{CUSTOM}/namespaces/default/metrics/queue_depth", 404, "NotFound", "could not find"),
    ],
)
async def test_errors_are_status_objects(demo: DemoAdapter, path: str, code: int, reason: str, words: str) -> None:
    body = await demo.get(path, status=code)
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": body["message"], "reason": reason, "code": code,
    }
    assert words in body["message"]


async def test_wrong_method_is_a_status(demo: DemoAdapter) -> None:
    response = await demo.client.post(QUEUE)
    assert response.status == 405
    assert (await response.json())["kind"] == "Status"


def _rule(name: str, query: str, **policy: str) -> MetricRule:
    return MetricRule.model_validate({"name": name, "query": query, "workload_selector": "pod_labels", **policy})


QUEUE_SERIES = "(vllm:num_requests_waiting{<<.LabelMatchers>>} and on(namespace, pod) kube_pod_labels{<<.PodLabelMatchers>>})"
POLICY_RULES = {
    rule.name: rule
    for rule in (
        _rule("nan_zero", f"sum({QUEUE_SERIES}) * 0 / 0", on_nan="zero"),
        _rule("nan_error", f"sum({QUEUE_SERIES}) * 0 / 0"),
        _rule("inf_zero", f"(sum({QUEUE_SERIES}) + 1) / 0", on_inf="zero"),
        _rule("inf_error", f"(sum({QUEUE_SERIES}) + 1) / 0"),
        _rule("empty_zero", "sum(no_such_series{<<.PodLabelMatchers>>})", on_empty="zero"),
        # finite until START + 30 s, infinite afterwards
        _rule("late_inf", f"(sum({QUEUE_SERIES}) + 1) / (time() < bool {START + 30})", on_inf="last_good"),
    )
}


@pytest.mark.parametrize(
    ("metric", "status", "value"),
    [("nan_zero", 200, "0"), ("nan_error", 503, None), ("inf_zero", 200, "0"), ("inf_error", 503, None), ("empty_zero", 200, "0")],
)
async def test_non_finite_and_empty_policies(metric: str, status: int, value: str | None) -> None:
    async with demo_adapter(POLICY_RULES) as demo:
        body = await demo.get(f"{EXTERNAL}/namespaces/default/{metric}?labelSelector=app%3Dllama", status=status)
        if value is None:
            assert body["reason"] == "ServiceUnavailable"
            assert "NaN" in body["message"] or "infinite" in body["message"]
        else:
            assert body["items"][0]["value"] == value
        kind = "empty" if metric.startswith("empty") else metric.split("_")[0]
        assert demo.sample("foresight_non_finite_results_total", metric=metric, kind=kind, policy=metric.split("_")[1]) == 1


async def test_last_good_policy_serves_the_previous_value_until_it_is_stale() -> None:
    async with demo_adapter(POLICY_RULES, refresh=RefreshSettings(staleness=120)) as demo:
        path = f"{EXTERNAL}/namespaces/default/late_inf?labelSelector=app%3Dllama"
        good = (await demo.get(path, status=200))["items"][0]
        demo.clock.now = START + 60
        await demo.store.refresh_now()
        served = (await demo.get(path, status=200))["items"][0]
        assert (served["value"], served["timestamp"]) == (good["value"], good["timestamp"])
        demo.clock.now = START + 200
        await demo.store.refresh_now()
        stale = await demo.get(path, status=503)
        assert "last_good" in stale["message"]


async def test_health_endpoints(demo: DemoAdapter) -> None:
    for path in ("/healthz", "/livez"):
        assert (await demo.client.get(path)).status == 200
    assert (await demo.client.get("/readyz")).status == 503  # nothing asked the source yet
    await demo.store.refresh_now()
    assert (await demo.client.get("/readyz")).status == 200


async def test_own_metrics_parse_as_prometheus_exposition(demo: DemoAdapter) -> None:
    await demo.get(QUEUE, status=200)
    await demo.get(QUEUE, status=200)
    await demo.get(f"{EXTERNAL}/namespaces/default/nope", status=404)
    response = await demo.client.get("/metrics")
    assert response.status == 200
    families = {family.name: family for family in text_string_to_metric_families(await response.text())}
    requests = {
        (sample.labels["path"], sample.labels["metric"], sample.labels["code"]): sample.value
        for sample in families["foresight_http_requests"].samples
        if sample.name == "foresight_http_requests_total"
    }
    route = "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"
    assert requests == {(route, "queue_depth", "200"): 2, (route, "", "404"): 1}
    for family in ("foresight_source_queries", "foresight_source_query_duration_seconds", "foresight_cache_lookups",
                   "foresight_http_request_duration_seconds", "foresight_tracked_keys"):
        assert family in families, family
    assert demo.sample("foresight_cache_lookups_total", result="miss") == 1
    assert demo.sample("foresight_cache_lookups_total", result="hit") == 1


async def test_status_page_shows_tracked_values(demo: DemoAdapter) -> None:
    await demo.get(QUEUE, status=200)
    response = await demo.client.get("/")
    assert response.status == 200 and response.content_type == "text/html"
    page = await response.text()
    assert "queue_depth" in page and "app=llama" in page
    assert "energy_per_request_joules" in page  # listed among the metrics served


async def test_hpa_escaped_wildcard_pod_path(demo: DemoAdapter) -> None:
    """client-go escapes the ``*`` of ``pods/*`` in the path: the HPA sends ``pods/%2A``."""
    body = await demo.get(f"{CUSTOM}/namespaces/default/pods/%2A/queue_depth?labelSelector=app%3Dllama", status=200)
    assert len(body["items"]) == 4


async def test_a_selector_the_rule_cannot_express_is_refused_before_it_is_tracked() -> None:
    """In series mode a selector key must be a Prometheus label name; the 400 takes no key slot."""
    rule = MetricRule(name="series_rule", query="sum(vllm:num_requests_waiting{<<.LabelMatchers>>})")
    async with demo_adapter({"series_rule": rule}) as demo:
        path = f"{EXTERNAL}/namespaces/default/series_rule?labelSelector=app.kubernetes.io%2Fname%3Dx"
        body = await demo.get(path, status=400)
        assert body["reason"] == "BadRequest"
        assert list(demo.store.views()) == []
