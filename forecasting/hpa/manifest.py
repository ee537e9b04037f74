"""An ``autoscaling/v2`` HorizontalPodAutoscaler manifest (as loaded from YAML) read into an
:class:`~forecasting.hpa.spec.HpaSpec`.

Only what decides replica counts is read: ``minReplicas``, ``maxReplicas``, ``metrics`` and
``behavior``; ``scaleTargetRef`` and metric selectors name the workload, which a replay already
knows. Every problem raises :class:`ManifestError` naming the field, e.g.
``hpa.yaml: spec.metrics[0].external.target.averageValue: "x" is not a quantity``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import cast

from forecasting.core import InputError
from forecasting.hpa.spec import (
    TARGETS_BY_SOURCE,
    Behavior,
    HpaSpec,
    MetricSpec,
    MetricTarget,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
    SourceType,
    TargetType,
    to_milli,
)
from forecasting.quantity import parse_quantity

_SOURCE_FIELDS: dict[str, SourceType] = {"external": "External", "pods": "Pods", "resource": "Resource"}


class ManifestError(InputError):
    """The manifest is not an HPA this replay can run; the message names the field."""


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> ManifestError:
        return ManifestError(f"{self.source}: {path}: {problem}")

    def mapping(self, value: object, path: str) -> Mapping[str, object]:
        if not isinstance(value, Mapping):
            raise self.fail(path, "expected a mapping")
        return cast(Mapping[str, object], value)

    def integer(self, value: object, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"{value!r} is not an integer")
        return value

    def choice(self, value: object, path: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(path, f"{value!r} is not one of {', '.join(allowed)}")
        return str(value)

    def quantity(self, value: object, path: str) -> Decimal:
        try:
            return parse_quantity(value)
        except ValueError as error:
            raise self.fail(path, str(error)) from None


def hpa_from_manifest(document: object, *, source: str = "hpa") -> HpaSpec:
    """The HPA of ``document``; raises ManifestError naming the first field that is wrong."""
    read = _Reader(source)
    root = read.mapping(document, "(document)")
    if root.get("kind") != "HorizontalPodAutoscaler":
        raise read.fail("kind", f"expected HorizontalPodAutoscaler, not {root.get('kind')!r}")
    if root.get("apiVersion") != "autoscaling/v2":
        raise read.fail("apiVersion", f"expected autoscaling/v2, not {root.get('apiVersion')!r}")
    spec = read.mapping(root.get("spec"), "spec")
    if "maxReplicas" not in spec:
        raise read.fail("spec.maxReplicas", "required")
    max_replicas = read.integer(spec["maxReplicas"], "spec.maxReplicas")
    min_replicas = read.integer(spec.get("minReplicas", 1), "spec.minReplicas")
    raw_metrics = spec.get("metrics")
    if not isinstance(raw_metrics, list) or not raw_metrics:
        raise read.fail("spec.metrics", "expected a non-empty list (the CPU default is not simulated)")
    metrics = tuple(_metric(read, item, f"spec.metrics[{index}]") for index, item in enumerate(raw_metrics))
    behavior = None if spec.get("behavior") is None else _behavior(read, spec["behavior"], "spec.behavior")
    try:
        return HpaSpec(max_replicas=max_replicas, metrics=metrics, min_replicas=min_replicas, behavior=behavior)
    except ValueError as error:
        raise read.fail("spec", str(error)) from None


def _metric(read: _Reader, item: object, path: str) -> MetricSpec:
    metric = read.mapping(item, path)
    kind = read.choice(metric.get("type"), f"{path}.type", tuple(_SOURCE_FIELDS.values()))
    field = kind[0].lower() + kind[1:]
    body = read.mapping(metric.get(field), f"{path}.{field}")
    if kind == "Resource":
        name = body.get("name")
    else:
        name = read.mapping(body.get("metric"), f"{path}.{field}.metric").get("name")
    if not isinstance(name, str) or not name:
        where = f"{path}.{field}.name" if kind == "Resource" else f"{path}.{field}.metric.name"
        raise read.fail(where, "required")
    target = read.mapping(body.get("target"), f"{path}.{field}.target")
    source = cast(SourceType, kind)
    target_type = cast(TargetType, read.choice(target.get("type"), f"{path}.{field}.target.type",
                                               TARGETS_BY_SOURCE[source]))
    key = {"Value": "value", "AverageValue": "averageValue", "Utilization": "averageUtilization"}[target_type]
    where = f"{path}.{field}.target.{key}"
    if key not in target:
        raise read.fail(where, "required")
    if target_type == "Utilization":
        milli = read.integer(target[key], where)
    else:
        milli = to_milli(read.quantity(target[key], where))
    if milli <= 0:
        raise read.fail(where, "must be positive")
    return MetricSpec(source, name, MetricTarget(target_type, milli))


def _behavior(read: _Reader, value: object, path: str) -> Behavior:
    behavior = read.mapping(value, path)
    rules = {}
    for key in ("scaleUp", "scaleDown"):
        raw = behavior.get(key)
        rules[key] = None if raw is None else _rules(read, raw, f"{path}.{key}")
    return Behavior(scale_up=rules["scaleUp"], scale_down=rules["scaleDown"])


def _rules(read: _Reader, value: object, path: str) -> ScalingRules:
    rules = read.mapping(value, path)
    window = rules.get("stabilizationWindowSeconds")
    select = rules.get("selectPolicy")
    raw_policies = rules.get("policies")
    tolerance = rules.get("tolerance")
    policies: tuple[ScalingPolicy, ...] | None = None
    if raw_policies is not None:
        if not isinstance(raw_policies, list) or not raw_policies:
            raise read.fail(f"{path}.policies", "expected a non-empty list")
        policies = tuple(_policy(read, item, f"{path}.policies[{index}]") for index, item in enumerate(raw_policies))
    try:
        return ScalingRules(
            stabilization_window_seconds=None if window is None else read.integer(window, f"{path}.stabilizationWindowSeconds"),
            select_policy=None if select is None else cast(SelectPolicy, read.choice(select, f"{path}.selectPolicy",
                                                                                     ("Max", "Min", "Disabled"))),
            policies=policies,
            tolerance=None if tolerance is None else float(read.quantity(tolerance, f"{path}.tolerance")),
        )
    except ValueError as error:
        if isinstance(error, ManifestError):
            raise
        raise read.fail(path, str(error)) from None


def _policy(read: _Reader, value: object, path: str) -> ScalingPolicy:
    policy = read.mapping(value, path)
    kind = cast(PolicyType, read.choice(policy.get("type"), f"{path}.type", ("Pods", "Percent")))
    try:
        return ScalingPolicy(kind, read.integer(policy.get("value"), f"{path}.value"),
                             read.integer(policy.get("periodSeconds"), f"{path}.periodSeconds"))
    except ValueError as error:
        if isinstance(error, ManifestError):
            raise
        raise read.fail(path, str(error)) from None
