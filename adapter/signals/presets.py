"""Built-in signal rules for dcgm-exporter (or Foresight's NVML exporter), vLLM, SGLang, Triton, TGI
and a generic counter/histogram pair, and the merge of those presets with a config's own rules.

GPU series carry only ``namespace``/``pod`` (under several label spellings), so GPU rules first
normalise ``exported_namespace``/``exported_pod``/``pod_name`` and then join kube-state-metrics'
``kube_pod_labels`` to apply the HPA's selector to pod labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.kubernetes.errors import ConfigError
from adapter.settings.config import MetricRule, Settings, SignalSettings
from adapter.settings.forecast_names import parse_forecast_metric
from adapter.signals.llm_signals import LLM_SERVERS, generic_llm_series, llm_rules

POD_JOIN = "and on(namespace, pod) kube_pod_labels{<<.PodLabelMatchers>>}"
SECONDS_PER_KWH = 3_600_000.0
MILLIGRAMS_PER_GRAM = 1000.0


def _dcgm(series: str) -> str:
    """A dcgm-exporter series with its pod/namespace labels normalised, joined to the workload's pods."""
    normalised = f"{series}{{<<.MetricLabelMatchers>>}}"
    for target, source in (("pod", "pod_name"), ("pod", "exported_pod"), ("namespace", "exported_namespace")):
        normalised = f'label_replace({normalised}, "{target}", "$1", "{source}", "(.+)")'
    return f"({normalised} {POD_JOIN})"


@dataclass(frozen=True)
class _ServerSeries:
    """How one inference server names the series behind demand, latency and queue."""

    requests_total: str
    latency_bucket: str | None
    queue: str | None
    latency_p99_summary_us: str | None = None


_SERVERS = {
    "vllm": _ServerSeries(
        requests_total="vllm:request_success_total",
        latency_bucket="vllm:e2e_request_latency_seconds_bucket",
        queue="vllm:num_requests_waiting",
    ),
    # SGLang: python/sglang/srt/metrics/collector.py (TokenizerMetricsCollector and
    # SchedulerMetricsCollector) of sgl-project/sglang.
    "sglang": _ServerSeries(
        requests_total="sglang:num_requests_total",
        latency_bucket="sglang:e2e_request_latency_seconds_bucket",
        queue="sglang:num_queue_reqs",
    ),
    "tgi": _ServerSeries(
        requests_total="tgi_request_success",
        latency_bucket="tgi_request_duration_bucket",
        queue="tgi_queue_size",
    ),
    # Triton exports latency as summaries (started with --metrics-config summary_latencies=true);
    # quantiles of summaries cannot be pooled, so the slowest pod's p99 is served.
    "triton": _ServerSeries(
        requests_total="nv_inference_request_success",
        latency_bucket=None,
        queue="nv_inference_pending_request_count",
        latency_p99_summary_us='nv_inference_request_summary_us{quantile="0.99",<<.LabelMatchers>>}',
    ),
}


def demand_series(signals: SignalSettings) -> str | None:
    """The inference server's request counter the demand signals read, if a server is configured."""
    series = _server_series(signals)
    return series.requests_total if series is not None else None


def _server_series(signals: SignalSettings) -> _ServerSeries | None:
    if signals.server == "none":
        return None
    if signals.server == "generic":
        assert signals.generic is not None  # enforced by SignalSettings
        return _ServerSeries(
            requests_total=signals.generic.requests_total,
            latency_bucket=f"{signals.generic.latency_histogram}_bucket",
            queue=signals.generic.queue_gauge,
        )
    return _SERVERS[signals.server]


class _ServerRules:
    """Builds the inference-server rules for one selection mode."""

    def __init__(self, signals: SignalSettings, series: _ServerSeries) -> None:
        self.series = series
        self.mode = signals.workload_labels
        self.window = signals.window
        generic = signals.generic if signals.server == "generic" else None
        self.llm = generic_llm_series(generic) if generic is not None else LLM_SERVERS.get(signals.server)
        self.token_latency_quantile = signals.token_latency_quantile

    def select(self, vector: str) -> str:
        """``vector`` (which uses <<.LabelMatchers>>) restricted to the workload's pods."""
        return f"({vector} {POD_JOIN})" if self.mode == "pod_labels" else vector

    def request_rate(self) -> str:
        return self.select(f"rate({self.series.requests_total}{{<<.LabelMatchers>>}}[<<.Window>>])")

    def rule(self, name: str, query: str, pods_query: str, description: str, **policy: str) -> MetricRule:
        return MetricRule.model_validate(
            {
                "name": name,
                "query": query,
                "pods_query": pods_query,
                "workload_selector": self.mode,
                "window": self.window,
                "description": description,
                **policy,
            }
        )

    def rules(self) -> list[MetricRule]:
        rate = self.request_rate()
        built = [
            self.rule(
                "requests_per_second",
                f"sum({rate})",
                f"sum by (pod) ({rate})",
                "Demand: completed requests per second, summed over the workload's pods.",
            )
        ]
        latency = self._latency_rule()
        if latency is not None:
            built.append(latency)
        if self.series.queue is not None:
            queue = self.select(f"{self.series.queue}{{<<.LabelMatchers>>}}")
            built.append(
                self.rule(
                    "queue_depth",
                    f"sum({queue})",
                    f"sum by (pod) ({queue})",
                    "Requests waiting, summed over the workload's pods.",
                )
            )
        if self.llm is not None:
            built += llm_rules(self, self.llm, quantile=self.token_latency_quantile)
        return built

    def _latency_rule(self) -> MetricRule | None:
        description = "p99 request latency in seconds; 0 when there were no requests."
        if self.series.latency_bucket is not None:
            buckets = self.select(f"rate({self.series.latency_bucket}{{<<.LabelMatchers>>}}[<<.Window>>])")
            return self.rule(
                "latency_p99_seconds",
                f"histogram_quantile(0.99, sum by (le) ({buckets}))",
                f"histogram_quantile(0.99, sum by (pod, le) ({buckets}))",
                description,
                on_nan="zero",
            )
        if self.series.latency_p99_summary_us is not None:
            summary = self.select(self.series.latency_p99_summary_us)
            return self.rule(
                "latency_p99_seconds",
                f"max({summary}) / 1000000",
                f"max by (pod) ({summary}) / 1000000",
                description + " Triton: the slowest pod's summary p99.",
                on_nan="zero",
            )
        return None


def gpu_watts_query() -> str:
    """The workload's GPU power in watts. dcgm-exporter repeats a shared GPU's power for every pod
    on it: one value per GPU UUID."""
    return f'sum(max by (UUID) ({_dcgm("DCGM_FI_DEV_POWER_USAGE")}))'


def _gpu_rules(signals: SignalSettings, server: _ServerRules | None) -> list[MetricRule]:
    util = _dcgm("DCGM_FI_DEV_GPU_UTIL")
    built = [
        MetricRule(
            name="gpu_utilization",
            query=f"avg({util})",
            pods_query=f"avg by (pod) ({util})",
            workload_selector="pod_labels",
            window=signals.window,
            description="Mean GPU utilisation (percent) over the workload's GPUs.",
        )
    ]
    if server is None:
        return built
    energy = f"{gpu_watts_query()} / sum({server.request_rate()})"
    no_load = {"on_nan": "zero", "on_inf": "zero"}
    built.append(
        MetricRule.model_validate(
            {
                "name": "energy_per_request_joules",
                "query": energy,
                "workload_selector": server.mode,
                "window": signals.window,
                "description": "GPU watts of the workload / its request rate = joules per request; 0 with no requests.",
                **no_load,
            }
        )
    )
    if signals.carbon is not None:
        # A missing intensity series leaves the product empty (on_empty: error), never zero.
        intensity = (
            repr(signals.carbon.grams_per_kwh)
            if signals.carbon.grams_per_kwh is not None
            else f"on() max({signals.carbon.query})"
        )
        factor = MILLIGRAMS_PER_GRAM / SECONDS_PER_KWH
        built.append(
            MetricRule.model_validate(
                {
                    "name": "carbon_per_request_milligrams",
                    "query": f"({energy}) * {intensity} * {factor!r}",
                    "workload_selector": server.mode,
                    "window": signals.window,
                    "description": "Energy per request × grid intensity, in mg CO2e per request.",
                    **no_load,
                }
            )
        )
    return built


def preset_rules(signals: SignalSettings) -> list[MetricRule]:
    """The rules the configured presets provide."""
    series = _server_series(signals)
    server = _ServerRules(signals, series) if series is not None else None
    built = server.rules() if server is not None else []
    if signals.gpu == "dcgm":
        built += _gpu_rules(signals, server)
    return built


def _forecast_signal(name: str) -> str | None:
    """The signal whose forecast ``name`` serves, if its name says it is a forecast metric."""
    forecast = parse_forecast_metric(name)
    return forecast[0] if forecast is not None else None


def resolve_rules(settings: Settings, *, source: str) -> dict[str, MetricRule]:
    """Preset rules overlaid with the config's own (by name), sorted by name."""
    rules = {rule.name: rule for rule in preset_rules(settings.signals)}
    rules.update((rule.name, rule) for rule in settings.metrics)
    if not rules:
        raise ConfigError(source, [("signals", "no metric would be served: enable a preset or add metrics")])
    forecast_signals = set(settings.forecasts.signals)
    shadowed = [
        (f"metrics[{index}].name", f"{rule.name!r} is served for the forecast of {_forecast_signal(rule.name)!r}")
        for index, rule in enumerate(settings.metrics)
        if _forecast_signal(rule.name) in forecast_signals
    ]
    if shadowed:
        raise ConfigError(source, shadowed)
    tracked = [
        (f"forecasts.workloads[{index}].track", f"{name!r}: {_forecast_signal(name)!r} is not in forecasts.signals")
        for index, workload in enumerate(settings.forecasts.workloads)
        for name in workload.track
        if _forecast_signal(name) not in forecast_signals
    ]
    if tracked:
        raise ConfigError(source, tracked)
    if "signals" in settings.forecasts.model_fields_set:
        unknown = [
            (f"forecasts.signals[{index}]", f"no metric named {signal!r} is served")
            for index, signal in enumerate(settings.forecasts.signals)
            if signal not in rules
        ]
        if unknown:
            raise ConfigError(source, unknown)
    return dict(sorted(rules.items()))
