"""Rule templates: PromQL with placeholders, filled with a request's namespace and selectors.

Placeholders (prometheus-adapter style):

``<<.LabelMatchers>>``
    ``namespace="<ns>"``, the metric selector, and — for ``workload_selector: series`` rules —
    the HPA's selector, as matchers on the series' own labels.
``<<.PodLabelMatchers>>``
    ``namespace="<ns>"`` and the HPA's selector as kube-state-metrics ``label_<key>`` matchers, for a
    join on ``kube_pod_labels``.
``<<.MetricLabelMatchers>>``
    the metric selector alone (may be empty), for series whose namespace label needs fixing first.
``<<.Window>>``
    the rule's window as a PromQL duration.

Every rule must use the placeholder that carries its workload selector, and both carry the
namespace matcher, so a rendered query is always confined to the request's namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.kubernetes.selectors import (
    LabelSelector,
    kube_state_metrics_label,
    parse_selector,
    promql_matchers,
    promql_string,
)
from adapter.settings.config import MetricRule
from adapter.settings.durations import format_duration
from adapter.settings.templates import PLACEHOLDER

EMPTY_SELECTOR = parse_selector("")


@dataclass(frozen=True)
class QueryScope:
    """What one request asks about: a namespace, the workload's selector and a metric selector."""

    namespace: str
    selector: LabelSelector = EMPTY_SELECTOR
    metric_selector: LabelSelector = EMPTY_SELECTOR


def render(template: str, rule: MetricRule, scope: QueryScope) -> str:
    """The PromQL for ``scope``; every selector value is escaped, so none can change the query."""
    namespace = f"namespace={promql_string(scope.namespace)}"
    metric_matchers = promql_matchers(scope.metric_selector)
    series_matchers = [namespace]
    if rule.workload_selector == "series":
        series_matchers += promql_matchers(scope.selector)
    series_matchers += metric_matchers
    values = {
        "LabelMatchers": ",".join(series_matchers),
        "PodLabelMatchers": ",".join(
            [namespace, *promql_matchers(scope.selector, label_name=kube_state_metrics_label)]
        ),
        "MetricLabelMatchers": ",".join(metric_matchers),
        "Window": format_duration(rule.window),
    }
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
