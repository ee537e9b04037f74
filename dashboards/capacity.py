"""Capacity: one workload's expected peaks over the next day and week, the replicas and GPUs they
need at the HPA's target, and the energy and carbon of a day and a week.

The adapter publishes forecasts only for the window after its lead, so this dashboard projects from
the workload's own past: the next day's peak is the last day's, the next week's the last week's
(the seasonal-naive baseline every model of ``foresight report`` must beat, which prints the
models' own forecasts)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from .grafana import (
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

UID = "foresight-capacity"
TARGET = (
    'max(kube_horizontalpodautoscaler_spec_target_metric{namespace="$namespace", horizontalpodautoscaler="$hpa", '
    'metric_name=~"requests_per_second(_forecast|_planned)?", metric_target_type="average"})'
)
"""The HPA's requests per second per replica: the capacity of one replica."""
GPUS_PER_REPLICA = (
    'avg(sum by (pod) (kube_pod_container_resource_requests{namespace="$namespace", resource="nvidia_com_gpu"} '
    '* on (namespace, pod) group_left () namespace_pod:kube_pod_workload:max{workload="$workload"}))'
)
PERIODS = (("day", "1d", 24), ("week", "7d", 168))


def _peak(window: str) -> str:
    return f"max_over_time(namespace_workload:requests:rate1m{{{WORKLOAD}}}[{window}])"


def _kwh(window: str, hours: int) -> str:
    return f"avg_over_time(namespace_workload:gpu_power_watts:sum{{{WORKLOAD}}}[{window}]) * {hours} / 1000"


def _peaks() -> Row:
    panels = []
    for name, window, _ in PERIODS:
        panels += [
            (
                single(
                    f"Peak demand, next {name}",
                    description=(
                        f"The highest request rate of the last {name}, expected again over the next. A peak far above "
                        "the usual: check the trend below before planning on it."
                    ),
                    unit="reqps",
                    queries=[query(_peak(window), "peak", instant=True)],
                ),
                8,
                4,
            ),
            (
                single(
                    f"Replicas at the {name}'s peak",
                    description=(
                        f"The {name}'s peak over the HPA's requests per second per replica, rounded up. Above the HPA's "
                        "maxReplicas: the peak will queue; raise it or the target."
                    ),
                    unit="short",
                    queries=[query(f"ceil({_peak(window)} / scalar({TARGET}))", "replicas", instant=True)],
                ),
                8,
                4,
            ),
            (
                single(
                    f"GPUs at the {name}'s peak",
                    description=(
                        f"Replicas at the {name}'s peak times the GPUs each pod requests (nvidia.com/gpu). More than "
                        "the GPU nodes hold: new pods would stay pending."
                    ),
                    unit="short",
                    queries=[
                        query(f"ceil({_peak(window)} / scalar({TARGET})) * scalar({GPUS_PER_REPLICA})", "GPUs", instant=True)
                    ],
                ),
                8,
                4,
            ),
        ]
    return Row("Peaks", panels)


def _energy() -> Row:
    panels = []
    for name, window, hours in PERIODS:
        panels += [
            (
                single(
                    f"Energy, next {name}",
                    description=(
                        f"The workload's GPU energy over a {name} at the last {name}'s mean power, in kWh. "
                        "Higher than its demand explains: GPUs held idle (minReplicas, scale-down window)."
                    ),
                    unit="kwatth",
                    queries=[query(_kwh(window, hours), "kWh", instant=True)],
                ),
                6,
                4,
            ),
            (
                single(
                    f"Carbon, next {name}",
                    description=(
                        "That energy at the grid intensity of foresight:grid_carbon_intensity:grams_per_kwh, in kg "
                        "CO2e. Set the intensity to your grid's for a true figure."
                    ),
                    unit="masskg",
                    queries=[
                        query(
                            f"{_kwh(window, hours)} * on () group_left () foresight:grid_carbon_intensity:grams_per_kwh / 1000",
                            "kg CO2e",
                            instant=True,
                        )
                    ],
                ),
                6,
                4,
            ),
        ]
    return Row("Energy and carbon", panels)


def _trend() -> Row:
    trend = graph(
        "Daily peak demand",
        description=(
            "Each day's highest request rate, and the HPA's capacity per replica times its maxReplicas: the most "
            "it can serve. Peaks closing in on that line need a higher maximum before they reach it."
        ),
        unit="reqps",
        queries=[
            query(_peak("1d"), "daily peak"),
            query(
                f'{TARGET} * scalar(max(kube_horizontalpodautoscaler_spec_max_replicas{{namespace="$namespace", horizontalpodautoscaler="$hpa"}}))',
                "HPA's most",
            ),
        ],
    )
    return Row("Trend", [(trend, 24, 8)])


def build() -> dashboard.Dashboard:
    board = base(
        UID,
        "Foresight / Capacity",
        "One workload's expected peaks over the next day and week, the replicas and GPUs they need, and their energy and carbon.",
    ).time("now-30d", "now")
    for variable in [datasource_variable(), *workload_variables(), hpa_variable()]:
        board.with_variable(variable)
    return layout(board, [_peaks(), _energy(), _trend()])
