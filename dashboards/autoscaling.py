"""GPU inference autoscaling: one workload's demand and the forecast served for it, its signals
against the HPA's targets and the alerts' thresholds, its LLM serving signals (KV cache, time to
first token, inter-token latency, token demand), and the HPA's replicas."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import common

from .grafana import (
    FORECAST,
    WORKLOAD,
    Row,
    base,
    datasource_variable,
    graph,
    hpa_variable,
    layout,
    query,
    single,
    workload_variables,
)

UID = "foresight-gpu-inference-autoscaling"
HPA = 'namespace="$namespace", horizontalpodautoscaler="$hpa"'
DEMAND = f'metric="requests_per_second", {FORECAST}'


def _lead_variable() -> dashboard.CustomVariable:
    """How far ahead the workload is forecast (its pod start-up): forecasts drawn this much later
    line up with the demand they were for. Grafana starts on the first value, the adapter's default."""
    return dashboard.CustomVariable("lead").label("Forecast lead").values("3m,1m,2m,5m,10m")


def _demand() -> Row:
    forecast = graph(
        "Requests per second and the forecast for them",
        description=(
            "Demand, and the forecast the adapter served one lead earlier for the window starting now: the "
            "band runs from its mean to the bound the HPA reads. Demand above the band is traffic the model "
            "did not expect: check the forecast error, and keep the current signal in the HPA beside the forecast."
        ),
        unit="reqps",
        queries=[
            query(f"namespace_workload:requests:rate1m{{{WORKLOAD}}}", "requests/s"),
            query(f'max(foresight_forecast{{{DEMAND}, bound="upper"}} offset $lead)', "forecast bound"),
            query(f'max(foresight_forecast{{{DEMAND}, bound="mean"}} offset $lead)', "forecast mean"),
        ],
        band=("forecast bound", "forecast mean"),
    )
    served = single(
        "Forecast served now",
        description=(
            "The bound the HPA reads now for the window from one lead ahead: the demand to have replicas ready "
            "for. Far above the demand beside it means the HPA holds more replicas than the traffic needs."
        ),
        unit="reqps",
        queries=[query(f'max(foresight_forecast{{{DEMAND}, bound="upper"}})', "bound", instant=True)],
    )
    age = single(
        "Forecast age",
        description=(
            "Time since the forecast was last made. Past three steps (red) the HPA reads an old forecast: "
            "see ForesightForecastStale in manifests/rules/RUNBOOK.md."
        ),
        unit="s",
        queries=[query(f"max(foresight_forecast_age_seconds{{{DEMAND}}})", "age", instant=True)],
        red_from=180,
    )
    model = single(
        "Serving model and state",
        description=(
            "The model serving the forecast and its state: warming (too little history yet), ready, or "
            "fallback (the seasonal-naive baseline replaced a forecast that was unusable; see ForesightForecastFallback)."
        ),
        unit="none",
        queries=[query(f"max by (model, state) (foresight_forecast_info{{{DEMAND}}})", "{{model}} ({{state}})", instant=True)],
        text_mode=common.BigValueTextMode.NAME,
    )
    error = graph(
        "Recent forecast error",
        description=(
            "Mean absolute error of the recent forecasts against what happened, in requests per second, beside "
            "the error the model had in the backtest that selected it. Recent error that stays well above the "
            "backtest's means demand changed shape; see ForesightForecastErrorHigh."
        ),
        unit="reqps",
        queries=[
            query(f"max(foresight_forecast_recent_mae{{{DEMAND}}})", "recent"),
            query(f"max(foresight_forecast_backtest_mae{{{DEMAND}}})", "selection backtest"),
        ],
    )
    return Row("Demand and forecast", [(served, 6, 4), (age, 6, 4), (model, 12, 4), (forecast, 16, 9), (error, 8, 9)])


def _signals() -> Row:
    gpu = graph(
        "GPU utilisation",
        description=(
            "Mean utilisation of the workload's GPUs, against the HPA's target for gpu_utilization where it has "
            "one; the red line is the alert threshold (90 %). Above the target for long: the HPA is at its "
            "maximum or new pods are pending."
        ),
        unit="percent",
        queries=[
            query(f"namespace_workload:gpu_utilization_percent:avg{{{WORKLOAD}}}", "utilisation"),
            query(f'max(kube_horizontalpodautoscaler_spec_target_metric{{{HPA}, metric_name="gpu_utilization"}})', "HPA target"),
        ],
        line_at=90,
    )
    latency = graph(
        "p99 latency",
        description=(
            "p99 request latency over the workload's pooled histogram; the red line is the SLO (200 ms by "
            "default). Over it with a long queue: too few replicas; with idle GPUs: a slow or stuck pod."
        ),
        unit="s",
        queries=[query(f"namespace_workload:request_latency_seconds:p99_rate1m{{{WORKLOAD}}}", "p99")],
        line_at=0.2,
    )
    queue = graph(
        "Queue depth",
        description=(
            "Requests waiting, summed over the workload's pods. A queue that keeps growing means demand above "
            "what the replicas serve: check the HPA's desired replicas and pending pods."
        ),
        unit="short",
        queries=[query(f"namespace_workload:requests_waiting:sum{{{WORKLOAD}}}", "waiting")],
    )
    energy = graph(
        "Energy per request",
        description=(
            "GPU watts of the workload over its request rate; the red line is the budget (300 J). High at low "
            "load means GPUs held for few requests: check minReplicas and the scale-down window."
        ),
        unit="joule",
        queries=[query(f"namespace_workload:energy_per_request_joules:ratio_rate1m{{{WORKLOAD}}}", "J/request")],
        line_at=300,
    )
    carbon = graph(
        "Carbon per request",
        description=(
            "Energy per request at the grid's carbon intensity (foresight:grid_carbon_intensity:grams_per_kwh), "
            "in mg CO2e; the red line is the budget (800 mg). Follows energy per request: check that first."
        ),
        unit="massmg",
        queries=[query(f"namespace_workload:carbon_per_request_milligrams:ratio_rate1m{{{WORKLOAD}}}", "mg CO2e/request")],
        line_at=800,
    )
    return Row("Signals", [(gpu, 12, 8), (latency, 12, 8), (queue, 8, 8), (energy, 8, 8), (carbon, 8, 8)])


def _llm_serving() -> Row:
    cache = graph(
        "KV cache",
        description=(
            "Mean share of the KV cache in use over the workload's pods (vLLM, SGLang); the red line is the alert "
            "threshold (95 %). Near full, new prompts wait for blocks and time to first token climbs: scale on "
            "kv_cache_utilization or token demand; see ForesightKVCacheFull."
        ),
        unit="percentunit",
        queries=[query(f"namespace_workload:kv_cache_utilization:avg{{{WORKLOAD}}}", "in use")],
        line_at=0.95,
    )
    first_token = graph(
        "Time to first token p99",
        description=(
            "p99 time to first token over the workload's pooled histogram: prefill and queueing. Rising with a "
            "full KV cache: too few replicas (or prefill workers); rising alone: longer prompts, see prompt tokens."
        ),
        unit="s",
        queries=[query(f"namespace_workload:time_to_first_token_seconds:p99_rate1m{{{WORKLOAD}}}", "p99")],
    )
    inter_token = graph(
        "Inter-token latency p99",
        description=(
            "p99 time between generated tokens over the workload's pooled histogram: decode speed. Rising with "
            "running requests: batches too large for the GPUs (decode workers) at this demand."
        ),
        unit="s",
        queries=[query(f"namespace_workload:inter_token_latency_seconds:p99_rate1m{{{WORKLOAD}}}", "p99")],
    )
    tokens = graph(
        "Token demand",
        description=(
            "Prompt and generated tokens per second over the workload's pods: demand in the units a GPU spends. "
            "Prompt tokens load prefill, generated tokens load decode; scale each pool on its own."
        ),
        unit="short",
        queries=[
            query(f"namespace_workload:prompt_tokens:rate1m{{{WORKLOAD}}}", "prompt tokens/s"),
            query(f"namespace_workload:generation_tokens:rate1m{{{WORKLOAD}}}", "generated tokens/s"),
        ],
    )
    return Row("LLM serving", [(cache, 6, 8), (first_token, 6, 8), (inter_token, 6, 8), (tokens, 6, 8)])


def _replicas() -> Row:
    replicas = graph(
        "HPA replicas",
        description=(
            "The HPA's current and desired replicas between its minimum and maximum (kube-state-metrics). "
            "Desired above current: pods are starting or pending. Desired at the maximum: raise it or the GPU quota."
        ),
        unit="short",
        queries=[
            query(f"max(kube_horizontalpodautoscaler_status_current_replicas{{{HPA}}})", "current"),
            query(f"max(kube_horizontalpodautoscaler_status_desired_replicas{{{HPA}}})", "desired"),
            query(f"max(kube_horizontalpodautoscaler_spec_min_replicas{{{HPA}}})", "min"),
            query(f"max(kube_horizontalpodautoscaler_spec_max_replicas{{{HPA}}})", "max"),
        ],
    )
    return Row("Replicas", [(replicas, 24, 8)])


def build() -> dashboard.Dashboard:
    board = base(
        UID,
        "Foresight / GPU inference autoscaling",
        "One workload: demand and its served forecast, GPU utilisation, p99 latency, queue, energy and carbon per request, "
        "KV cache, time to first token, inter-token latency and token demand, and its HPA.",
    )
    for variable in [datasource_variable(), *workload_variables(), hpa_variable(), _lead_variable()]:
        board.with_variable(variable)
    return layout(board, [_demand(), _signals(), _llm_serving(), _replicas()])
