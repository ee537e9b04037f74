"""The inference servers' own series for a pod: vLLM (under its current names, its older ones or
both), SGLang, a server only the config's ``generic`` section names, and Triton with the
TensorRT-LLM backend.

Each implements :class:`~adapter.sources.demo.exporters.InferenceServer` for the renderer. Names and kinds
follow vLLM's ``vllm/engine/metrics.py``, SGLang's ``python/sglang/srt/metrics/collector.py``,
and for Triton triton-inference-server/tensorrtllm_backend's
``inflight_batcher_llm/src/custom_metrics_reporter/custom_metrics_reporter.cc`` and the core
server's ``docs/user_guide/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from adapter.sources.demo.exporters import Family, Histogram, PodLayout, PodSeries, Sample, histogram_samples

__all__ = ["GENERIC", "SGLANG", "TRITON", "VLLM", "VLLM_BEFORE_RENAME", "VLLM_DURING_RENAME", "NamedServer", "Triton"]


@dataclass(frozen=True)
class NamedServer:
    """A server whose series are a pod's values one to one, under names of its own (counters
    without ``_total``), labelled with the pod and the served model."""

    name: str
    requests: str
    latency: str
    waiting: str
    running: str
    prompt_tokens: str
    generation_tokens: str
    time_to_first_token: str
    kv_cache: tuple[str, ...]
    """The KV-cache gauge under each name the server exports it."""
    inter_token: tuple[str, ...]
    """The inter-token histogram under each name the server exports it: the first name, and
    vLLM's older ``time_per_output_token`` exported beside it."""
    request_labels: tuple[tuple[str, str], ...] = ()
    """Labels only the request counter carries (vLLM's ``finished_reason``)."""

    def samples(self, pod: PodLayout, values: PodSeries) -> Iterator[Sample]:
        """Every series of the server for ``pod``; the time-to-first-token and inter-token
        histograms keep a ``_sum`` only where ``values`` has one."""
        labels = {"namespace": pod.namespace, "pod": pod.name, "model_name": pod.model_name}
        for name, values_now, extra in (
            (self.requests, values.requests, dict(self.request_labels)),
            (self.prompt_tokens, values.prompt_tokens, {}),
            (self.generation_tokens, values.generation_tokens, {}),
        ):
            yield Sample(_family(name, "counter"), f"{name}_total", labels | extra, values_now)
        for name, gauge in ((self.waiting, values.waiting), (self.running, values.running)):
            yield Sample(_family(name, "gauge"), name, labels, gauge)
        for name in self.kv_cache:
            yield Sample(_family(name, "gauge"), name, labels, values.kv_cache_usage)
        yield from histogram_samples(_family(self.latency, "histogram"), labels, values.latency)
        yield from histogram_samples(_family(self.time_to_first_token, "histogram"), labels, values.time_to_first_token)
        older = values.inter_token if values.time_per_output_token is None else values.time_per_output_token
        for index, name in enumerate(self.inter_token):
            yield from histogram_samples(_family(name, "histogram"), labels, older if index else values.inter_token)


def _family(name: str, kind: str) -> Family:
    return Family(name, kind, f"{name.split(':')[-1]}.")


VLLM = NamedServer(
    name="vllm",
    requests="vllm:request_success",
    latency="vllm:e2e_request_latency_seconds",
    waiting="vllm:num_requests_waiting",
    running="vllm:num_requests_running",
    prompt_tokens="vllm:prompt_tokens",
    generation_tokens="vllm:generation_tokens",
    time_to_first_token="vllm:time_to_first_token_seconds",
    kv_cache=("vllm:kv_cache_usage_perc",),
    inter_token=("vllm:inter_token_latency_seconds",),
    request_labels=(("finished_reason", "stop"),),
)
VLLM_BEFORE_RENAME = replace(
    VLLM, kv_cache=("vllm:gpu_cache_usage_perc",), inter_token=("vllm:time_per_output_token_seconds",)
)
"""vLLM before its KV-cache gauge and inter-token histogram were renamed."""
VLLM_DURING_RENAME = replace(
    VLLM,
    kv_cache=(*VLLM.kv_cache, *VLLM_BEFORE_RENAME.kv_cache),
    inter_token=(*VLLM.inter_token, *VLLM_BEFORE_RENAME.inter_token),
)
"""The releases in between, which export both names."""
SGLANG = NamedServer(
    name="sglang",
    requests="sglang:num_requests",
    latency="sglang:e2e_request_latency_seconds",
    waiting="sglang:num_queue_reqs",
    running="sglang:num_running_reqs",
    prompt_tokens="sglang:prompt_tokens",
    generation_tokens="sglang:generation_tokens",
    time_to_first_token="sglang:time_to_first_token_seconds",
    kv_cache=("sglang:token_usage",),
    inter_token=("sglang:inter_token_latency_seconds",),
)
GENERIC = NamedServer(
    name="generic",
    requests="llm_requests",
    latency="llm_request_duration_seconds",
    waiting="llm_queue_depth",
    running="llm_requests_running",
    prompt_tokens="llm_prompt_tokens",
    generation_tokens="llm_generation_tokens",
    time_to_first_token="llm_time_to_first_token_seconds",
    kv_cache=("llm_kv_cache_fill",),
    inter_token=("llm_inter_token_seconds",),
)
"""A server no preset knows, whose names a ``generic`` section of the config gives."""


@dataclass(frozen=True)
class Triton:
    """Triton serving a TensorRT-LLM model: series of other shapes, labelled with ``model``,
    ``version`` and one label telling a family's values apart.

    Triton counts the KV cache in blocks and a pod's values as a fill, so the used blocks are the
    fill of :attr:`max_blocks`, rounded; its token-length histograms are drawn from the token
    totals, every request at the mean length so far.
    """

    name: str = "triton"
    max_blocks: int = 4000
    tokens_per_block: int = 64
    max_requests: int = 256
    token_length_bounds: tuple[float, ...] = (10.0, 50.0, 100.0, 500.0, 1000.0)
    """As the backend sets them."""

    def samples(self, pod: PodLayout, values: PodSeries) -> Iterator[Sample]:
        """Every Triton series of ``pod``."""
        labels = {"namespace": pod.namespace, "pod": pod.name, "model": pod.model_name, "version": "1"}
        requests = _family("nv_inference_request_success", "counter")
        yield Sample(requests, requests.name, labels, values.requests)
        pending = _family("nv_inference_pending_request_count", "gauge")
        yield Sample(pending, pending.name, labels, values.waiting)
        blocks = _family("nv_trt_llm_kv_cache_block_metrics", "gauge")
        used = np.round(values.kv_cache_usage * self.max_blocks)
        full = np.full_like(used, self.max_blocks)
        for block_type, count in (("max", full), ("free", full - used), ("used", used),
                                  ("tokens_per", np.full_like(used, self.tokens_per_block))):
            yield Sample(blocks, blocks.name, labels | {"kv_cache_block_type": block_type}, count)
        # ``scheduled`` (this iteration's batch) differs from ``active``, so reading the wrong one shows
        running = values.running
        request_metrics = _family("nv_trt_llm_request_metrics", "gauge")
        for request_type, count in (("active", running), ("max", np.full_like(running, self.max_requests)),
                                    ("scheduled", np.maximum(running - 1, 0)), ("context", np.ones_like(running))):
            yield Sample(request_metrics, request_metrics.name, labels | {"request_type": request_type}, count)
        first_response = _family("nv_inference_first_response_histogram_ms", "histogram")
        ttft = replace(values.time_to_first_token, total=None)
        yield from histogram_samples(first_response, labels, ttft, bound_scale=1000.0)
        for name, kind, tokens in (("nv_llm_input_token_len", "total_input_tokens", values.prompt_tokens),
                                   ("nv_llm_output_token_len", "total_output_tokens", values.generation_tokens)):
            lengths = self._token_lengths(values.requests, tokens)
            yield from histogram_samples(_family(name, "histogram"), labels | {"response_metric_type": kind}, lengths)

    def _token_lengths(self, requests: np.ndarray, tokens: np.ndarray) -> Histogram:
        mean = np.divide(tokens, requests, out=np.zeros(len(requests)), where=requests > 0)
        below = mean[:, None] <= np.asarray(self.token_length_bounds)[None, :]
        return Histogram(self.token_length_bounds, np.where(below, requests[:, None], 0.0), requests, tokens)


TRITON = Triton()
