"""The Kubernetes wire format: discovery documents, metric value lists and ``Status``.

Shapes follow k8s.io/metrics (external.metrics.k8s.io/v1beta1, custom.metrics.k8s.io/v1beta2)
and k8s.io/apimachinery's meta/v1 discovery types field for field. Pure: no server imports.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Literal, NotRequired, TypedDict

from adapter.kubernetes.errors import AdapterError
from adapter.kubernetes.selectors import LabelSelector
from forecasting import format_quantity

EXTERNAL_GROUP = "external.metrics.k8s.io"
EXTERNAL_VERSION = "v1beta1"
CUSTOM_GROUP = "custom.metrics.k8s.io"
CUSTOM_VERSION = "v1beta2"
GROUP_VERSIONS = {EXTERNAL_GROUP: EXTERNAL_VERSION, CUSTOM_GROUP: CUSTOM_VERSION}


class GroupVersionForDiscovery(TypedDict):
    groupVersion: str
    version: str


class APIGroup(TypedDict):
    kind: Literal["APIGroup"]
    apiVersion: Literal["v1"]
    name: str
    versions: list[GroupVersionForDiscovery]
    preferredVersion: GroupVersionForDiscovery


class APIGroupList(TypedDict):
    kind: Literal["APIGroupList"]
    apiVersion: Literal["v1"]
    groups: list[APIGroup]


class APIResource(TypedDict):
    name: str
    singularName: str
    namespaced: bool
    kind: str
    verbs: list[str]


class APIResourceList(TypedDict):
    kind: Literal["APIResourceList"]
    apiVersion: Literal["v1"]
    groupVersion: str
    resources: list[APIResource]


class ExternalMetricValue(TypedDict):
    metricName: str
    metricLabels: dict[str, str] | None
    timestamp: str
    window: int
    value: str


class ExternalMetricValueList(TypedDict):
    kind: Literal["ExternalMetricValueList"]
    apiVersion: str
    metadata: dict[str, str]
    items: list[ExternalMetricValue]


class ObjectReference(TypedDict):
    kind: str
    namespace: str
    name: str
    apiVersion: str


class LabelSelectorRequirement(TypedDict):
    key: str
    operator: str
    values: NotRequired[list[str]]


class WireLabelSelector(TypedDict, total=False):
    matchLabels: dict[str, str]
    matchExpressions: list[LabelSelectorRequirement]


class MetricIdentifier(TypedDict):
    name: str
    selector: WireLabelSelector | None


class MetricValue(TypedDict):
    describedObject: ObjectReference
    metric: MetricIdentifier
    timestamp: str
    windowSeconds: int
    value: str


class MetricValueList(TypedDict):
    kind: Literal["MetricValueList"]
    apiVersion: str
    metadata: dict[str, str]
    items: list[MetricValue]


class Status(TypedDict):
    kind: Literal["Status"]
    apiVersion: Literal["v1"]
    metadata: dict[str, str]
    status: Literal["Failure"]
    message: str
    reason: str
    code: int


def rfc3339(unix_seconds: float) -> str:
    """RFC 3339 in UTC at second precision, as metav1.Time marshals."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(unix_seconds)))


def _group_version(group: str) -> GroupVersionForDiscovery:
    return {"groupVersion": f"{group}/{GROUP_VERSIONS[group]}", "version": GROUP_VERSIONS[group]}


def api_group(group: str) -> APIGroup:
    version = _group_version(group)
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [version], "preferredVersion": version}


def api_group_list() -> APIGroupList:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group(group) for group in GROUP_VERSIONS]}


def external_resources(metric_names: Iterable[str]) -> APIResourceList:
    """Discovery of the external metrics API: one namespaced resource per metric."""
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{EXTERNAL_GROUP}/{EXTERNAL_VERSION}",
        "resources": [
            {"name": name, "singularName": "", "namespaced": True, "kind": "ExternalMetricValueList", "verbs": ["get"]}
            for name in metric_names
        ],
    }


def custom_resources(pod_metric_names: Iterable[str]) -> APIResourceList:
    """Discovery of the custom metrics API: ``pods/<metric>`` per metric that has a per-pod rule."""
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{CUSTOM_GROUP}/{CUSTOM_VERSION}",
        "resources": [
            {"name": f"pods/{name}", "singularName": "", "namespaced": True, "kind": "MetricValueList", "verbs": ["get"]}
            for name in pod_metric_names
        ],
    }


def external_value(
    name: str, value: float, *, labels: Mapping[str, str] | None, timestamp: float, window_seconds: float
) -> ExternalMetricValue:
    return {
        "metricName": name,
        "metricLabels": dict(labels) if labels else None,
        "timestamp": rfc3339(timestamp),
        "window": int(window_seconds),
        "value": format_quantity(value),
    }


def external_list(items: list[ExternalMetricValue]) -> ExternalMetricValueList:
    return {
        "kind": "ExternalMetricValueList",
        "apiVersion": f"{EXTERNAL_GROUP}/{EXTERNAL_VERSION}",
        "metadata": {},
        "items": items,
    }


_OPERATORS = {"in": "In", "notin": "NotIn", "exists": "Exists", "!": "DoesNotExist", "!=": "NotIn"}


def wire_selector(selector: LabelSelector) -> WireLabelSelector:
    """A parsed selector as a metav1.LabelSelector (what ``ParseToLabelSelector`` produces)."""
    match_labels: dict[str, str] = {}
    expressions: list[LabelSelectorRequirement] = []
    for requirement in selector.requirements:
        if requirement.operator == "=":
            match_labels[requirement.key] = requirement.values[0]
        elif requirement.operator in ("exists", "!"):
            expressions.append({"key": requirement.key, "operator": _OPERATORS[requirement.operator]})
        else:
            expressions.append(
                {"key": requirement.key, "operator": _OPERATORS[requirement.operator], "values": list(requirement.values)}
            )
    wire: WireLabelSelector = {}
    if match_labels:
        wire["matchLabels"] = match_labels
    if expressions:
        wire["matchExpressions"] = expressions
    return wire


def pod_value(
    name: str,
    value: float,
    *,
    namespace: str,
    pod: str,
    metric_selector: LabelSelector,
    timestamp: float,
    window_seconds: float,
) -> MetricValue:
    # The Go type has no omitempty on selector: it is null when the request gave none.
    metric: MetricIdentifier = {
        "name": name,
        "selector": None if metric_selector.is_empty else wire_selector(metric_selector),
    }
    return {
        "describedObject": {"kind": "Pod", "namespace": namespace, "name": pod, "apiVersion": "v1"},
        "metric": metric,
        "timestamp": rfc3339(timestamp),
        "windowSeconds": int(window_seconds),
        "value": format_quantity(value),
    }


def custom_list(items: list[MetricValue]) -> MetricValueList:
    return {
        "kind": "MetricValueList",
        "apiVersion": f"{CUSTOM_GROUP}/{CUSTOM_VERSION}",
        "metadata": {},
        "items": items,
    }


def status(error: AdapterError) -> Status:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": error.message,
        "reason": error.reason,
        "code": error.code,
    }
