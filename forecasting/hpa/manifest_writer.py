"""An :class:`~forecasting.hpa.spec.HpaSpec` written out as the ``autoscaling/v2`` manifest that
:func:`~forecasting.hpa.manifest.hpa_from_manifest` reads back into the same spec, so a
configuration the replay recommends is applied exactly as it was replayed.

External metrics select the workload's series by one label (``app: <workload>``), as the
manifests under ``manifests/examples/`` do; the replay itself never reads selectors.
"""

from __future__ import annotations

from typing import Any

from forecasting.hpa.spec import Behavior, HpaSpec, MetricSpec, ScalingRules


def quantity(milli: int) -> str:
    """The shortest Quantity holding ``milli`` milli-units: ``"8"``, ``"7500m"``."""
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def hpa_manifest(spec: HpaSpec, *, workload: str, namespace: str) -> dict[str, Any]:
    """The HorizontalPodAutoscaler scaling the Deployment ``workload`` in ``namespace`` by ``spec``."""
    body: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload},
        "minReplicas": spec.min_replicas,
        "maxReplicas": spec.max_replicas,
        "metrics": [_metric(metric, workload) for metric in spec.metrics],
    }
    if spec.behavior is not None:
        body["behavior"] = _behavior(spec.behavior)
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": workload, "namespace": namespace}, "spec": body}


def _metric(metric: MetricSpec, workload: str) -> dict[str, Any]:
    target = metric.target
    if target.type == "Utilization":
        written: dict[str, Any] = {"type": "Utilization", "averageUtilization": target.milli}
    else:
        key = "value" if target.type == "Value" else "averageValue"
        written = {"type": target.type, key: quantity(target.milli)}
    if metric.source == "Resource":
        return {"type": "Resource", "resource": {"name": metric.name, "target": written}}
    field = metric.source[0].lower() + metric.source[1:]
    return {"type": metric.source,
            field: {"metric": {"name": metric.name, "selector": {"matchLabels": {"app": workload}}}, "target": written}}


def _behavior(behavior: Behavior) -> dict[str, Any]:
    return {key: _rules(rules) for key, rules in (("scaleUp", behavior.scale_up), ("scaleDown", behavior.scale_down))
            if rules is not None}


def _rules(rules: ScalingRules) -> dict[str, Any]:
    written: dict[str, Any] = {}
    if rules.stabilization_window_seconds is not None:
        written["stabilizationWindowSeconds"] = rules.stabilization_window_seconds
    if rules.select_policy is not None:
        written["selectPolicy"] = rules.select_policy
    if rules.policies is not None:
        written["policies"] = [{"type": policy.type, "value": policy.value, "periodSeconds": policy.period_seconds}
                               for policy in rules.policies]
    if rules.tolerance is not None:
        written["tolerance"] = str(rules.tolerance)
    return written
