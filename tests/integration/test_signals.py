"""Every signal the adapter serves, checked against the synthetic workload's ground truth through a
real Prometheus (see ``workload_exporter`` for what stands in for dcgm-exporter, vLLM and
kube-state-metrics)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import quote

import pytest

from forecasting.quantity import parse_quantity

from .adapter_client import RunningAdapter, adapter_settings, running_adapter
from .prometheus import PrometheusServer
from .workload_exporter import ground_truth, workloads

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2"
EXACT_TOLERANCE = 0.001  # only milli rounding
RATE_TOLERANCE = EXACT_TOLERANCE  # rates too: the adapter's queries are evaluated where a window is whole

pytestmark = pytest.mark.integration


@pytest.fixture
async def adapter(prometheus: PrometheusServer) -> AsyncIterator[RunningAdapter]:
    settings = adapter_settings(prometheus.url, {"signals": {"carbon": {"grams_per_kwh": 400}}})
    async with running_adapter(settings, exact_rates_from=prometheus) as running:
        yield running


def external_path(metric: str, namespace: str, selector: str) -> str:
    return f"{EXTERNAL}/namespaces/{namespace}/{metric}?labelSelector={quote(selector)}"


async def external_value(adapter: RunningAdapter, metric: str, namespace: str, selector: str) -> float:
    body = await adapter.get_json(external_path(metric, namespace, selector))
    assert body["kind"] == "ExternalMetricValueList"
    assert len(body["items"]) == 1, "an external answer carries one aggregated item"
    item = body["items"][0]
    assert item["metricName"] == metric
    assert item["window"] == 60
    return float(parse_quantity(item["value"]))


def assert_close(served: float, expected: float, tolerance: float) -> None:
    assert served == pytest.approx(expected, rel=tolerance, abs=0.0011), (served, expected)


@pytest.mark.parametrize("app", ["llama", "mistral", "phi"])
async def test_every_signal_matches_ground_truth(adapter: RunningAdapter, app: str) -> None:
    truth = ground_truth("inference", app)
    selector = f"app={app}"
    assert_close(await external_value(adapter, "gpu_utilization", "inference", selector), truth.gpu_utilization, EXACT_TOLERANCE)
    assert_close(await external_value(adapter, "requests_per_second", "inference", selector), truth.requests_per_second, RATE_TOLERANCE)
    assert_close(await external_value(adapter, "queue_depth", "inference", selector), truth.queue_depth, EXACT_TOLERANCE)
    assert truth.latency_p99_seconds is not None
    assert_close(await external_value(adapter, "latency_p99_seconds", "inference", selector), truth.latency_p99_seconds, RATE_TOLERANCE)
    assert truth.energy_per_request_joules is not None
    energy = await external_value(adapter, "energy_per_request_joules", "inference", selector)
    assert_close(energy, truth.energy_per_request_joules, RATE_TOLERANCE)
    carbon = await external_value(adapter, "carbon_per_request_milligrams", "inference", selector)
    assert_close(carbon, truth.energy_per_request_joules * 400 / 3600, RATE_TOLERANCE)


async def test_llama_p99_is_the_interpolated_bucket_value(adapter: RunningAdapter) -> None:
    assert ground_truth("inference", "llama").latency_p99_seconds == pytest.approx(0.75)
    served = await external_value(adapter, "latency_p99_seconds", "inference", "app=llama")
    assert_close(served, 0.75, RATE_TOLERANCE)


async def test_shared_gpu_power_is_counted_once(adapter: RunningAdapter) -> None:
    truth = ground_truth("inference", "mistral")
    assert truth.gpu_power_watts * 2 == truth.gpu_power_watts_naive
    energy = await external_value(adapter, "energy_per_request_joules", "inference", "app=mistral")
    assert_close(energy, truth.gpu_power_watts / truth.requests_per_second, RATE_TOLERANCE)


async def test_idle_workload_serves_measured_zeros(adapter: RunningAdapter) -> None:
    """No requests: rate, queue, p99 (NaN in PromQL) and J/request (Inf in PromQL) are all 0."""
    for metric in ("requests_per_second", "queue_depth", "latency_p99_seconds", "energy_per_request_joules"):
        assert await external_value(adapter, metric, "inference", "app=idle") == 0, metric
    assert await external_value(adapter, "gpu_utilization", "inference", "app=idle") == 0


async def test_namespace_isolation(adapter: RunningAdapter) -> None:
    inference = await external_value(adapter, "gpu_utilization", "inference", "app=llama")
    other = await external_value(adapter, "gpu_utilization", "other", "app=llama")
    assert_close(inference, ground_truth("inference", "llama").gpu_utilization, EXACT_TOLERANCE)
    assert_close(other, ground_truth("other", "llama").gpu_utilization, EXACT_TOLERANCE)
    # a selector naming another namespace narrows to nothing instead of escaping
    body = await adapter.get_json(external_path("gpu_utilization", "inference", "namespace=other,app=llama"), status=404)
    assert body["reason"] == "NotFound"


async def test_selector_matching_nothing_is_an_error_not_zero(adapter: RunningAdapter) -> None:
    body = await adapter.get_json(external_path("requests_per_second", "inference", "app=nonexistent"), status=404)
    assert body["kind"] == "Status" and "no data" in body["message"]


async def test_set_based_selectors(adapter: RunningAdapter) -> None:
    both = await external_value(adapter, "queue_depth", "inference", "app in (llama,mistral)")
    expected = ground_truth("inference", "llama").queue_depth + ground_truth("inference", "mistral").queue_depth
    assert_close(both, expected, EXACT_TOLERANCE)
    without_llama = await external_value(adapter, "queue_depth", "inference", "app notin (llama),app")
    expected_rest = sum(ground_truth(namespace, app).queue_depth for namespace, app in workloads()
                        if namespace == "inference" and app != "llama")
    assert_close(without_llama, expected_rest, EXACT_TOLERANCE)
    model = await external_value(adapter, "queue_depth", "inference", "model=llama")
    assert_close(model, ground_truth("inference", "llama").queue_depth, EXACT_TOLERANCE)


@pytest.mark.parametrize("metric", ["gpu_utilization", "requests_per_second", "queue_depth", "latency_p99_seconds"])
async def test_per_pod_values_match_ground_truth(adapter: RunningAdapter, metric: str) -> None:
    truth = ground_truth("inference", "llama")
    body = await adapter.get_json(f"{CUSTOM}/namespaces/inference/pods/*/{metric}?labelSelector=app%3Dllama")
    assert body["kind"] == "MetricValueList"
    served = {item["describedObject"]["name"]: float(parse_quantity(item["value"])) for item in body["items"]}
    assert set(served) == set(truth.pods)
    for pod, value in served.items():
        expected = getattr(truth.pods[pod], metric)
        assert_close(value, expected, RATE_TOLERANCE)
    one = await adapter.get_json(f"{CUSTOM}/namespaces/inference/pods/llama-1/{metric}?labelSelector=app%3Dllama")
    assert [item["describedObject"]["name"] for item in one["items"]] == ["llama-1"]


async def test_pod_metrics_honour_the_metric_label_selector(adapter: RunningAdapter) -> None:
    path = f"{CUSTOM}/namespaces/inference/pods/*/queue_depth?labelSelector=app%3Dllama"
    matching = await adapter.get_json(path + "&metricLabelSelector=model_name%3Dllama")
    assert {item["describedObject"]["name"] for item in matching["items"]} == {"llama-0", "llama-1"}
    assert matching["items"][0]["metric"]["selector"] == {"matchLabels": {"model_name": "llama"}}
    await adapter.get_json(path + "&metricLabelSelector=model_name%3Dother", status=404)


async def test_values_are_quantities_rounded_up_to_milli(adapter: RunningAdapter) -> None:
    body = await adapter.get_json(external_path("energy_per_request_joules", "inference", "app=llama"))
    value = body["items"][0]["value"]
    truth = ground_truth("inference", "llama").energy_per_request_joules
    assert truth is not None
    assert parse_quantity(value) >= Decimal(str(truth))
    assert value.endswith("m") or value.isdigit()


async def test_carbon_intensity_from_a_prometheus_series(prometheus: PrometheusServer) -> None:
    """The grid intensity may be a PromQL series; ``vector(250)`` stands for one here."""
    settings = adapter_settings(prometheus.url, {"signals": {"carbon": {"query": "vector(250)"}}})
    async with running_adapter(settings, exact_rates_from=prometheus) as adapter:
        carbon = await external_value(adapter, "carbon_per_request_milligrams", "inference", "app=llama")
    truth = ground_truth("inference", "llama").energy_per_request_joules
    assert truth is not None
    assert_close(carbon, truth * 250 / 3600, RATE_TOLERANCE)


async def test_missing_carbon_intensity_series_is_an_error_not_zero(prometheus: PrometheusServer) -> None:
    settings = adapter_settings(prometheus.url, {"signals": {"carbon": {"query": "grid_intensity_that_is_not_there"}}})
    async with running_adapter(settings) as adapter:
        path = external_path("carbon_per_request_milligrams", "inference", "app=llama")
        body = await adapter.get_json(path, status=404)
        assert "no data" in body["message"]
