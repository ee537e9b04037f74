"""A synthetic GPU-inference exporter whose every signal is known in advance.

It stands in for three components the integration tests cannot run: dcgm-exporter (needs an
NVIDIA GPU), kube-state-metrics (needs a Kubernetes cluster) and vLLM (needs a GPU). One
``/metrics`` endpoint serves all three in the Prometheus text format, with the label layouts the
real exporters produce, including the awkward ones the adapter must cope with: a GPU shared by two
pods, dcgm series attributed through ``exported_namespace``/``exported_pod``, the legacy
``pod_name`` label, an idle workload, a same-named pod in another namespace, vLLM's KV-cache and
inter-token series under their older names (one workload) and under both names at once (another),
a disaggregated workload whose prefill and decode pools carry llm-d's ``llm-d.ai/role`` label,
and workloads served by SGLang, by Triton with the TensorRT-LLM backend, and by a server only
the config's ``generic`` section names, each under its own names in a namespace of its own.

Each scrape is answered with samples stamped with the whole second it falls in (the text format's
own timestamps, which Prometheus stores as given), and every value is computed for that timestamp.
So every counter is an exact linear function of the timestamps Prometheus records, however late a
loaded machine answers a scrape, and ``rate()`` over a window that starts and ends on a scrape
equals the configured rate (see :meth:`PrometheusServer.whole_window_time`). The expected signal
values (:class:`GroundTruth`) are derived from the same configuration, never typed in twice.

The series' names and label layouts are the ones the demo serves: both render through
:mod:`adapter.sources.demo.exporters`, the demo with its queueing model and this exporter with the values
of :meth:`Workload.series`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType

import numpy as np
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.core import CollectorRegistry, Metric
from prometheus_client.utils import floatToGoString

from adapter.sources.demo.exporters import Attribution, Sample, render_pod
from adapter.sources.demo.servers import GENERIC, SGLANG, TRITON, VLLM_BEFORE_RENAME, VLLM_DURING_RENAME

from .workload_model import P99, Gpu, GroundTruth, Pod, PodTruth, Workload, histogram_quantile

#: Seconds between the timestamps samples can carry: scrapes and history lie on this grid.
GRID_S = 1

#: A series every scrape carries, to read the scrape timestamps from.
TIMESTAMP_SERIES = 'kube_pod_labels{namespace="inference", pod="llama-0"}'


def _gpu(host: str, index: int, suffix: str, utilization: float, power: float) -> Gpu:
    uuid = f"GPU-00000000-0000-0000-0000-{suffix:0>12}"
    return Gpu(uuid, index, host, utilization_percent=utilization, power_watts=power)


_MISTRAL_GPU = _gpu("node-a", 2, "mistral0", 70.0, 250.0)

WORKLOADS: tuple[Workload, ...] = (
    Workload(
        namespace="inference",
        app="llama",
        model_name="llama",
        model_label="llama",
        latency_shares=(0.5, 0.9, 0.98, 1.0, 1.0, 1.0),
        pods=(
            Pod("llama-0", _gpu("node-a", 0, "llama0", 40.0, 200.0), 5.0, 3, 8,
                prompt_tokens_per_second=5000.0, generation_tokens_per_second=1000.0, kv_cache_usage=0.5),
            Pod("llama-1", _gpu("node-a", 1, "llama1", 60.0, 300.0), 7.0, 4, 9,
                prompt_tokens_per_second=7700.0, generation_tokens_per_second=1540.0, kv_cache_usage=0.7),
        ),
    ),
    Workload(
        namespace="inference",
        app="mistral",
        model_name="mistral",
        model_label=None,
        latency_shares=(0.3, 0.7, 0.95, 0.985, 0.995, 1.0),
        itl_shares=(0.1, 0.5, 0.8, 0.97, 0.995, 1.0),
        server=VLLM_BEFORE_RENAME,
        pods=(
            Pod("mistral-0", _MISTRAL_GPU, 4.0, 0, 5,
                prompt_tokens_per_second=2000.0, generation_tokens_per_second=800.0, kv_cache_usage=0.25),
            Pod("mistral-1", _MISTRAL_GPU, 6.0, 2, 6,
                prompt_tokens_per_second=3000.0, generation_tokens_per_second=1200.0, kv_cache_usage=0.45),
        ),
    ),
    Workload(
        namespace="inference",
        app="phi",
        model_name="phi",
        model_label=None,
        latency_shares=(0.6, 0.92, 0.97, 0.995, 1.0, 1.0),
        server=VLLM_DURING_RENAME,
        pods=(
            Pod("phi-0", _gpu("node-b", 0, "phi0", 30.0, 150.0), 1.0, 1, 2, Attribution.EXPORTED,
                prompt_tokens_per_second=300.0, generation_tokens_per_second=150.0, kv_cache_usage=0.1),
            Pod("phi-1", _gpu("node-b", 1, "phi1", 50.0, 170.0), 2.0, 0, 3, Attribution.LEGACY,
                prompt_tokens_per_second=600.0, generation_tokens_per_second=300.0, kv_cache_usage=0.3),
        ),
    ),
    Workload(
        namespace="inference",
        app="idle",
        model_name="idle",
        model_label=None,
        latency_shares=(0.5, 0.9, 0.98, 1.0, 1.0, 1.0),
        pods=(Pod("idle-0", _gpu("node-b", 2, "idle0", 0.0, 60.0), 0.0, 0, 0),),
    ),
    Workload(
        namespace="other",
        app="llama",
        model_name="llama",
        model_label="llama",
        latency_shares=(0.1, 0.2, 0.4, 0.8, 0.95, 1.0),
        pods=(Pod("llama-0", _gpu("node-c", 0, "otherllama0", 99.0, 999.0), 100.0, 50, 30,
                prompt_tokens_per_second=90000.0, generation_tokens_per_second=20000.0, kv_cache_usage=0.99),),
    ),
    # Served by SGLang, in a namespace of its own so the vLLM preset never sees it.
    Workload(
        namespace="sglang",
        app="qwen",
        model_name="qwen",
        model_label=None,
        latency_shares=(0.4, 0.8, 0.95, 0.99, 1.0, 1.0),
        ttft_shares=(0.05, 0.3, 0.7, 0.9, 0.99, 1.0),
        server=SGLANG,
        pods=(
            Pod("qwen-0", _gpu("node-e", 0, "qwen0", 55.0, 280.0), 6.0, 2, 12,
                prompt_tokens_per_second=4800.0, generation_tokens_per_second=1800.0, kv_cache_usage=0.65),
            Pod("qwen-1", _gpu("node-e", 1, "qwen1", 45.0, 260.0), 4.0, 1, 10,
                prompt_tokens_per_second=3200.0, generation_tokens_per_second=1200.0, kv_cache_usage=0.55),
        ),
    ),
    # Served by Triton with the TensorRT-LLM backend, under Triton's names.
    Workload(
        namespace="triton",
        app="gemma",
        model_name="tensorrt_llm",
        model_label=None,
        latency_shares=(0.4, 0.8, 0.95, 0.99, 1.0, 1.0),
        ttft_shares=(0.02, 0.4, 0.85, 0.97, 0.995, 1.0),
        server=TRITON,
        pods=(
            Pod("gemma-0", _gpu("node-f", 0, "gemma0", 65.0, 310.0), 5.0, 3, 14,
                prompt_tokens_per_second=4000.0, generation_tokens_per_second=1500.0, kv_cache_usage=0.35),
            Pod("gemma-1", _gpu("node-f", 1, "gemma1", 75.0, 330.0), 3.0, 1, 9,
                prompt_tokens_per_second=2700.0, generation_tokens_per_second=900.0, kv_cache_usage=0.6),
        ),
    ),
    # A server the presets do not know, whose series the generic section of the config names.
    Workload(
        namespace="generic",
        app="falcon",
        model_name="falcon",
        model_label=None,
        latency_shares=(0.2, 0.6, 0.9, 0.99, 1.0, 1.0),
        ttft_shares=(0.15, 0.6, 0.9, 0.985, 1.0, 1.0),
        itl_shares=(0.3, 0.6, 0.9, 0.98, 0.999, 1.0),
        server=GENERIC,
        pods=(
            Pod("falcon-0", _gpu("node-g", 0, "falcon0", 35.0, 210.0), 2.0, 1, 6,
                prompt_tokens_per_second=1600.0, generation_tokens_per_second=500.0, kv_cache_usage=0.4),
            Pod("falcon-1", _gpu("node-g", 1, "falcon1", 45.0, 230.0), 4.0, 2, 7,
                prompt_tokens_per_second=3400.0, generation_tokens_per_second=1100.0, kv_cache_usage=0.8),
        ),
    ),
    # Disaggregated serving: the prefill pool computes prompts and hands each request's KV cache
    # to the decode pool, which generates its tokens.
    Workload(
        namespace="inference",
        app="deepseek",
        model_name="deepseek",
        model_label=None,
        latency_shares=(0.0, 0.2, 0.6, 0.9, 0.99, 1.0),
        ttft_shares=(0.3, 0.8, 0.95, 1.0, 1.0, 1.0),
        itl_shares=(0.5, 0.9, 0.995, 1.0, 1.0, 1.0),
        pods=(
            Pod("deepseek-prefill-0", _gpu("node-d", 0, "dsprefill0", 80.0, 600.0), 3.0, 1, 4,
                prompt_tokens_per_second=9000.0, generation_tokens_per_second=3.0, kv_cache_usage=0.2, role="prefill"),
            Pod("deepseek-prefill-1", _gpu("node-d", 1, "dsprefill1", 85.0, 620.0), 4.0, 2, 5,
                prompt_tokens_per_second=12000.0, generation_tokens_per_second=4.0, kv_cache_usage=0.3, role="prefill"),
            Pod("deepseek-decode-0", _gpu("node-d", 2, "dsdecode0", 60.0, 500.0), 7.0, 0, 40,
                generation_tokens_per_second=2800.0, kv_cache_usage=0.9, role="decode"),
        ),
    ),
)


def workloads(server: str | None = "vllm") -> list[tuple[str, str]]:
    """Every ``(namespace, app)`` the exporter serves with ``server``'s series (None: all)."""
    return [(workload.namespace, workload.app) for workload in WORKLOADS if server in (None, workload.server.name)]


def workload(namespace: str, app: str) -> Workload:
    """The configuration of one workload."""
    for candidate in WORKLOADS:
        if (candidate.namespace, candidate.app) == (namespace, app):
            return candidate
    raise KeyError(f"no workload app={app} in namespace {namespace}")


def ground_truth(namespace: str, app: str, role: str | None = None) -> GroundTruth:
    """What the adapter should report for one workload, or for its pods of one ``role``, derived
    from its configuration."""
    config = workload(namespace, app)
    pods = tuple(pod for pod in config.pods if role is None or pod.role == role)
    if not pods:
        raise KeyError(f"no pods of role {role!r} in app={app}")
    requests = sum(pod.requests_per_second for pod in pods)
    power = sum({pod.gpu.uuid: pod.gpu.power_watts for pod in pods}.values())
    return GroundTruth(
        namespace=namespace,
        app=app,
        gpu_utilization=sum(pod.gpu.utilization_percent for pod in pods) / len(pods),
        requests_per_second=requests,
        latency_p99_seconds=histogram_quantile(P99, config.latency_buckets(pods)),
        latency_mean_seconds=config.mean_latency_seconds if requests > 0 else None,
        queue_depth=float(sum(pod.requests_waiting for pod in pods)),
        gpu_power_watts=power,
        gpu_power_watts_naive=sum(pod.gpu.power_watts for pod in pods),
        energy_per_request_joules=power / requests if requests > 0 else None,
        pods=MappingProxyType(
            {
                pod.name: PodTruth(
                    gpu_utilization=pod.gpu.utilization_percent,
                    requests_per_second=pod.requests_per_second,
                    queue_depth=float(pod.requests_waiting),
                    latency_p99_seconds=histogram_quantile(P99, config.latency_buckets([pod])),
                    kv_cache_utilization=pod.kv_cache_usage,
                    prompt_tokens_per_second=pod.prompt_tokens_per_second,
                    generation_tokens_per_second=pod.generation_tokens_per_second,
                    requests_running=float(pod.requests_running),
                )
                for pod in pods
            }
        ),
        kv_cache_utilization=sum(pod.kv_cache_usage for pod in pods) / len(pods),
        ttft_p99_seconds=histogram_quantile(P99, config.ttft_buckets(pods)),
        itl_p99_seconds=histogram_quantile(P99, config.itl_buckets(pods)),
        prompt_tokens_per_second=sum(pod.prompt_tokens_per_second for pod in pods),
        generation_tokens_per_second=sum(pod.generation_tokens_per_second for pod in pods),
        requests_running=float(sum(pod.requests_running for pod in pods)),
    )


def grid_time(when: float) -> int:
    """The grid point at or before Unix time ``when``."""
    return math.floor(when / GRID_S) * GRID_S


class _WorkloadCollector:
    """Renders every workload's series with their values at wall-clock times."""

    def __init__(self, configs: Sequence[Workload], origin: float) -> None:
        self._configs = configs
        self._origin = origin

    def collect(self) -> Iterator[Metric]:
        return iter(self.metrics_at(grid_time(time.time()), stamped=True))

    def samples(self, times: Sequence[int]) -> list[Sample]:
        """Every series with one value per Unix time of ``times``, grid points."""
        elapsed = np.asarray(times, dtype=float) - self._origin
        return [
            sample
            for config in self._configs
            for pod in config.pods
            for sample in render_pod(config.layout(pod), config.series(pod, elapsed))
        ]

    def metrics_at(self, when: int, *, stamped: bool = False) -> tuple[Metric, ...]:
        """Every series with its value at Unix time ``when``, a grid point; ``stamped`` puts
        ``when`` on every sample as its timestamp."""
        timestamp = when if stamped else None
        families: dict[str, Metric] = {}
        for sample in self.samples([when]):
            family = sample.family
            if family.name not in families:
                families[family.name] = Metric(family.name, family.help, family.kind)
            families[family.name].add_sample(sample.name, sample.labels, float(sample.values[0]), timestamp)
        return tuple(families.values())


def _openmetrics_labels(labels: Mapping[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{name}="{escape(value)}"' for name, value in sorted(labels.items())) + "}"


class _MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(("127.0.0.1", 0), _MetricsHandler)
        self.registry = registry


class _MetricsHandler(BaseHTTPRequestHandler):
    """Always answers in the classic text format, whatever the scraper's ``Accept`` header.

    Like dcgm-exporter and kube-state-metrics; prometheus_client's own negotiation would pick
    OpenMetrics for Prometheus and rewrite ``vllm:`` names to ``vllm_``.
    """

    server: _MetricsServer

    def do_GET(self) -> None:
        body = generate_latest(self.server.registry)
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep scrapes out of the test output."""


class WorkloadExporter:
    """Serves :data:`WORKLOADS` over HTTP on a free 127.0.0.1 port until :meth:`close`.

    Counters start as if the exporters had been up for ``uptime_s``, like long-running processes,
    so that Prometheus never sees them near zero.
    """

    def __init__(self, configs: Sequence[Workload] = WORKLOADS, uptime_s: float = 3600.0) -> None:
        self._collector = _WorkloadCollector(configs, time.time() - uptime_s)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self._collector)
        self._server = _MetricsServer(registry)
        self._thread = threading.Thread(target=self._server.serve_forever, name="workload-exporter")
        self._thread.start()
        self._closed = False

    @property
    def target(self) -> str:
        """``host:port`` for a Prometheus scrape config."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        """The metrics endpoint."""
        return f"http://{self.target}/metrics"

    def history(self, seconds: float, target_labels: Mapping[str, str], step_s: int = GRID_S) -> str:
        """The last ``seconds`` as scrapes every ``step_s`` would have stored them, as OpenMetrics.

        For backfilling Prometheus (``promtool tsdb create-blocks-from openmetrics``), so that
        ``rate()`` over any window up to ``seconds`` is exact from the first query on instead of
        extrapolated over a partly empty window. ``target_labels`` (``job``, ``instance``) are
        added as the scrape would add them, so history and live samples form the same series.
        Samples lie on the grid live scrapes use (``step_s`` a multiple of :data:`GRID_S`) and end
        before the grid point of the call, so the first scrape follows them in order.
        """
        if step_s % GRID_S:
            raise ValueError(f"step_s must be a multiple of {GRID_S} s, got {step_s}")
        end = grid_time(time.time())
        times = [end - step * step_s for step in range(int(seconds / step_s), 0, -1)]
        samples = self._collector.samples(times)
        names = [f"{sample.name}{_openmetrics_labels(sample.labels | dict(target_labels))} " for sample in samples]
        lines = [
            f"{name}{floatToGoString(float(sample.values[index]))} {when}"
            for index, when in enumerate(times)
            for name, sample in zip(names, samples)
        ]
        return "\n".join([*lines, "# EOF", ""])

    def close(self) -> None:
        """Stop serving, release the port and join the server thread."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> WorkloadExporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
