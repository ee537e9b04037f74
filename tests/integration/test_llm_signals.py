"""The LLM signals (KV cache, TTFT, inter-token latency, token demand, running requests) against the
synthetic workload's ground truth through the real test Prometheus: vLLM's cache and inter-token
series under their newer names (llama), their older names (mistral) and both at once (phi), and
a disaggregated workload whose prefill and decode pools are selected by their role label
(deepseek); the SGLang preset on a workload that SGLang serves (qwen), the Triton preset on one that
Triton serves through the TensorRT-LLM backend (gemma), and a generic server whose series only the
config names (falcon). The Triton and generic servers are imitated by the synthetic exporter
(through :mod:`adapter.sources.demo.servers`); a real Triton would need a GPU."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest

from adapter.sources.demo.exporters import ROLE_LABEL
from forecasting.quantity import parse_quantity

from .adapter_client import RunningAdapter, adapter_settings, running_adapter
from .prometheus import PrometheusServer
from .test_signals import CUSTOM, EXACT_TOLERANCE, RATE_TOLERANCE, assert_close, external_value
from .workload_exporter import ground_truth, workload
from .workload_model import GroundTruth, histogram_quantile

pytestmark = pytest.mark.integration
GAUGES = ("kv_cache_utilization", "requests_running")
RATES = ("prompt_tokens_per_second", "generation_tokens_per_second")
QUANTILES = ("ttft_p99_seconds", "itl_p99_seconds")


@pytest.fixture
async def adapter(prometheus: PrometheusServer) -> AsyncIterator[RunningAdapter]:
    async with running_adapter(adapter_settings(prometheus.url), exact_rates_from=prometheus) as running:
        yield running


async def assert_llm_signals(adapter: RunningAdapter, truth: GroundTruth, selector: str) -> None:
    for name in GAUGES:
        assert_close(await external_value(adapter, name, truth.namespace, selector), getattr(truth, name), EXACT_TOLERANCE)
    for name in (*RATES, *QUANTILES):
        expected = getattr(truth, name)
        assert expected is not None, name
        assert_close(await external_value(adapter, name, truth.namespace, selector), expected, RATE_TOLERANCE)


@pytest.mark.parametrize("app", ["llama", "mistral", "phi", "deepseek"])
async def test_llm_signals_match_ground_truth_under_either_vllm_name(adapter: RunningAdapter, app: str) -> None:
    await assert_llm_signals(adapter, ground_truth("inference", app), f"app={app}")


async def test_the_newer_inter_token_histogram_wins_where_a_pod_exports_both(adapter: RunningAdapter) -> None:
    phi = workload("inference", "phi")
    assert phi.server.inter_token == ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds")
    older = histogram_quantile(0.99, phi.itl_buckets(phi.pods, phi.tpot_shares))
    served = await external_value(adapter, "itl_p99_seconds", "inference", "app=phi")
    assert older is not None and abs(older - served) > 0.01
    assert_close(served, ground_truth("inference", "phi").itl_p99_seconds or 0.0, RATE_TOLERANCE)


@pytest.mark.parametrize("role", ["prefill", "decode"])
async def test_each_role_of_a_disaggregated_workload_gets_its_own_values(adapter: RunningAdapter, role: str) -> None:
    truth = ground_truth("inference", "deepseek", role)
    whole = ground_truth("inference", "deepseek")
    assert truth.kv_cache_utilization != whole.kv_cache_utilization  # the pool alone, not the workload
    await assert_llm_signals(adapter, truth, f"app=deepseek,{ROLE_LABEL}={role}")


@pytest.mark.parametrize("metric", [*GAUGES, *RATES])
async def test_per_pod_llm_values_match_ground_truth(adapter: RunningAdapter, metric: str) -> None:
    truth = ground_truth("inference", "deepseek", "prefill")
    selector = quote(f"app=deepseek,{ROLE_LABEL}=prefill")
    body = await adapter.get_json(f"{CUSTOM}/namespaces/inference/pods/*/{metric}?labelSelector={selector}")
    served = {item["describedObject"]["name"]: float(parse_quantity(item["value"])) for item in body["items"]}
    assert set(served) == set(truth.pods)
    for pod, value in served.items():
        assert_close(value, getattr(truth.pods[pod], metric), RATE_TOLERANCE)


async def test_token_latencies_of_an_idle_workload_are_measured_zeros(adapter: RunningAdapter) -> None:
    truth = ground_truth("inference", "idle")
    assert truth.ttft_p99_seconds is None and truth.itl_p99_seconds is None  # NaN in PromQL
    for metric in (*QUANTILES, *RATES, "requests_running"):
        assert await external_value(adapter, metric, "inference", "app=idle") == 0, metric


async def test_the_token_latency_quantile_is_the_configured_one(prometheus: PrometheusServer) -> None:
    settings = adapter_settings(prometheus.url, {"signals": {"token_latency_quantile": 0.5}})
    config = workload("inference", "llama")
    median = histogram_quantile(0.5, config.ttft_buckets(config.pods))
    assert median is not None and ground_truth("inference", "llama").ttft_p99_seconds != pytest.approx(median)
    async with running_adapter(settings, exact_rates_from=prometheus) as adapter:
        assert_close(await external_value(adapter, "ttft_p99_seconds", "inference", "app=llama"), median, RATE_TOLERANCE)


async def test_the_sglang_preset_serves_every_signal_from_sglang_series(prometheus: PrometheusServer) -> None:
    truth = ground_truth("sglang", "qwen")
    settings = adapter_settings(prometheus.url, {"signals": {"server": "sglang"}})
    async with running_adapter(settings, exact_rates_from=prometheus) as adapter:
        await assert_llm_signals(adapter, truth, "app=qwen")
        assert_close(await external_value(adapter, "queue_depth", "sglang", "app=qwen"), truth.queue_depth, EXACT_TOLERANCE)
        for name in ("requests_per_second", "latency_p99_seconds"):
            assert_close(await external_value(adapter, name, "sglang", "app=qwen"), getattr(truth, name), RATE_TOLERANCE)


async def test_the_triton_preset_serves_tensorrt_llm_series_and_ttft_in_seconds(prometheus: PrometheusServer) -> None:
    truth = ground_truth("triton", "gemma")
    settings = adapter_settings(prometheus.url, {"signals": {"server": "triton"}})
    async with running_adapter(settings, exact_rates_from=prometheus) as adapter:
        for name in GAUGES:  # used over max blocks; active requests, not this iteration's scheduled ones
            assert_close(await external_value(adapter, name, "triton", "app=gemma"), getattr(truth, name), EXACT_TOLERANCE)
        for name in (*RATES, "ttft_p99_seconds", "requests_per_second"):
            expected = getattr(truth, name)
            assert expected is not None, name
            assert_close(await external_value(adapter, name, "triton", "app=gemma"), expected, RATE_TOLERANCE)
        assert_close(await external_value(adapter, "queue_depth", "triton", "app=gemma"), truth.queue_depth, EXACT_TOLERANCE)


GENERIC_NAMES = {
    "requests_total": "llm_requests_total",
    "latency_histogram": "llm_request_duration_seconds",
    "queue_gauge": "llm_queue_depth",
    "kv_cache_gauge": "llm_kv_cache_fill",
    "ttft_histogram": "llm_time_to_first_token_seconds",
    "itl_histogram": "llm_inter_token_seconds",
    "prompt_tokens_total": "llm_prompt_tokens_total",
    "generation_tokens_total": "llm_generation_tokens_total",
    "running_gauge": "llm_requests_running",
}


async def test_a_generic_server_serves_the_llm_signals_of_the_series_its_config_names(prometheus: PrometheusServer) -> None:
    settings = adapter_settings(prometheus.url, {"signals": {"server": "generic", "generic": GENERIC_NAMES}})
    async with running_adapter(settings, exact_rates_from=prometheus) as adapter:
        await assert_llm_signals(adapter, ground_truth("generic", "falcon"), "app=falcon")
