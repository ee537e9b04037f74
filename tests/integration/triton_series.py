"""The series Triton serving a TensorRT-LLM model exports for one pod, as the synthetic exporter
serves them: stand-ins for a Triton that would need a GPU.

Names, kinds and labels (``model``, ``version`` and one label telling a family's values apart)
follow triton-inference-server/tensorrtllm_backend's
``inflight_batcher_llm/src/custom_metrics_reporter/custom_metrics_reporter.cc``, and for the core
server's counters and first-response histogram triton-inference-server/server's
``docs/user_guide/metrics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client.core import Metric

from .exposition import add_histogram
from .workload_model import Pod, Workload

#: KV-cache blocks of each pod; fills are chosen so that used blocks come out whole.
MAX_BLOCKS = 4000
TOKENS_PER_BLOCK = 64
MAX_REQUESTS = 256
#: Bucket bounds of the token-length histograms, as the backend sets them.
TOKEN_LENGTH_BUCKETS = (10.0, 50.0, 100.0, 500.0, 1000.0, math.inf)
MODEL_LABELS = {"model": "tensorrt_llm", "version": "1"}

Family = Callable[[str, str], Metric]


def add_triton_series(
    family: Family, config: Workload, pod: Pod, pod_labels: dict[str, str], elapsed: float, timestamp: int | None
) -> None:
    """Every Triton series of ``pod`` at ``elapsed`` seconds of uptime."""
    labels = pod_labels | MODEL_LABELS

    def add(name: str, kind: str, value: float, extra: dict[str, str] | None = None, sample: str | None = None) -> None:
        family(name, kind).add_sample(sample or name, labels | (extra or {}), value, timestamp)

    requests = pod.requests_per_second * elapsed
    add("nv_inference_request_success", "counter", requests)
    add("nv_inference_pending_request_count", "gauge", pod.requests_waiting)
    used = round(pod.kv_cache_usage * MAX_BLOCKS)
    assert used == pod.kv_cache_usage * MAX_BLOCKS, "a fill must be a whole number of blocks"
    for block_type, blocks in (("max", MAX_BLOCKS), ("free", MAX_BLOCKS - used), ("used", used), ("tokens_per", TOKENS_PER_BLOCK)):
        add("nv_trt_llm_kv_cache_block_metrics", "gauge", blocks, {"kv_cache_block_type": block_type})
    # ``scheduled`` (this iteration's batch) differs from ``active``, so reading the wrong one shows
    running = pod.requests_running
    for request_type, count in (("active", running), ("max", MAX_REQUESTS), ("scheduled", max(running - 1, 0)), ("context", 1)):
        add("nv_trt_llm_request_metrics", "gauge", count, {"request_type": request_type})
    ttft = family("nv_inference_first_response_histogram_ms", "histogram")
    add_histogram(ttft, labels, [(bound * 1000, rate) for bound, rate in config.ttft_buckets([pod])], elapsed, timestamp)
    for name, kind, per_second in (("nv_llm_input_token_len", "total_input_tokens", pod.prompt_tokens_per_second),
                                   ("nv_llm_output_token_len", "total_output_tokens", pod.generation_tokens_per_second)):
        metric = family(name, "histogram")
        kind_labels = labels | {"response_metric_type": kind}
        # every request has the mean length: it falls in the bucket holding that mean
        mean = per_second / pod.requests_per_second if pod.requests_per_second else 0.0
        buckets = [(bound, pod.requests_per_second if mean <= bound else 0.0) for bound in TOKEN_LENGTH_BUCKETS]
        add_histogram(metric, kind_labels, buckets, elapsed, timestamp)
        metric.add_sample(f"{name}_sum", kind_labels, per_second * elapsed, timestamp)

