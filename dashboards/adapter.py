"""Foresight adapter: the metrics API it serves, its Prometheus queries, the keys and forecasts it
tracks, and the NVML exporter's health. Every series is one the adapter or the exporter exports
about itself (adapter/observability/telemetry.py, adapter/observability/hot_path_stats.py, adapter/serving/forecast_metrics.py,
adapter/nvml/collector.py)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from .grafana import RATE, Row, base, datasource_variable, graph, layout, query

UID = "foresight-adapter"


def _api() -> Row:
    requests = graph(
        "Metrics API requests by metric and code",
        description=(
            "Requests the adapter answered, per metric and HTTP code, and per route for everything else "
            "(discovery, OpenAPI, scrapes, unknown metrics). 5xx on a metric leave the HPAs that read it at their "
            "replica counts: 503 with Prometheus failing or a key cap reached, 500 in the adapter's log."
        ),
        unit="reqps",
        queries=[
            query(
                f'sum by (metric, code) (rate(foresight_http_requests_total{{metric!=""}}[{RATE}]))',
                "{{code}} {{metric}}",
            ),
            query(
                f'sum by (path, code) (rate(foresight_http_requests_total{{metric=""}}[{RATE}]))',
                "{{code}} {{path}}",
            ),
        ],
    )
    latency = graph(
        "Metrics API latency",
        description=(
            "Percentiles of request latency over all routes. Requests read a store the refresher fills, so these "
            "stay in milliseconds; a rise means the event loop is busy (scrapes of many forecasts, a slow client)."
        ),
        unit="s",
        queries=[
            query(
                f"histogram_quantile({quantile}, sum by (le) (rate(foresight_http_request_duration_seconds_bucket[{RATE}])))",
                f"p{round(quantile * 100)}",
            )
            for quantile in (0.5, 0.9, 0.99)
        ],
    )
    lookups = graph(
        "Store lookups",
        description=(
            "Metric reads by outcome: hit (fresh), miss (a new key, answered live) and stale (older than the "
            "staleness bound). Stale reads mean the refresher falls behind or Prometheus fails."
        ),
        unit="ops",
        queries=[query(f"sum by (result) (rate(foresight_cache_lookups_total[{RATE}]))", "{{result}}")],
    )
    return Row("Metrics API", [(requests, 12, 8), (latency, 12, 8), (lookups, 24, 7)])


def _prometheus() -> Row:
    queries = graph(
        "Prometheus queries",
        description=(
            "Queries the adapter sends, instant (refreshes) and range (forecast history). They grow with the "
            "tracked keys, never with the request rate; a jump means new keys or a shorter refresh interval."
        ),
        unit="reqps",
        queries=[query(f"sum by (kind) (rate(foresight_source_queries_total[{RATE}]))", "{{kind}}")],
    )
    errors = graph(
        "Prometheus query errors",
        description=(
            "Queries that failed. Any steady rate: check Prometheus and the adapter's log (timeouts, TLS, "
            "authentication); see ForesightPrometheusQueriesFailing in manifests/rules/RUNBOOK.md."
        ),
        unit="reqps",
        queries=[query(f"sum by (kind) (rate(foresight_source_query_errors_total[{RATE}]))", "{{kind}}")],
    )
    latency = graph(
        "Prometheus query latency",
        description="p50 and p99 of query latency by kind. A rise precedes timeouts: look at Prometheus's load.",
        unit="s",
        queries=[
            query(
                f"histogram_quantile({quantile}, sum by (kind, le) (rate(foresight_source_query_duration_seconds_bucket[{RATE}])))",
                f"p{round(quantile * 100)} {{{{kind}}}}",
            )
            for quantile in (0.5, 0.99)
        ],
    )
    return Row("Prometheus", [(queries, 8, 8), (errors, 8, 8), (latency, 8, 8)])


def _keys() -> Row:
    tracked = graph(
        "Tracked and rejected keys",
        description=(
            "(metric, namespace, selector) keys kept fresh, and new keys refused at a cap by scope. Refusals "
            "mean HPAs get 429/503: raise the caps in the config or have HPAs share selectors."
        ),
        unit="short",
        queries=[
            query("sum(foresight_tracked_keys)", "tracked"),
            query(f"sum by (scope) (rate(foresight_rejected_keys_total[{RATE}]))", "rejected/s ({{scope}})"),
        ],
    )
    non_finite = graph(
        "Non-finite results",
        description=(
            "NaN, Inf or empty query results by metric and the policy applied (zero, error). A steady rate for a "
            "metric nobody expects to be idle: its rule selects no series, check it with foresight check-config."
        ),
        unit="ops",
        queries=[
            query(f"sum by (metric, kind, policy) (rate(foresight_non_finite_results_total[{RATE}]))", "{{metric}} {{kind}} ({{policy}})")
        ],
    )
    return Row("Keys", [(tracked, 12, 8), (non_finite, 12, 8)])


def _forecasts() -> Row:
    series = graph(
        "Forecast series and refits",
        description=(
            "Series with a tracked forecast, and model refits per second. Refits run on a wall-clock schedule; "
            "none for long while series are tracked means the forecast workers are stuck: see the adapter's log."
        ),
        unit="short",
        queries=[
            query("sum(foresight_forecast_tracked_series)", "tracked series"),
            query(f"sum(rate(foresight_forecast_refits_total[{RATE}]))", "refits/s"),
        ],
    )
    fallbacks = graph(
        "Forecast fallbacks by reason",
        description=(
            "Forecasts replaced by the seasonal-naive baseline, by reason. A steady rate: look at the series in "
            "fallback on the autoscaling dashboard; see ForesightForecastFallback in the runbook."
        ),
        unit="ops",
        queries=[query(f"sum by (reason) (rate(foresight_forecast_fallbacks_total[{RATE}]))", "{{reason}}")],
    )
    age = graph(
        "Forecast age",
        description=(
            "Age of each series' latest forecast; the red line is three one-minute steps. Ages climbing past it: "
            "forecasts stopped stepping (Prometheus failing or workers stuck); see ForesightForecastStale."
        ),
        unit="s",
        queries=[
            query("max by (metric, namespace, selector) (foresight_forecast_age_seconds)", "{{metric}} {{namespace}}/{{selector}}")
        ],
        line_at=180,
    )
    return Row("Forecasts", [(series, 8, 8), (fallbacks, 8, 8), (age, 8, 8)])


def _nvml() -> Row:
    devices = graph(
        "NVML exporter: GPUs read",
        description=(
            "1 for each GPU the exporter's last sweep read, 0 for one it skipped (lost, unreadable). A 0 that "
            "stays: check the node (nvidia-smi, Xid errors in the kernel log); see ForesightNVMLDeviceLost."
        ),
        unit="bool",
        queries=[query("min by (instance, gpu) (foresight_nvml_device_ok)", "{{instance}} GPU {{gpu}}")],
    )
    unattributed = graph(
        "NVML exporter: processes without a pod",
        description=(
            "GPU processes the exporter could not place in a pod. Their GPUs' use is missing from workloads: the "
            "exporter needs the host PID namespace and /var/log/containers (nvml-exporter/daemonset.yaml)."
        ),
        unit="short",
        queries=[query("sum by (instance) (foresight_nvml_unattributed_processes)", "{{instance}}")],
    )
    age = graph(
        "NVML exporter: sample age",
        description=(
            "Age of the sweep each scrape served. Growing ages mean the sampler stalls (a hung NVML call): "
            "restart the exporter's pod on that node."
        ),
        unit="s",
        queries=[query("max by (instance) (foresight_nvml_sample_age_seconds)", "{{instance}}")],
    )
    return Row("NVML exporter", [(devices, 8, 8), (unattributed, 8, 8), (age, 8, 8)])


def build() -> dashboard.Dashboard:
    board = base(
        UID,
        "Foresight / Adapter",
        "The adapter's health: metrics API, Prometheus queries, tracked keys, forecasts; and the NVML exporter's.",
    )
    board.with_variable(datasource_variable())
    return layout(board, [_api(), _prometheus(), _keys(), _forecasts(), _nvml()])
