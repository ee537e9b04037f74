"""The HorizontalPodAutoscaler's decision, as the Kubernetes controller makes it, in pure functions:
the spec (:mod:`.spec`), each metric's proposal (:mod:`.replicas`), stabilisation and rate limits
(:mod:`.behavior`) and one sync (:mod:`.controller`)."""

from forecasting.hpa.controller import Decision, HorizontalController, Observed, Scale
from forecasting.hpa.replicas import MetricUnavailable, Pod, PodMetric, Tolerances
from forecasting.hpa.spec import (
    Behavior,
    ControllerSettings,
    HpaSpec,
    MetricSpec,
    MetricTarget,
    ScalingPolicy,
    ScalingRules,
    to_milli,
)

__all__ = [
    "Behavior",
    "ControllerSettings",
    "Decision",
    "HorizontalController",
    "HpaSpec",
    "MetricSpec",
    "MetricTarget",
    "MetricUnavailable",
    "Observed",
    "Pod",
    "PodMetric",
    "ScalingPolicy",
    "ScalingRules",
    "Scale",
    "Tolerances",
    "to_milli",
]
