"""What every Foresight dashboard shares: the ``${datasource}`` variable every query goes through,
the namespace and workload variables, panels that cannot be built without a unit and a
description, and a layout that gives each panel its id and place."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DynamicConfigValue,
    GridPos,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
WORKLOAD = 'namespace="$namespace", workload="$workload"'
"""Matchers of the recorded per-workload series (manifests/rules/workload.rules.yaml)."""
FORECAST = 'namespace="$namespace", selector=~"(.+,)?app=$workload(,.+)?"'
"""Matchers of the adapter's forecast series for the workload: its HPAs select ``app=<workload>``."""
GRID_WIDTH = 24

Panel = timeseries.Panel | stat.Panel


def query(expr: str, legend: str, *, instant: bool = False) -> prometheus.Dataquery:
    """A PromQL target on the dashboard's data source; ``legend`` names the series it draws."""
    target = prometheus.Dataquery().expr(expr).legend_format(legend).datasource(DATASOURCE)
    return target.instant() if instant else target.range()


def _targets(panel: Panel, queries: Sequence[prometheus.Dataquery]) -> None:
    for ref, target in zip("ABCDEFGH", queries, strict=False):
        panel.with_target(target.ref_id(ref))


def _thresholds(red_from: float | None) -> dashboard.ThresholdsConfig:
    steps = [Threshold(value=None, color="green")]
    if red_from is not None:
        steps.append(Threshold(value=red_from, color="red"))
    return dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def graph(
    title: str,
    *,
    description: str,
    unit: str,
    queries: Sequence[prometheus.Dataquery],
    line_at: float | None = None,
    band: tuple[str, str] | None = None,
    min_value: float | None = 0,
) -> timeseries.Panel:
    """A time series panel; ``line_at`` draws a red threshold line there (an SLO, a budget), and
    ``band`` fills from the series named first down to the one named second."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .thresholds(_thresholds(line_at))
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common.GraphThresholdsStyleMode.DASHED if line_at is not None else common.GraphThresholdsStyleMode.OFF
            )
        )
    )
    if min_value is not None:
        panel.min(min_value)
    if band is not None:
        upper, lower = band
        panel.override_by_name(
            upper, [DynamicConfigValue(id_val="custom.fillBelowTo", value=lower), DynamicConfigValue(id_val="custom.fillOpacity", value=20)]
        )
    _targets(panel, queries)
    return panel


def single(
    title: str,
    *,
    description: str,
    unit: str,
    queries: Sequence[prometheus.Dataquery],
    red_from: float | None = None,
    text_mode: common.BigValueTextMode = common.BigValueTextMode.AUTO,
) -> stat.Panel:
    """A stat panel of the latest value; ``red_from`` turns it red from that value on."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .thresholds(_thresholds(red_from))
        .text_mode(text_mode)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    _targets(panel, queries)
    return panel


def datasource_variable() -> dashboard.DatasourceVariable:
    return dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")


def query_variable(name: str, label: str, definition: str) -> dashboard.QueryVariable:
    """A variable whose values are those of ``label_values(...)`` in ``definition``."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(definition)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def workload_variables() -> list[dashboard.QueryVariable]:
    """Namespace, then workload: the ``app`` pod label, as kube-state-metrics exports it and the
    adapter's selectors and recording rules read it."""
    return [
        query_variable("namespace", "Namespace", "label_values(kube_pod_labels, namespace)"),
        query_variable("workload", "Workload (app)", 'label_values(kube_pod_labels{namespace="$namespace"}, label_app)'),
    ]


def hpa_variable() -> dashboard.QueryVariable:
    return query_variable(
        "hpa", "HPA", 'label_values(kube_horizontalpodautoscaler_info{namespace="$namespace"}, horizontalpodautoscaler)'
    )


@dataclass(frozen=True)
class Row:
    """A titled row of panels, each with its width (of 24) and height, laid out left to right."""

    title: str
    panels: Sequence[tuple[Panel, int, int]]


def layout(board: dashboard.Dashboard, rows: Sequence[Row]) -> dashboard.Dashboard:
    """Adds ``rows`` to ``board`` with ids from 1 and explicit grid positions, wrapping a panel
    that would pass the grid's right edge onto a new line."""
    ids = iter(range(1, 1000))
    y = 0
    for row in rows:
        board.with_row(dashboard.Row(row.title).id(next(ids)).grid_pos(GridPos(x=0, y=y, w=GRID_WIDTH, h=1)))
        y += 1
        x, line_height = 0, 0
        for panel, width, height in row.panels:
            if x + width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            board.with_panel(panel.id(next(ids)).grid_pos(GridPos(x=x, y=y, w=width, h=height)))
            x += width
            line_height = max(line_height, height)
        y += line_height
    return board


def base(uid: str, title: str, description: str) -> dashboard.Dashboard:
    """A dashboard with Foresight's tags, time range and refresh."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["foresight", "gpu-inference", "autoscaling"])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .editable()
    )


def to_json(board: dashboard.Dashboard) -> str:
    """The dashboard as importable JSON, keys sorted so that regenerating gives the same bytes."""
    return json.dumps(board.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
