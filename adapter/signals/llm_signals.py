"""LLM-native signals of the inference-server presets: KV-cache fill, time to first token,
inter-token latency, token demand and running requests.

Each server names these series its own way, and a release may rename one (vLLM's
``vllm:gpu_cache_usage_perc`` became ``vllm:kv_cache_usage_perc``, and
``vllm:time_per_output_token_seconds`` gave way to ``vllm:inter_token_latency_seconds``): where a
signal has several names, the query joins them with PromQL ``or``, so whichever the server
exports answers, and where a pod exports both the newer name's series wins.

Series names, by the source that defines them:

- vLLM: ``vllm/v1/metrics/loggers.py`` (``PrometheusStatLogger``) of vllm-project/vllm.
- SGLang: ``python/sglang/srt/metrics/collector.py`` of sgl-project/sglang
  (``SchedulerMetricsCollector`` for ``sglang:token_usage``, ``sglang:num_running_reqs`` and
  ``sglang:num_queue_reqs``; ``TokenizerMetricsCollector`` for the token counters and the
  TTFT/ITL histograms).
- TGI: ``docs/source/reference/metrics.md`` of huggingface/text-generation-inference. TGI exports
  no KV-cache fill and no TTFT histogram; token counts are histograms per request, whose
  ``_sum`` counts tokens; its per-token latency is each request's mean time per token.
- Triton with the TensorRT-LLM backend: ``inflight_batcher_llm/src/custom_metrics_reporter/
  custom_metrics_reporter.cc`` of triton-inference-server/tensorrtllm_backend
  (``nv_trt_llm_kv_cache_block_metrics`` by ``kv_cache_block_type``, ``nv_trt_llm_request_metrics``
  by ``request_type``, and the per-request token-count histograms ``nv_llm_input_token_len`` and
  ``nv_llm_output_token_len``, whose ``_sum`` counts tokens); time to first response from
  ``docs/user_guide/metrics.md`` of triton-inference-server/server
  (``nv_inference_first_response_histogram_ms``, in milliseconds, exported with
  ``--metrics-config histogram_latencies=true``). Triton exports no inter-token latency.

A generic server names its own series in the ``generic`` section of ``signals``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from adapter.settings.config import GenericServer, MetricRule

MILLISECONDS = 0.001


@dataclass(frozen=True)
class BlockRatio:
    """A fill read as the ratio of two values of one gauge family, told apart by one label."""

    family: str
    label: str
    used: str
    capacity: str

    def vector(self) -> str:
        """Used over capacity, per series, within the workload's selection."""
        used, capacity = (_vector(f'{self.family}{{{self.label}="{value}"}}') for value in (self.used, self.capacity))
        return f"({used} / ignoring({self.label}) {capacity})"


@dataclass(frozen=True)
class LlmSeries:
    """How one server names its LLM series; every tuple lists names, the preferred first. A name
    may carry fixed matchers in braces (``family{label="value"}``)."""

    kv_cache_usage: tuple[str, ...] = ()
    kv_cache_blocks: BlockRatio | None = None
    ttft_bucket: tuple[str, ...] = ()
    #: Seconds per unit of the TTFT histogram's bucket bounds.
    ttft_unit_s: float = 1.0
    itl_bucket: tuple[str, ...] = ()
    prompt_tokens: str | None = None
    generation_tokens: str | None = None
    running: str | None = None


LLM_SERVERS = {
    "vllm": LlmSeries(
        kv_cache_usage=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        ttft_bucket=("vllm:time_to_first_token_seconds_bucket",),
        itl_bucket=("vllm:inter_token_latency_seconds_bucket", "vllm:time_per_output_token_seconds_bucket"),
        prompt_tokens="vllm:prompt_tokens_total",
        generation_tokens="vllm:generation_tokens_total",
        running="vllm:num_requests_running",
    ),
    "sglang": LlmSeries(
        kv_cache_usage=("sglang:token_usage",),
        ttft_bucket=("sglang:time_to_first_token_seconds_bucket",),
        itl_bucket=("sglang:inter_token_latency_seconds_bucket",),
        prompt_tokens="sglang:prompt_tokens_total",
        generation_tokens="sglang:generation_tokens_total",
        running="sglang:num_running_reqs",
    ),
    "tgi": LlmSeries(
        itl_bucket=("tgi_request_mean_time_per_token_duration_bucket",),
        prompt_tokens="tgi_request_input_length_sum",
        generation_tokens="tgi_request_generated_tokens_sum",
        running="tgi_batch_current_size",
    ),
    "triton": LlmSeries(
        kv_cache_blocks=BlockRatio("nv_trt_llm_kv_cache_block_metrics", "kv_cache_block_type", "used", "max"),
        ttft_bucket=("nv_inference_first_response_histogram_ms_bucket",),
        ttft_unit_s=MILLISECONDS,
        prompt_tokens="nv_llm_input_token_len_sum",
        generation_tokens="nv_llm_output_token_len_sum",
        running='nv_trt_llm_request_metrics{request_type="active"}',
    ),
}


def generic_llm_series(names: GenericServer) -> LlmSeries:
    """The LLM series a ``generic`` section names; a signal whose series it omits is not served."""
    return LlmSeries(
        kv_cache_usage=tuple(filter(None, [names.kv_cache_gauge])),
        ttft_bucket=tuple(f"{name}_bucket" for name in filter(None, [names.ttft_histogram])),
        itl_bucket=tuple(f"{name}_bucket" for name in filter(None, [names.itl_histogram])),
        prompt_tokens=names.prompt_tokens_total,
        generation_tokens=names.generation_tokens_total,
        running=names.running_gauge,
    )


class RuleBuilder(Protocol):
    """What the server presets offer these rules: the workload's selection and the rule shape."""

    def select(self, vector: str) -> str: ...

    def rule(self, name: str, query: str, pods_query: str, description: str, **policy: str) -> MetricRule: ...


def _vector(series: str) -> str:
    """``series`` (a name, or a name with fixed matchers in braces) confined to the request's
    selection by ``<<.LabelMatchers>>``."""
    if series.endswith("}"):
        return series[:-1] + ",<<.LabelMatchers>>}"
    return series + "{<<.LabelMatchers>>}"


def _any_of(names: tuple[str, ...], shape: str) -> str:
    """``shape`` (with ``{}`` for a series name) for each name, joined with ``or``."""
    vectors = [shape.format(_vector(name)) for name in names]
    return vectors[0] if len(vectors) == 1 else "(" + " or ".join(vectors) + ")"


def _quantile_rule(
    builder: RuleBuilder, name: str, buckets: tuple[str, ...], quantile: float, what: str, unit_s: float = 1.0
) -> MetricRule:
    pooled = builder.select(_any_of(buckets, "rate({}[<<.Window>>])"))
    scale = "" if unit_s == 1.0 else f" * {unit_s!r}"
    return builder.rule(
        name,
        f"histogram_quantile({quantile!r}, sum by (le) ({pooled})){scale}",
        f"histogram_quantile({quantile!r}, sum by (pod, le) ({pooled})){scale}",
        f"{what} in seconds, the {quantile:g} quantile of the workload's pooled histogram; 0 with no requests.",
        on_nan="zero",
    )


def _sum_rule(builder: RuleBuilder, name: str, vector: str, description: str) -> MetricRule:
    selected = builder.select(vector)
    return builder.rule(name, f"sum({selected})", f"sum by (pod) ({selected})", description)


def llm_rules(builder: RuleBuilder, series: LlmSeries, *, quantile: float) -> list[MetricRule]:
    """The LLM signals ``series`` can give, as rules in ``builder``'s selection mode."""
    built: list[MetricRule] = []
    if series.kv_cache_usage or series.kv_cache_blocks:
        fill = series.kv_cache_blocks.vector() if series.kv_cache_blocks else _any_of(series.kv_cache_usage, "{}")
        cache = builder.select(fill)
        built.append(
            builder.rule(
                "kv_cache_utilization",
                f"avg({cache})",
                f"avg by (pod) ({cache})",
                "KV-cache fill, 0 to 1: mean over the workload's pods.",
            )
        )
    if series.ttft_bucket:
        built.append(
            _quantile_rule(builder, "ttft_p99_seconds", series.ttft_bucket, quantile, "Time to first token", series.ttft_unit_s)
        )
    if series.itl_bucket:
        built.append(_quantile_rule(builder, "itl_p99_seconds", series.itl_bucket, quantile, "Inter-token latency"))
    for name, counter, what in (
        ("prompt_tokens_per_second", series.prompt_tokens, "Prompt (prefill) tokens"),
        ("generation_tokens_per_second", series.generation_tokens, "Generated (decode) tokens"),
    ):
        if counter is not None:
            rate = f"rate({_vector(counter)}[<<.Window>>])"
            built.append(_sum_rule(builder, name, rate, f"Demand in tokens: {what.lower()} per second, summed over pods."))
    if series.running is not None:
        running = _vector(series.running)
        built.append(_sum_rule(builder, "requests_running", running, "Requests being served, summed over pods."))
    return built
