"""Reading an ``autoscaling/v2`` HPA manifest: targets as milli-units, behavior left unset where
the manifest is silent, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from forecasting.hpa import (
    Behavior,
    MetricSpec,
    MetricTarget,
    ScalingPolicy,
    ScalingRules,
)
from forecasting.hpa.manifest import ManifestError, hpa_from_manifest
from forecasting.quantity import parse_quantity

MANIFEST = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: llama}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: llama}
  minReplicas: 2
  maxReplicas: 30
  metrics:
  - type: External
    external:
      metric: {name: requests_per_second, selector: {matchLabels: {app: llama}}}
      target: {type: AverageValue, averageValue: 800m}
  - type: Pods
    pods:
      metric: {name: queue_depth}
      target: {type: AverageValue, averageValue: "4"}
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 70}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 60
      tolerance: 0.05
      policies: [{type: Percent, value: 10, periodSeconds: 60}]
"""


def manifest() -> dict[str, Any]:
    document = yaml.safe_load(MANIFEST)
    assert isinstance(document, dict)
    return document


def test_reads_bounds_metrics_and_behavior() -> None:
    spec = hpa_from_manifest(manifest())
    assert (spec.min_replicas, spec.max_replicas) == (2, 30)
    assert spec.metrics == (
        MetricSpec("External", "requests_per_second", MetricTarget("AverageValue", 800)),
        MetricSpec("Pods", "queue_depth", MetricTarget("AverageValue", 4000)),
        MetricSpec("Resource", "cpu", MetricTarget("Utilization", 70)),
    )
    assert spec.behavior == Behavior(scale_down=ScalingRules(
        stabilization_window_seconds=60, tolerance=0.05, policies=(ScalingPolicy("Percent", 10, 60),)))


def test_no_behavior_means_the_legacy_rules() -> None:
    document = manifest()
    del document["spec"]["behavior"]
    assert hpa_from_manifest(document).behavior is None


@pytest.mark.parametrize(("text", "milli"), [("800m", 800), (8, 8000), ("1.5k", 1_500_000), ("1Ki", 1_024_000),
                                             (0.25, 250), ("1e3", 1_000_000)])
def test_quantities(text: object, milli: int) -> None:
    assert parse_quantity(text).scaleb(3) == milli


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["spec"].pop("maxReplicas"), "spec.maxReplicas: required"),
        (lambda d: d["spec"]["metrics"][0]["external"]["target"].update(averageValue="lots"),
         "spec.metrics[0].external.target.averageValue:"),
        (lambda d: d["spec"]["metrics"][1]["pods"]["target"].update(type="Value"), "spec.metrics[1].pods.target.type:"),
        (lambda d: d["spec"]["behavior"]["scaleDown"]["policies"][0].update(type="Fast"),
         "spec.behavior.scaleDown.policies[0].type:"),
        (lambda d: d.update(kind="Deployment"), "kind:"),
    ],
)
def test_errors_name_the_field(edit: Any, field: str) -> None:
    document = manifest()
    edit(document)
    with pytest.raises(ManifestError) as error:
        hpa_from_manifest(document, source="hpa.yaml")
    assert str(error.value).startswith(f"hpa.yaml: {field}")
