"""A simulated GPU inference fleet that emits the series a real cluster would expose.

The demo runs the adapter's real PromQL over these series, so names and labels follow the
exporters exactly: kube-state-metrics' ``kube_pod_labels``, dcgm-exporter's ``DCGM_FI_DEV_*`` and
vLLM's ``vllm:*``, rendered by :mod:`adapter.sources.demo.exporters` (which the integration tests' exporter
drives with values of its own). This module is the value model, per workload and per scrape step
of ``dt`` seconds:

* offered load ``a`` = total demand × the workload's share; capacity ``c`` = replicas × μ × dt;
* one queue per workload (the Service balances pods): ``q = max(0, q_prev + a − c)``, so
  arrivals = served + Δqueue exactly; utilisation ρ = served / c;
* median latency = service time × (1 + 0.8 ρ²) (bigger batches are slower) + queue / (replicas × μ);
  request latencies are log-normal around it and the histogram buckets get served × CDF(le);
* GPU util ≈ 100 ρ plus a little noise; power = idle + (max − idle) × util; energy integrates power;
  ``num_requests_running`` is throughput × service time (Little's law);
* token counters, TTFT and inter-token histograms and KV-cache fill follow the same load
  (:mod:`adapter.sources.demo.llm`).

Defaults: ``app=llama`` ×4 and ``app=mistral`` ×2 in namespace ``default``, and ``app=deepseek``
served disaggregated, a prefill pool ×2 and a decode pool ×3 labelled ``llm-d.ai/role``; one H100
per pod (70 W idle, 700 W max). Replica counts are fixed; capacity is sized to the demand's reference rate, so daily peaks
and bursts overload the fleet a little and the queue and latency respond. Each sample at step k
(time ``start + k·dt``) reflects the interval that ends there; k = 0 is the fleet just started.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from adapter.sources.demo.demand import (
    DemandModel,
    SyntheticDemand,
    TokenLengths,
    TraceDemand,
    hash_normal,
    hash_uniform,
    stream_key,
)
from adapter.sources.demo.exporters import ROLE_LABEL, Gpu, Histogram, PodLayout, PodSeries, render_pod
from adapter.sources.demo.llm import PodTokens, PoolStep, TokenMix
from adapter.sources.demo.series_math import accumulate, normal_cdf
from adapter.sources.demo.servers import VLLM
from forecasting import Trace

__all__ = [
    "IDLE_WATTS",
    "LATENCY_BUCKETS",
    "MAX_WATTS",
    "ROLE_LABEL",
    "TOKEN_MIXES",
    "DemoFleet",
    "Emit",
    "WorkloadSpec",
    "WorkloadState",
    "default_fleet",
]

Emit = Callable[[Mapping[str, str], np.ndarray, np.ndarray], None]
"""Receives one series chunk: labels (with ``__name__``), Unix-second timestamps, values."""

NAMESPACE = "default"
IDLE_WATTS = 70.0
MAX_WATTS = 700.0
GPUS_PER_NODE = 8
FB_RESERVED_MIB = 73_400.0
"""vLLM preallocates 90 % of the 80 GB (81,559 MiB) for weights and KV cache."""
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0)
LATENCY_SIGMA = 0.4
"""Log-normal spread of request latency around the median: p99 ≈ 2.5 × median."""
LOAD_SLOWDOWN = 0.8
_P99_Z = 2.3263478740408408
TOKEN_MIXES = {
    "chat": TokenMix(prompt_mean=1155.0, output_mean=211.0),
    "code": TokenMix(prompt_mean=2048.0, output_mean=28.0),
    "long": TokenMix(prompt_mean=12035.0, output_mean=343.0),
}
"""Mean prompt and output lengths in tokens of the Azure LLM inference traces of 2023
(conversation, code) and of Mooncake's conversation trace (long context)."""
_MAX_STEPS_PER_BLOCK = 50_000
"""Long ranges are generated in blocks so memory stays bounded; results do not depend on it."""


@dataclass(frozen=True)
class WorkloadSpec:
    """One Deployment-like workload: ``replicas`` pods with one GPU each, serving ``model``."""

    app: str
    model: str
    """The served model name (vLLM's ``model_name`` label)."""
    replicas: int
    capacity_rps_per_replica: float
    """Requests per second one replica serves within the latency SLO."""
    share: float
    """Fraction of the total demand routed to this workload."""
    service_seconds: float = 1.0
    """Median end-to-end latency at light load."""
    tokens: TokenMix = TokenMix(prompt_mean=1000.0, output_mean=250.0)
    """Mean prompt and output lengths, and the pool's role when serving is disaggregated."""

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"{self.app}: replicas must be at least 1, got {self.replicas}")
        if not self.capacity_rps_per_replica > 0:
            raise ValueError(f"{self.app}: capacity_rps_per_replica must be positive")
        if not 0 < self.share <= 1:
            raise ValueError(f"{self.app}: share must be in (0, 1], got {self.share}")
        if not self.service_seconds > 0:
            raise ValueError(f"{self.app}: service_seconds must be positive")
        if self.tokens.role not in (None, "prefill", "decode"):
            raise ValueError(f"{self.app}: role must be prefill, decode or None, got {self.tokens.role!r}")

    @property
    def name(self) -> str:
        """The pool's name: the app, and its role when it has one."""
        return self.app if self.tokens.role is None else f"{self.app}-{self.tokens.role}"

    @property
    def selector(self) -> str:
        """The label selector an HPA of this pool uses."""
        role = self.tokens.role
        return f"app={self.app}" if role is None else f"app={self.app},{ROLE_LABEL}={role}"

    @property
    def model_label(self) -> str:
        """The model as a Kubernetes label value: ``meta-llama/Llama-3.1-8B`` → ``llama-3.1-8b``."""
        return self.model.rsplit("/", 1)[-1].lower()


@dataclass(frozen=True)
class WorkloadState:
    """A workload at the latest generated sample, for a status page."""

    app: str
    selector: str
    model: str
    replicas: int
    time: float
    demand_rps: float
    served_rps: float
    capacity_rps: float
    utilisation: float
    queue: float
    running: float
    latency_p50_seconds: float
    latency_p99_seconds: float
    power_watts: float
    arrived_total: float
    served_total: float


@dataclass
class _Pod:
    """One replica: what names it in the exporters' labels, fixed traits and the running values of
    its counters."""

    layout: PodLayout
    weight: float
    """Its share of the workload's traffic relative to an even split (load-balancer skew)."""
    noise_key: int
    energy_mj: float
    """DCGM's energy counter runs since the driver loaded, so it starts at a pod-specific value."""
    buckets: np.ndarray
    tokens: PodTokens
    success: float = 0.0
    latency_sum: float = 0.0


@dataclass
class _Workload:
    spec: WorkloadSpec
    pods: list[_Pod]
    queue: float = 0.0
    arrived: float = 0.0
    served: float = 0.0


class DemoFleet:
    """Generates every series of the fleet on the scrape grid ``start + k·scrape_interval``."""

    def __init__(
        self,
        workloads: Sequence[WorkloadSpec],
        demand: DemandModel,
        *,
        start: float,
        scrape_interval: float = 15.0,
        seed: int = 0,
    ) -> None:
        if not workloads:
            raise ValueError("a fleet needs at least one workload")
        if len({spec.name for spec in workloads}) != len(workloads):
            raise ValueError("workload apps (and roles) must be unique")
        if sum({spec.app: spec.share for spec in workloads}.values()) > 1 + 1e-9:
            raise ValueError("workload shares add up to more than 1")
        if not scrape_interval > 0:
            raise ValueError(f"scrape_interval must be positive, got {scrape_interval}")
        self.demand = demand
        self.start = start
        self.scrape_interval = scrape_interval
        self._next_step = 0
        self._workloads = [_Workload(spec, []) for spec in workloads]
        gpu_index = 0
        for workload in self._workloads:
            for replica in range(workload.spec.replicas):
                workload.pods.append(_make_pod(workload.spec, replica, gpu_index, seed))
                gpu_index += 1
            _normalise_weights(workload.pods)
        self._current: dict[str, WorkloadState] = {}

    def generate(self, until: float, emit: Emit) -> None:
        """Emit every sample after the last generated one, up to and including ``until``."""
        last = math.floor((until - self.start) / self.scrape_interval + 1e-9)
        while self._next_step <= last:
            end = min(last, self._next_step + _MAX_STEPS_PER_BLOCK - 1)
            self._generate_block(np.arange(self._next_step, end + 1, dtype=np.int64), emit)
            self._next_step = end + 1

    def current(self) -> dict[str, WorkloadState]:
        """The latest generated state of each workload, by name (empty before the first sample)."""
        return dict(self._current)

    def _generate_block(self, steps: np.ndarray, emit: Emit) -> None:
        dt = self.scrape_interval
        times = self.start + steps * dt
        times.flags.writeable = False
        total = np.where(steps == 0, 0.0, self.demand.requests(times - dt, dt))
        lengths = self.demand.token_lengths(times - dt, dt)
        for workload in self._workloads:
            self._generate_workload(workload, steps, times, total * workload.spec.share, lengths, emit)

    def _generate_workload(
        self, workload: _Workload, steps: np.ndarray, times: np.ndarray, arrivals: np.ndarray,
        lengths: TokenLengths | None, emit: Emit,
    ) -> None:
        spec, dt = workload.spec, self.scrape_interval
        drain_rps = spec.replicas * spec.capacity_rps_per_replica
        queue = _lindley(workload.queue, arrivals, drain_rps * dt)
        before = np.concatenate(([workload.queue], queue[:-1]))
        served = before + arrivals - queue
        utilisation = served / (drain_rps * dt)
        service = spec.service_seconds * (1.0 + LOAD_SLOWDOWN * utilisation**2)
        median = service + queue / drain_rps
        below = normal_cdf((np.log(LATENCY_BUCKETS)[None, :] - np.log(median)[:, None]) / LATENCY_SIGMA)
        mean_latency = median * math.exp(LATENCY_SIGMA**2 / 2)
        running = served / dt * service
        pool = PoolStep(utilisation, queue / drain_rps, queue / (drain_rps * dt))

        power_now = 0.0
        for pod in workload.pods:
            fraction = pod.weight / spec.replicas
            pod_served = served * fraction
            success = accumulate(pod.success, pod_served)
            buckets = accumulate(pod.buckets, pod_served[:, None] * below)
            latency_sum = accumulate(pod.latency_sum, pod_served * mean_latency)
            util = _gpu_util(utilisation * pod.weight, pod.noise_key, steps)
            power_noise = 5.0 * hash_normal(stream_key(pod.noise_key, 2), steps)
            power = np.clip(IDLE_WATTS + (MAX_WATTS - IDLE_WATTS) * util / 100.0 + power_noise, IDLE_WATTS, MAX_WATTS)
            energy = accumulate(pod.energy_mj, power * dt * 1000.0)
            power_now += float(power[-1])
            tokens = pod.tokens.advance(pod_served, pool, pod.weight, steps, lengths)
            series = PodSeries(
                gpu_utilization=util,
                power_watts=power,
                energy_millijoules=energy,
                framebuffer_used_mib=np.round(FB_RESERVED_MIB + 4.0 * util),
                requests=success,
                latency=Histogram(LATENCY_BUCKETS, buckets, success, latency_sum),
                waiting=queue * fraction,
                running=running * fraction,
                prompt_tokens=tokens.prompt_tokens,
                generation_tokens=tokens.generation_tokens,
                kv_cache_usage=tokens.kv_cache_usage,
                time_to_first_token=tokens.time_to_first_token,
                inter_token=tokens.inter_token,
            )
            for sample in render_pod(pod.layout, series):
                emit({"__name__": sample.name, **sample.labels}, times, sample.values)

            pod.success, pod.latency_sum, pod.energy_mj = float(success[-1]), float(latency_sum[-1]), float(energy[-1])
            pod.buckets = buckets[-1].copy()

        workload.queue = float(queue[-1])
        workload.arrived = float(accumulate(workload.arrived, arrivals)[-1])
        workload.served = float(accumulate(workload.served, served)[-1])
        self._current[spec.name] = WorkloadState(
            app=spec.app,
            selector=spec.selector,
            model=spec.model,
            replicas=spec.replicas,
            time=float(times[-1]),
            demand_rps=float(arrivals[-1] / dt),
            served_rps=float(served[-1] / dt),
            capacity_rps=drain_rps,
            utilisation=float(utilisation[-1]),
            queue=workload.queue,
            running=float(running[-1]),
            latency_p50_seconds=float(median[-1]),
            latency_p99_seconds=float(median[-1] * math.exp(_P99_Z * LATENCY_SIGMA)),
            power_watts=power_now,
            arrived_total=workload.arrived,
            served_total=workload.served,
        )


def default_fleet(
    *, start: float, trace: Trace | None = None, trace_origin: float | None = None, seed: int = 0
) -> DemoFleet:
    """Three workloads (llama ×4, mistral ×2, deepseek's prefill ×2 and decode ×3) sized to the
    demand's reference rate; their prompt and output lengths are those of a chat, a coding and a
    long-context trace (:data:`TOKEN_MIXES`).

    With a trace, the trace is played from ``trace_origin`` (default ``start``; earlier times see
    the looped trace) and the fleet is sized so its 90th-percentile rate fits; without one, the
    synthetic demand's weekday peak just fits.
    """
    origin = start if trace_origin is None else trace_origin
    demand: DemandModel = TraceDemand(trace, origin=origin) if trace is not None else SyntheticDemand(seed=seed)
    reference = demand.reference_rps()
    templates = (
        ("llama", "meta-llama/Llama-3.1-8B-Instruct", 4, 0.55, 1.2, TOKEN_MIXES["chat"]),
        ("mistral", "mistralai/Mistral-7B-Instruct-v0.3", 2, 0.25, 0.9, TOKEN_MIXES["code"]),
        ("deepseek", "deepseek-ai/DeepSeek-V3", 2, 0.2, 0.6, replace(TOKEN_MIXES["long"], role="prefill")),
        ("deepseek", "deepseek-ai/DeepSeek-V3", 3, 0.2, 2.0, replace(TOKEN_MIXES["long"], role="decode")),
    )
    workloads = [
        WorkloadSpec(
            app=app,
            model=model,
            replicas=replicas,
            capacity_rps_per_replica=share * reference / replicas,
            share=share,
            service_seconds=service,
            tokens=tokens,
        )
        for app, model, replicas, share, service, tokens in templates
    ]
    return DemoFleet(workloads, demand, start=start, seed=seed)


def _make_pod(spec: WorkloadSpec, replica: int, gpu_index: int, seed: int) -> _Pod:
    noise_key = int(stream_key(seed, 10, gpu_index))
    gpu = gpu_index % GPUS_PER_NODE
    layout = PodLayout(
        namespace=NAMESPACE,
        name=f"{spec.name}-{replica}",
        uid=_uuid(noise_key, 1),
        app=spec.app,
        gpu=Gpu(f"GPU-{_uuid(noise_key, 2)}", gpu, f"gpu-node-{gpu_index // GPUS_PER_NODE}"),
        server=VLLM,
        model_name=spec.model,
        model_label=spec.model_label,
        role=spec.tokens.role,
    )
    traits = hash_uniform(stream_key(noise_key, 3), np.arange(2))
    return _Pod(
        layout=layout,
        weight=1.0 + 0.1 * (float(traits[0]) - 0.5),
        noise_key=noise_key,
        energy_mj=1e9 * (1.0 + float(traits[1])),
        buckets=np.zeros(len(LATENCY_BUCKETS)),
        tokens=PodTokens(spec.tokens, noise_key),
    )


def _normalise_weights(pods: list[_Pod]) -> None:
    mean = sum(pod.weight for pod in pods) / len(pods)
    for pod in pods:
        pod.weight /= mean


def _uuid(key: int, salt: int) -> str:
    digits = f"{int(stream_key(key, salt, 1)):016x}{int(stream_key(key, salt, 2)):016x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _lindley(initial: float, arrivals: np.ndarray, capacity: float) -> np.ndarray:
    """Queue after each step: what arrived and was waiting, less what capacity could serve."""
    queue = np.empty(len(arrivals))
    level = initial
    for index, arrived in enumerate(arrivals.tolist()):
        level = level + arrived - capacity
        if level < 0.0:
            level = 0.0
        queue[index] = level
    return queue


def _gpu_util(load: np.ndarray, key: int, steps: np.ndarray) -> np.ndarray:
    """DCGM utilisation in whole percent: the served load with a little noise (0 when idle)."""
    noisy = 100.0 * load * (1.0 + 0.03 * hash_normal(stream_key(key, 1), steps))
    return np.round(np.clip(noisy, 0.0, 100.0))
