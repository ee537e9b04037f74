"""Reading an ``autoscaling/v2`` HPA manifest: targets as milli-units, behavior left unset where
the manifest is silent, and errors that name the field."""

from __future__ import annotations

from pathlib import Path
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

EXAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "examples"
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


def refusal(edit: Any) -> str:
    """What reading the example manifest changed by ``edit`` is refused with."""
    document = manifest()
    edit(document)
    with pytest.raises(ManifestError) as error:
        hpa_from_manifest(document, source="hpa.yaml")
    return str(error.value)


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
    assert refusal(edit).startswith(f"hpa.yaml: {field}")


def _scale_down(document: dict[str, Any]) -> dict[str, Any]:
    rules = document["spec"]["behavior"]["scaleDown"]
    assert isinstance(rules, dict)
    return rules


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: d["spec"]["metrics"][0].update(type="Object"),
         "spec.metrics[0].type: Input should be 'External', 'Pods' or 'Resource'"),
        (lambda d: d["spec"]["metrics"][0].update(pods=d["spec"]["metrics"][1]["pods"]),
         "spec.metrics[0].pods: must be unset: the metric's type is External"),
        (lambda d: d["spec"]["metrics"][2].pop("resource"), "spec.metrics[2].resource: required"),
        (lambda d: d["spec"]["metrics"][0]["external"]["target"].update(value="2"),
         "spec.metrics[0].external.target.value: must be unset: the target's type is AverageValue"),
        (lambda d: d["spec"]["metrics"][0]["external"]["target"].update(averageValue=0),
         "spec.metrics[0].external.target.averageValue: must be positive"),
        (lambda d: d["spec"]["metrics"][2]["resource"]["target"].update(averageUtilization=0),
         "spec.metrics[2].resource.target.averageUtilization: must be positive"),
        (lambda d: d["spec"]["metrics"][0]["external"]["metric"].update(name=""),
         "spec.metrics[0].external.metric.name: String should have at least 1 character"),
        (lambda d: d["spec"].update(metrics=[]), "spec.metrics: required: the API's default"),
        (lambda d: d["spec"].update(minReplicas=5, maxReplicas=3), "spec.maxReplicas: must be at least minReplicas (5)"),
        (lambda d: d["spec"].update(maxReplicas="30"), "spec.maxReplicas: Input should be a valid integer"),
        (lambda d: d["spec"].update(minReplicas=0, metrics=d["spec"]["metrics"][1:]),
         "spec.metrics: minReplicas 0 needs at least one External metric"),
        (lambda d: _scale_down(d).update(stabilizationWindowSeconds=-1),
         "spec.behavior.scaleDown.stabilizationWindowSeconds: Input should be greater than or equal to 0"),
        (lambda d: _scale_down(d).update(stabilizationWindowSeconds=3601),
         "spec.behavior.scaleDown.stabilizationWindowSeconds: Input should be less than or equal to 3600"),
        (lambda d: _scale_down(d).update(selectPolicy="Most"),
         "spec.behavior.scaleDown.selectPolicy: Input should be 'Max', 'Min' or 'Disabled'"),
        (lambda d: _scale_down(d).update(policies=[]), "spec.behavior.scaleDown.policies: List should have at least 1"),
        (lambda d: _scale_down(d)["policies"][0].update(value=0),
         "spec.behavior.scaleDown.policies[0].value: Input should be greater than 0"),
        (lambda d: _scale_down(d)["policies"][0].update(periodSeconds=1801),
         "spec.behavior.scaleDown.policies[0].periodSeconds: Input should be less than or equal to 1800"),
        (lambda d: _scale_down(d).update(tolerance="-0.1"), "spec.behavior.scaleDown.tolerance: must be a non-negative"),
        (lambda d: _scale_down(d).update(stabilisationWindowSeconds=60),
         "spec.behavior.scaleDown.stabilisationWindowSeconds: unknown field"),
        (lambda d: d.update(spec=[]), "spec: expected a mapping"),
    ],
)
def test_the_apiservers_rules(edit: Any, problem: str) -> None:
    assert refusal(edit).startswith(f"hpa.yaml: {problem}")


def test_every_problem_is_reported_on_a_line_of_its_own() -> None:
    document = manifest()
    document["spec"].pop("maxReplicas")
    document["spec"]["metrics"][1]["pods"]["target"].update(averageValue="lots")
    _scale_down(document)["policies"][0].update(type="Fast")
    with pytest.raises(ManifestError) as error:
        hpa_from_manifest(document, source="hpa.yaml")
    assert [path for path, _ in error.value.problems] == [
        "spec.maxReplicas", "spec.metrics[1].pods.target.averageValue", "spec.behavior.scaleDown.policies[0].type"]
    assert str(error.value).splitlines() == [f"hpa.yaml: {path}: {problem}" for path, problem in error.value.problems]


def test_what_names_the_workload_is_accepted_unread() -> None:
    document = manifest()
    document["status"] = {"currentReplicas": 3, "desiredReplicas": 4}
    document["spec"]["scaleTargetRef"]["name"] = "another"
    assert hpa_from_manifest(document) == hpa_from_manifest(manifest())


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("hpa-*.yaml")), ids=lambda path: path.name)
def test_the_example_hpas_read(path: Path) -> None:
    [document] = [document for document in yaml.safe_load_all(path.read_text()) if document]
    assert hpa_from_manifest(document, source=path.name).metrics
