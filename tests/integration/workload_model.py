"""What the synthetic workload exporter serves, and what the adapter should make of it: pods,
workloads, their GPUs and inference servers, the values they export at any time, and the ground
truth derived from them.

The values are configured in :mod:`tests.integration.workload_exporter`; this module holds their
shape and their value model: every counter grows at a configured rate, every gauge holds a
configured value, and each histogram's buckets grow at configured shares of its count. The
series' names and label layouts are the product simulator's (:mod:`adapter.sources.demo.exporters`):
:meth:`Workload.layout` names a pod for it and :meth:`Workload.series` gives it the values. The
ground truth needs the arithmetic of PromQL's ``histogram_quantile``, also here.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from adapter.sources.demo import exporters
from adapter.sources.demo.exporters import Attribution, Histogram, PodLayout, PodSeries
from adapter.sources.demo.servers import VLLM, NamedServer, Triton

#: Upper bounds of ``vllm:e2e_request_latency_seconds`` buckets (a subset of vLLM's own).
LATENCY_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, math.inf)

#: The quantile the adapter reports as "latency p99".
P99 = 0.99

#: Upper bounds of ``vllm:time_to_first_token_seconds`` buckets (a subset of vLLM's own).
TTFT_BUCKETS: tuple[float, ...] = (0.04, 0.1, 0.25, 0.5, 1.0, math.inf)

#: Upper bounds of ``vllm:inter_token_latency_seconds`` buckets (a subset of vLLM's own).
ITL_BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.075, 0.1, math.inf)

@dataclass(frozen=True, kw_only=True)
class Gpu(exporters.Gpu):
    """One physical GPU with its load; pods that share it refer to the same instance."""

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
    #: The served model as the server labels it (vLLM's ``model_name``, Triton's ``model``).
    model_name: str
    model_label: str | None
    #: Cumulative share of requests at or below each of :data:`LATENCY_BUCKETS`.
    latency_shares: tuple[float, ...]
    pods: tuple[Pod, ...]
    #: Cumulative share of first tokens at or below each of :data:`TTFT_BUCKETS`.
    ttft_shares: tuple[float, ...] = (0.1, 0.5, 0.9, 0.98, 1.0, 1.0)
    #: Cumulative share of token gaps at or below each of :data:`ITL_BUCKETS`.
    itl_shares: tuple[float, ...] = (0.2, 0.7, 0.95, 0.99, 1.0, 1.0)
    #: The inference server whose series the pods export (:mod:`adapter.sources.demo.servers`).
    server: NamedServer | Triton = VLLM
    #: Shares of a differently shaped ``vllm:time_per_output_token_seconds`` exported beside
    #: ``vllm:inter_token_latency_seconds``, which the adapter must not read where the newer exists.
    tpot_shares: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        if isinstance(self.server, Triton):
            for pod in self.pods:  # so that the used blocks Triton reports are the fill exactly
                blocks = pod.kv_cache_usage * self.server.max_blocks
                assert blocks == round(blocks), f"{pod.name}: a fill must be a whole number of blocks"

    def layout(self, pod: Pod) -> PodLayout:
        """What names ``pod`` in the exporters' labels."""
        return PodLayout(
            namespace=self.namespace,
            name=pod.name,
            uid=pod_uid(self.namespace, pod.name),
            app=self.app,
            gpu=pod.gpu,
            server=self.server,
            model_name=self.model_name,
            model_label=self.model_label,
            role=pod.role,
            attribution=pod.attribution,
        )

    def series(self, pod: Pod, elapsed: np.ndarray) -> PodSeries:
        """What ``pod`` exports after each of ``elapsed`` seconds of uptime."""
        requests = pod.requests_per_second * elapsed
        return PodSeries(
            gpu_utilization=np.full_like(elapsed, pod.gpu.utilization_percent),
            power_watts=np.full_like(elapsed, pod.gpu.power_watts),
            energy_millijoules=pod.gpu.power_watts * 1000.0 * elapsed,
            requests=requests,
            latency=_histogram(self.latency_buckets([pod]), elapsed, requests * self.mean_latency_seconds),
            waiting=np.full_like(elapsed, pod.requests_waiting),
            running=np.full_like(elapsed, pod.requests_running),
            prompt_tokens=pod.prompt_tokens_per_second * elapsed,
            generation_tokens=pod.generation_tokens_per_second * elapsed,
            kv_cache_usage=np.full_like(elapsed, pod.kv_cache_usage),
            time_to_first_token=_histogram(self.ttft_buckets([pod]), elapsed),
            inter_token=_histogram(self.itl_buckets([pod]), elapsed),
            time_per_output_token=_histogram(self.itl_buckets([pod], self.tpot_shares), elapsed),
        )

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


def pod_uid(namespace: str, pod: str) -> str:
    """A stable Kubernetes-style UID, so ``kube_pod_labels`` looks like kube-state-metrics'."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pod/{namespace}/{pod}"))


def _histogram(
    buckets: Sequence[tuple[float, float]], elapsed: np.ndarray, total: np.ndarray | None = None
) -> Histogram:
    """The histogram whose cumulative buckets grow at the rates of ``buckets`` (the last ``+Inf``)."""
    finite, (_, count_rate) = buckets[:-1], buckets[-1]
    counts = np.column_stack([bucket_rate * elapsed for _, bucket_rate in finite])
    return Histogram(tuple(bound for bound, _ in finite), counts, count_rate * elapsed, total)


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
