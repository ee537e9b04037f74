"""What the synthetic workload exporter serves, and what the adapter should make of it: pods,
workloads, their GPUs and inference servers, and the ground truth derived from them.

The values are configured in :mod:`tests.integration.workload_exporter`; this module holds their
shape and the arithmetic (PromQL's ``histogram_quantile``) the ground truth needs.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Upper bounds of ``vllm:e2e_request_latency_seconds`` buckets (a subset of vLLM's own).
LATENCY_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, math.inf)

#: The quantile the adapter reports as "latency p99".
P99 = 0.99

#: Upper bounds of ``vllm:time_to_first_token_seconds`` buckets (a subset of vLLM's own).
TTFT_BUCKETS: tuple[float, ...] = (0.04, 0.1, 0.25, 0.5, 1.0, math.inf)

#: Upper bounds of ``vllm:inter_token_latency_seconds`` buckets (a subset of vLLM's own).
ITL_BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.075, 0.1, math.inf)

#: The names each imitated inference server gives its series (counters without ``_total``);
#: SGLang's from ``python/sglang/srt/metrics/collector.py``. Triton's differ in shape as well
#: (tests/integration/triton_series.py).
SERIES_NAMES: Mapping[str, Mapping[str, str]] = {
    "vllm": {
        "requests": "vllm:request_success",
        "latency": "vllm:e2e_request_latency_seconds",
        "waiting": "vllm:num_requests_waiting",
        "running": "vllm:num_requests_running",
        "prompt": "vllm:prompt_tokens",
        "generation": "vllm:generation_tokens",
        "ttft": "vllm:time_to_first_token_seconds",
    },
    "sglang": {
        "requests": "sglang:num_requests",
        "latency": "sglang:e2e_request_latency_seconds",
        "waiting": "sglang:num_queue_reqs",
        "running": "sglang:num_running_reqs",
        "prompt": "sglang:prompt_tokens",
        "generation": "sglang:generation_tokens",
        "ttft": "sglang:time_to_first_token_seconds",
    },
    # named by a ``generic`` section of the config
    "generic": {
        "requests": "llm_requests",
        "latency": "llm_request_duration_seconds",
        "waiting": "llm_queue_depth",
        "running": "llm_requests_running",
        "prompt": "llm_prompt_tokens",
        "generation": "llm_generation_tokens",
        "ttft": "llm_time_to_first_token_seconds",
    },
}

#: The pod label naming a disaggregated worker's role, and its kube-state-metrics name.
ROLE_LABEL = "llm-d.ai/role"
ROLE_KSM_LABEL = "label_llm_d_ai_role"


class Attribution(enum.Enum):
    """How a dcgm series names the pod that uses its GPU, as seen after a scrape."""

    #: dcgm-exporter with pod mapping: ``namespace``/``pod`` name the workload's pod.
    POD = "pod"
    #: Scraped without ``honor_labels``: ``namespace``/``pod`` name dcgm-exporter's own pod and
    #: the workload's pod moved to ``exported_namespace``/``exported_pod``.
    EXPORTED = "exported"
    #: Older dcgm-exporter releases: ``pod_name`` instead of ``pod``.
    LEGACY = "legacy"


@dataclass(frozen=True)
class Gpu:
    """One physical GPU; pods that share it refer to the same instance."""

    uuid: str
    index: int
    hostname: str
    utilization_percent: float
    power_watts: float


@dataclass(frozen=True)
class Pod:
    """One vLLM pod, the GPU it runs on and how dcgm-exporter attributes that GPU to it."""

    name: str
    gpu: Gpu
    requests_per_second: float
    requests_waiting: int
    requests_running: int
    attribution: Attribution = Attribution.POD
    prompt_tokens_per_second: float = 0.0
    generation_tokens_per_second: float = 0.0
    #: KV-cache fill, 0 to 1.
    kv_cache_usage: float = 0.0
    #: ``prefill`` or ``decode`` in a disaggregated workload.
    role: str | None = None


@dataclass(frozen=True)
class Workload:
    """The pods selected by one ``app`` label in one namespace, with their latency profile."""

    namespace: str
    app: str
    vllm_model_name: str
    model_label: str | None
    #: Cumulative share of requests at or below each of :data:`LATENCY_BUCKETS`.
    latency_shares: tuple[float, ...]
    pods: tuple[Pod, ...]
    #: Cumulative share of first tokens at or below each of :data:`TTFT_BUCKETS`.
    ttft_shares: tuple[float, ...] = (0.1, 0.5, 0.9, 0.98, 1.0, 1.0)
    #: Cumulative share of token gaps at or below each of :data:`ITL_BUCKETS`.
    itl_shares: tuple[float, ...] = (0.2, 0.7, 0.95, 0.99, 1.0, 1.0)
    #: vLLM's KV-cache gauges: ``vllm:kv_cache_usage_perc`` since its rename, before it
    #: ``vllm:gpu_cache_usage_perc``; releases in between export both.
    cache_names: tuple[str, ...] = ("vllm:kv_cache_usage_perc",)
    #: vLLM's inter-token histogram names, likewise; a second name gets :attr:`tpot_shares`.
    itl_names: tuple[str, ...] = ("vllm:inter_token_latency_seconds",)
    #: Which inference server's names the workload's series carry (:data:`SERIES_NAMES`).
    server: str = "vllm"
    #: Shares of a differently shaped ``vllm:time_per_output_token_seconds`` exported beside
    #: ``vllm:inter_token_latency_seconds``, which the adapter must not read where the newer exists.
    tpot_shares: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 1.0)

    def latency_buckets(self, pods: Sequence[Pod] | None = None) -> list[tuple[float, float]]:
        """Rate of growth of each cumulative bucket, pooled over ``pods`` (all pods by default)."""
        selected = self.pods if pods is None else pods
        total = sum(pod.requests_per_second for pod in selected)
        return [(bound, total * share) for bound, share in zip(LATENCY_BUCKETS, self.latency_shares)]

    def ttft_buckets(self, pods: Sequence[Pod]) -> list[tuple[float, float]]:
        """Rate of growth of each TTFT bucket over ``pods``: one first token per request."""
        total = sum(pod.requests_per_second for pod in pods)
        return [(bound, total * share) for bound, share in zip(TTFT_BUCKETS, self.ttft_shares)]

    def itl_buckets(self, pods: Sequence[Pod], shares: Sequence[float] | None = None) -> list[tuple[float, float]]:
        """Rate of growth of each inter-token bucket over ``pods``: one gap per generated token."""
        total = sum(pod.generation_tokens_per_second for pod in pods)
        return [(bound, total * share) for bound, share in zip(ITL_BUCKETS, shares or self.itl_shares)]

    @property
    def mean_latency_seconds(self) -> float:
        """Mean latency implied by the shares, taking each bucket's midpoint.

        Requests above the last finite bound are counted at that bound.
        """
        mean, lower, below = 0.0, 0.0, 0.0
        for bound, share in zip(LATENCY_BUCKETS, self.latency_shares):
            upper = lower if math.isinf(bound) else bound
            mean += (share - below) * (lower + upper) / 2
            lower, below = upper, share
        return mean


@dataclass(frozen=True)
class PodTruth:
    """Expected per-pod signals."""

    gpu_utilization: float
    requests_per_second: float
    queue_depth: float
    #: ``None`` where PromQL's ``histogram_quantile`` yields NaN (no requests).
    latency_p99_seconds: float | None
    kv_cache_utilization: float
    prompt_tokens_per_second: float
    generation_tokens_per_second: float
    requests_running: float


@dataclass(frozen=True)
class GroundTruth:
    """Expected workload-level signals, as the adapter should compute them from Prometheus."""

    namespace: str
    app: str
    #: Mean over dcgm series; a shared GPU appears once per pod, with the same value each time.
    gpu_utilization: float
    requests_per_second: float
    #: ``None`` where PromQL's ``histogram_quantile`` yields NaN (no requests).
    latency_p99_seconds: float | None
    #: ``None`` where there are no requests.
    latency_mean_seconds: float | None
    queue_depth: float
    #: Summed once per GPU UUID.
    gpu_power_watts: float
    #: Summed once per dcgm series: what a query that ignores sharing gets.
    gpu_power_watts_naive: float
    #: ``None`` where there are no requests (PromQL yields +Inf).
    energy_per_request_joules: float | None
    pods: Mapping[str, PodTruth]
    #: Mean over pods.
    kv_cache_utilization: float
    #: Pooled over pods, at :data:`P99`; ``None`` where there are no requests (or no tokens).
    ttft_p99_seconds: float | None
    itl_p99_seconds: float | None
    prompt_tokens_per_second: float
    generation_tokens_per_second: float
    requests_running: float


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """PromQL's ``histogram_quantile`` over ``(upper_bound, cumulative_count)`` pairs.

    Linear interpolation inside the bucket holding the rank, the last finite bound when the rank
    falls in the ``+Inf`` bucket, ``None`` where Prometheus returns NaN.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} is outside [0, 1]")
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    observations = ordered[-1][1]
    if observations == 0:
        return None
    rank = q * observations
    index = next(i for i, (_, count) in enumerate(ordered) if i == len(ordered) - 1 or count >= rank)
    if index == len(ordered) - 1:
        return ordered[-2][0]
    upper, count = ordered[index]
    if index == 0 and upper <= 0:
        return upper
    lower = 0.0
    if index > 0:
        lower, below = ordered[index - 1]
        count -= below
        rank -= below
    return lower + (upper - lower) * (rank / count)
