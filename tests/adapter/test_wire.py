"""Wire format against the upstream Go types, field by field.

Expected documents are written from k8s.io/metrics (pkg/apis/external_metrics/v1beta1/types.go,
pkg/apis/custom_metrics/v1beta2/types.go) and k8s.io/apimachinery meta/v1 (APIGroupList,
APIResourceList, Status): JSON names, omitempty rules and nullability.
"""

import json
import math

import pytest

from adapter.kubernetes import wire
from adapter.kubernetes.errors import BadRequest, NotFound, ServiceUnavailable
from adapter.kubernetes.selectors import parse_selector


def test_external_metric_value_list_matches_the_go_type() -> None:
    item = wire.external_value("queue_depth", 7, labels=None, timestamp=1700000000.9, window_seconds=60)
    document = wire.external_list([item])
    assert document == {
        "kind": "ExternalMetricValueList",
        "apiVersion": "external.metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": [
            {
                "metricName": "queue_depth",
                "metricLabels": None,
                "timestamp": "2023-11-14T22:13:20Z",
                "window": 60,
                "value": "7",
            }
        ],
    }
    # metricLabels has no omitempty in the Go type: it is present, and null when unset
    assert '"metricLabels": null' in json.dumps(document)


def test_external_value_keeps_labels_and_formats_quantities() -> None:
    item = wire.external_value("x", 1.5, labels={"a": "b"}, timestamp=0, window_seconds=30)
    assert item["metricLabels"] == {"a": "b"}
    assert item["value"] == "1500m"
    assert item["timestamp"] == "1970-01-01T00:00:00Z"


def test_external_value_refuses_nan() -> None:
    with pytest.raises(ValueError):
        wire.external_value("x", math.nan, labels=None, timestamp=0, window_seconds=60)


def test_pod_metric_value_list_matches_the_go_type() -> None:
    item = wire.pod_value(
        "gpu_utilization", 50, namespace="inference", pod="llama-0",
        metric_selector=parse_selector(""), timestamp=1700000000, window_seconds=60,
    )
    assert wire.custom_list([item]) == {
        "kind": "MetricValueList",
        "apiVersion": "custom.metrics.k8s.io/v1beta2",
        "metadata": {},
        "items": [
            {
                "describedObject": {"kind": "Pod", "namespace": "inference", "name": "llama-0", "apiVersion": "v1"},
                "metric": {"name": "gpu_utilization", "selector": None},
                "timestamp": "2023-11-14T22:13:20Z",
                "windowSeconds": 60,
                "value": "50",
            }
        ],
    }


def test_metric_selector_is_a_structured_label_selector() -> None:
    selector = parse_selector("gpu=a100,tier!=batch,zone in (a,b),canary,!legacy")
    item = wire.pod_value("q", 1, namespace="n", pod="p", metric_selector=selector, timestamp=0, window_seconds=60)
    assert item["metric"]["selector"] == {
        "matchLabels": {"gpu": "a100"},
        "matchExpressions": [
            {"key": "canary", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "tier", "operator": "NotIn", "values": ["batch"]},
            {"key": "zone", "operator": "In", "values": ["a", "b"]},
        ],
    }


def test_discovery_documents() -> None:
    assert wire.api_group_list() == {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": "external.metrics.k8s.io",
                "versions": [{"groupVersion": "external.metrics.k8s.io/v1beta1", "version": "v1beta1"}],
                "preferredVersion": {"groupVersion": "external.metrics.k8s.io/v1beta1", "version": "v1beta1"},
            },
            {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": "custom.metrics.k8s.io",
                "versions": [{"groupVersion": "custom.metrics.k8s.io/v1beta2", "version": "v1beta2"}],
                "preferredVersion": {"groupVersion": "custom.metrics.k8s.io/v1beta2", "version": "v1beta2"},
            },
        ],
    }
    assert wire.external_resources(["queue_depth"]) == {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "external.metrics.k8s.io/v1beta1",
        "resources": [
            {"name": "queue_depth", "singularName": "", "namespaced": True, "kind": "ExternalMetricValueList", "verbs": ["get"]}
        ],
    }
    assert wire.custom_resources(["queue_depth"])["resources"] == [
        {"name": "pods/queue_depth", "singularName": "", "namespaced": True, "kind": "MetricValueList", "verbs": ["get"]}
    ]


@pytest.mark.parametrize(
    ("error", "reason", "code"),
    [(BadRequest("bad"), "BadRequest", 400), (NotFound("nf"), "NotFound", 404), (ServiceUnavailable("down"), "ServiceUnavailable", 503)],
)
def test_status_carries_reason_and_code(error: Exception, reason: str, code: int) -> None:
    assert wire.status(error) == {  # type: ignore[arg-type]
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": str(error), "reason": reason, "code": code,
    }
