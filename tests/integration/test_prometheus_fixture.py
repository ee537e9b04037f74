"""The Prometheus fixture is a real server, and what it computes is the exporter's ground truth.

Every figure in :class:`GroundTruth` is checked against PromQL run by Prometheus over the scraped
series, so adapter tests can trust the ground truth without re-deriving it. Queries are evaluated at
a time whose rate window starts and ends on a scrape, so rates are exact on a machine of any speed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from .prometheus import PrometheusServer
from .workload_exporter import TIMESTAMP_SERIES, ground_truth, workload, workloads
from .workload_model import P99, histogram_quantile

pytestmark = pytest.mark.integration

#: The adapter's rate window, in seconds; the fixture's backfilled history already covers it.
RATE_WINDOW_S = 60
#: Float rounding only. Counters are linear in their timestamps and every query is evaluated where
#: its rate window starts and ends on a scrape, so rates, and quantiles of them, are exact too.
EXACT = 1e-9

WORKLOADS = pytest.mark.parametrize(("namespace", "app"), workloads(), ids=lambda value: value)


@pytest.fixture
def client(prometheus: PrometheusServer) -> Iterator[PrometheusConnect]:
    """A client that fails at once instead of retrying, so an outage is seen immediately."""
    with PrometheusConnect(prometheus.url, retry=Retry(total=0)) as connection:
        yield connection


@dataclass(frozen=True)
class Query:
    """Instant queries at one evaluation time."""

    client: PrometheusConnect
    at: float

    def __call__(self, promql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.client.custom_query(promql, params={"time": f"{self.at:.3f}"})
        return result


@pytest.fixture
def query(client: PrometheusConnect, prometheus: PrometheusServer) -> Query:
    """Queries at the newest time whose rate window starts and ends on a scrape."""
    return Query(client, prometheus.whole_window_time(TIMESTAMP_SERIES, RATE_WINDOW_S))


def _rate(selector: str) -> str:
    return f"rate({selector}[{RATE_WINDOW_S}s])"


def _of_workload(expr: str, namespace: str, app: str) -> str:
    """Keep the series of ``expr`` whose ``namespace``/``pod`` belong to the workload's pods."""
    pods = f'kube_pod_labels{{namespace="{namespace}", label_app="{app}"}}'
    return f"({expr}) * on(namespace, pod) group_left() {pods}"


def _dcgm(series: str) -> str:
    """dcgm ``series`` with ``namespace``/``pod`` naming the GPU's user, whatever layout dcgm used."""
    expr = f'label_replace({series}, "pod", "$1", "pod_name", "(.+)")'
    expr = f'label_replace({expr}, "pod", "$1", "exported_pod", "(.+)")'
    return f'label_replace({expr}, "namespace", "$1", "exported_namespace", "(.+)")'


def _scalar(query: Query, promql: str) -> float:
    result = query(promql)
    assert len(result) == 1, f"{promql} returned {len(result)} series: {result}"
    return float(result[0]["value"][1])


def _by_pod(query: Query, promql: str) -> dict[str, float]:
    return {series["metric"]["pod"]: float(series["value"][1]) for series in query(promql)}


def _p99(by: str, namespace: str, app: str) -> str:
    buckets = _of_workload(_rate("vllm:e2e_request_latency_seconds_bucket"), namespace, app)
    return f"histogram_quantile({P99}, sum by ({by}) ({buckets}))"


def _approx_or_nan(expected: float | None, rel: float) -> object:
    """``None`` in the ground truth stands for PromQL's NaN."""
    return pytest.approx(math.nan if expected is None else expected, rel=rel, nan_ok=True)


def test_pooled_llama_p99_is_interpolated_inside_the_one_second_bucket() -> None:
    buckets = workload("inference", "llama").latency_buckets()
    assert histogram_quantile(P99, buckets) == pytest.approx(0.75)
    assert ground_truth("inference", "llama").latency_p99_seconds == pytest.approx(0.75)


def test_quantile_in_the_inf_bucket_is_the_last_finite_bound() -> None:
    buckets = workload("other", "llama").latency_buckets()
    assert histogram_quantile(P99, buckets) == 2.5


def test_quantile_without_observations_is_none() -> None:
    assert histogram_quantile(P99, workload("inference", "idle").latency_buckets()) is None


@WORKLOADS
def test_requests_per_second_match_ground_truth(query: Query, namespace: str, app: str) -> None:
    promql = f"sum({_of_workload(_rate('vllm:request_success_total'), namespace, app)})"
    expected = ground_truth(namespace, app).requests_per_second
    assert _scalar(query, promql) == pytest.approx(expected, rel=EXACT)


@WORKLOADS
def test_gpu_utilization_matches_ground_truth(query: Query, namespace: str, app: str) -> None:
    promql = f"avg({_of_workload(_dcgm('DCGM_FI_DEV_GPU_UTIL'), namespace, app)})"
    assert _scalar(query, promql) == pytest.approx(ground_truth(namespace, app).gpu_utilization, rel=EXACT)


@WORKLOADS
def test_gpu_power_is_summed_once_per_gpu(query: Query, namespace: str, app: str) -> None:
    power = _of_workload(_dcgm("DCGM_FI_DEV_POWER_USAGE"), namespace, app)
    promql = f"sum(max by (UUID) ({power}))"
    assert _scalar(query, promql) == pytest.approx(ground_truth(namespace, app).gpu_power_watts, rel=EXACT)


def test_naive_power_sum_counts_the_shared_gpu_twice(query: Query) -> None:
    truth = ground_truth("inference", "mistral")
    promql = f"sum({_of_workload(_dcgm('DCGM_FI_DEV_POWER_USAGE'), 'inference', 'mistral')})"
    assert _scalar(query, promql) == pytest.approx(truth.gpu_power_watts_naive, rel=EXACT)
    assert truth.gpu_power_watts_naive == 2 * truth.gpu_power_watts


@WORKLOADS
def test_queue_depth_matches_ground_truth(query: Query, namespace: str, app: str) -> None:
    promql = f"sum({_of_workload('vllm:num_requests_waiting', namespace, app)})"
    assert _scalar(query, promql) == pytest.approx(ground_truth(namespace, app).queue_depth, rel=EXACT)


@WORKLOADS
def test_latency_p99_matches_ground_truth(query: Query, namespace: str, app: str) -> None:
    expected = ground_truth(namespace, app).latency_p99_seconds
    assert _scalar(query, _p99("le", namespace, app)) == _approx_or_nan(expected, EXACT)


@WORKLOADS
def test_latency_mean_matches_ground_truth(query: Query, namespace: str, app: str) -> None:
    total = f"sum({_of_workload(_rate('vllm:e2e_request_latency_seconds_sum'), namespace, app)})"
    count = f"sum({_of_workload(_rate('vllm:e2e_request_latency_seconds_count'), namespace, app)})"
    expected = ground_truth(namespace, app).latency_mean_seconds
    assert _scalar(query, f"{total} / {count}") == _approx_or_nan(expected, EXACT)


@WORKLOADS
def test_energy_per_request_from_the_energy_counter_matches_ground_truth(
    query: Query, namespace: str, app: str
) -> None:
    energy = _of_workload(_dcgm(_rate("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")), namespace, app)
    watts = f"sum(max by (UUID) ({energy})) / 1000"
    requests_per_second = f"sum({_of_workload(_rate('vllm:request_success_total'), namespace, app)})"
    expected = ground_truth(namespace, app).energy_per_request_joules
    observed = _scalar(query, f"({watts}) / ({requests_per_second})")
    if expected is None:
        assert observed == math.inf
    else:
        assert observed == pytest.approx(expected, rel=EXACT)


@WORKLOADS
def test_per_pod_signals_match_ground_truth(query: Query, namespace: str, app: str) -> None:
    pods = ground_truth(namespace, app).pods
    utilization = _by_pod(query, f"max by (pod) ({_of_workload(_dcgm('DCGM_FI_DEV_GPU_UTIL'), namespace, app)})")
    rates = _by_pod(query, f"sum by (pod) ({_of_workload(_rate('vllm:request_success_total'), namespace, app)})")
    queues = _by_pod(query, f"sum by (pod) ({_of_workload('vllm:num_requests_waiting', namespace, app)})")
    p99s = _by_pod(query, _p99("pod, le", namespace, app))
    assert utilization == {pod: pytest.approx(truth.gpu_utilization, rel=EXACT) for pod, truth in pods.items()}
    assert rates == {pod: pytest.approx(truth.requests_per_second, rel=EXACT) for pod, truth in pods.items()}
    assert queues == {pod: pytest.approx(truth.queue_depth, rel=EXACT) for pod, truth in pods.items()}
    assert p99s == {
        pod: _approx_or_nan(truth.latency_p99_seconds, EXACT) for pod, truth in pods.items()
    }


def test_same_pod_name_in_two_namespaces_stays_two_series(query: Query) -> None:
    result = query('vllm:num_requests_waiting{pod="llama-0"}')
    by_namespace = {series["metric"]["namespace"]: float(series["value"][1]) for series in result}
    assert by_namespace == {
        "inference": ground_truth("inference", "llama").pods["llama-0"].queue_depth,
        "other": ground_truth("other", "llama").pods["llama-0"].queue_depth,
    }


def test_dcgm_attribution_labels_are_kept_as_exported(query: Query) -> None:
    exported = query('DCGM_FI_DEV_GPU_UTIL{exported_pod="phi-0"}')
    legacy = query('DCGM_FI_DEV_GPU_UTIL{pod_name="phi-1"}')
    assert [series["metric"]["namespace"] for series in exported] == ["gpu-operator"]
    assert [series["metric"]["pod"] for series in exported] == ["dcgm-exporter-x1"]
    assert [series["metric"]["exported_namespace"] for series in exported] == ["inference"]
    assert [series["metric"].get("pod") for series in legacy] == [None]


def test_kube_pod_labels_list_every_pod_with_its_app_and_model(query: Query) -> None:
    labels = {
        (series["metric"]["namespace"], series["metric"]["pod"]): (
            series["metric"]["label_app"],
            series["metric"].get("label_model"),
        )
        for series in query("kube_pod_labels")
    }
    expected = {
        (namespace, pod.name): (app, workload(namespace, app).model_label)
        for namespace, app in workloads(server=None)
        for pod in workload(namespace, app).pods
    }
    assert labels == expected


def test_stopped_prometheus_refuses_queries_and_restarts_with_its_history(
    restartable_prometheus: PrometheusServer,
) -> None:
    prometheus = restartable_prometheus  # a restart leaves a gap in the series; the shared server never gets one

    def scalar(promql: str) -> float:
        [result] = prometheus.query(promql)
        return float(result["value"][1])

    url = prometheus.url
    samples = f'count_over_time(up{{job="{prometheus.job}"}}[1h])'
    before = scalar(samples)
    prometheus.stop()
    try:
        with PrometheusConnect(prometheus.url, retry=Retry(total=0)) as client:
            with pytest.raises(requests.exceptions.ConnectionError):
                client.custom_query("up")
    finally:
        prometheus.start()
    assert prometheus.url == url
    assert scalar(samples) > before
    assert scalar(f'up{{job="{prometheus.job}"}}') == 1.0
