"""The replica count one metric proposes: ``pkg/controller/podautoscaler/replica_calculator.go``.

Each function mirrors the Go function named in its docstring, integer milli-units and all, so
that a replayed HPA rounds where the real one rounds. Where the Go code returns an error (no pods,
no metrics from any ready pod) these raise :class:`MetricUnavailable`; the controller then treats
the metric as invalid, as the real one does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

PodPhase = Literal["Pending", "Running", "Succeeded", "Failed"]


class MetricUnavailable(Exception):
    """A metric could not be fetched or gave nothing to compute with."""


@dataclass(frozen=True)
class Tolerances:
    """``Tolerances``: how far the usage ratio may stray from 1 before the count changes."""

    scale_down: float = 0.1
    scale_up: float = 0.1

    def is_within(self, ratio: float) -> bool:
        """``Tolerances.isWithin``; NaN (a 0/0 ratio in Go) is never within."""
        return (1.0 - self.scale_down) <= ratio <= (1.0 + self.scale_up)


@dataclass(frozen=True)
class Pod:
    """A pod of the scale target as the calculator sees it."""

    name: str
    phase: PodPhase = "Running"
    ready: bool | None = True
    """Status of the ``Ready`` condition; None when the pod has no such condition yet."""
    started_at: float | None = 0.0
    """``status.startTime``."""
    ready_changed_at: float = 0.0
    """``lastTransitionTime`` of the ``Ready`` condition."""
    deleting: bool = False
    requests_milli: Mapping[str, int] = field(default_factory=dict)
    """Resource requests summed over the pod's containers, by resource name."""


@dataclass(frozen=True)
class PodMetric:
    value_milli: int
    timestamp: float = 0.0
    window_seconds: float = 60.0


@dataclass(frozen=True)
class ReadinessSettings:
    cpu_initialization_period_seconds: float = 300.0
    initial_readiness_delay_seconds: float = 30.0


def _ratio(numerator: float, denominator: float) -> float:
    """Go's float division: x/0 is ±Inf, 0/0 is NaN."""
    if denominator == 0:
        return math.nan if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def ready_pod_count(pods: Sequence[Pod]) -> int:
    """``getReadyPodsCount``: running pods whose ``Ready`` condition is true."""
    if not pods:
        raise MetricUnavailable("no pods returned by selector while calculating replica count")
    return sum(1 for pod in pods if pod.phase == "Running" and pod.ready is True)


def usage_ratio_replicas(current_replicas: int, usage_ratio: float, tolerances: Tolerances, pods: Sequence[Pod]) -> int:
    """``getUsageRatioReplicaCount``: from zero replicas ``ceil(ratio)``, otherwise the ratio times
    the *ready* pods, so pods still starting are not counted."""
    if current_replicas == 0:
        return math.ceil(usage_ratio)
    if tolerances.is_within(usage_ratio):
        return current_replicas
    return math.ceil(usage_ratio * ready_pod_count(pods))


def external_value_replicas(current_replicas: int, usage_milli: int, target_milli: int, tolerances: Tolerances,
                            pods: Sequence[Pod]) -> int:
    """``GetExternalMetricReplicas``: a ``Value`` target on the sum of the metric's items."""
    return usage_ratio_replicas(current_replicas, usage_milli / target_milli, tolerances, pods)


def external_average_value_replicas(status_replicas: int, usage_milli: int, target_milli: int,
                                    tolerances: Tolerances) -> int:
    """``GetExternalPerPodMetricReplicas``: an ``AverageValue`` target proposes
    ``ceil(usage / target)``, whatever the readiness of the pods; the current count only decides
    whether the change is beyond the tolerance."""
    usage_ratio = _ratio(usage_milli, target_milli * status_replicas)
    if tolerances.is_within(usage_ratio):
        return status_replicas
    return math.ceil(usage_milli / target_milli)


@dataclass(frozen=True)
class _Groups:
    ready: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


def group_pods(pods: Sequence[Pod], metrics: Mapping[str, PodMetric], resource: str, *, now: float,
               settings: ReadinessSettings) -> _Groups:
    """``groupPods``: deleted and failed pods are ignored, pending ones unready, pods without a
    sample missing; for CPU, a pod within its initialisation period whose sample predates its
    readiness is unready too."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        metric = metrics.get(pod.name)
        if metric is None:
            missing.add(pod.name)
            continue
        if resource == "cpu" and _cpu_unready(pod, metric, now, settings):
            unready.add(pod.name)
            continue
        ready += 1
    return _Groups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def _cpu_unready(pod: Pod, metric: PodMetric, now: float, settings: ReadinessSettings) -> bool:
    if pod.ready is None or pod.started_at is None:
        return True
    if pod.started_at + settings.cpu_initialization_period_seconds > now:
        # ignore a sample taken before one whole window had passed since the last transition
        return pod.ready is False or metric.timestamp < pod.ready_changed_at + metric.window_seconds
    # ignore a pod that has never been ready
    return pod.ready is False and pod.started_at + settings.initial_readiness_delay_seconds > pod.ready_changed_at


def _usage_ratio(metrics: Mapping[str, int], target_milli: int) -> float:
    """``GetMetricUsageRatio``: the mean per pod, truncated to a whole milli-unit as in Go."""
    average = sum(metrics.values()) // len(metrics)
    return average / target_milli


def plain_metric_replicas(current_replicas: int, pods: Sequence[Pod], metrics: Mapping[str, PodMetric],
                          target_milli: int, tolerances: Tolerances, *, resource: str = "", now: float = 0.0,
                          settings: ReadinessSettings = ReadinessSettings()) -> int:
    """``calcPlainMetricReplicas``: an ``AverageValue`` target on a per-pod metric (``Pods``, or a
    ``Resource`` by value). Missing pods count as at the target on a scale-down and as zero on a
    scale-up; on a scale-up unready pods count as zero; a change that would flip direction once
    they are counted is dropped."""
    if not pods:
        raise MetricUnavailable("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, metrics, resource, now=now, settings=settings)
    values = {name: metric.value_milli for name, metric in metrics.items()
              if name not in groups.ignored and name not in groups.unready}
    if not values:
        raise MetricUnavailable("did not receive metrics for targeted pods (pods might be unready)")
    usage_ratio = _usage_ratio(values, target_milli)
    scale_up_with_unready = bool(groups.unready) and usage_ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.is_within(usage_ratio):
            return current_replicas
        return math.ceil(usage_ratio * groups.ready)
    if groups.missing:
        if usage_ratio < 1.0:
            values.update(dict.fromkeys(groups.missing, target_milli))
        elif usage_ratio > 1.0:
            values.update(dict.fromkeys(groups.missing, 0))
    if scale_up_with_unready:
        values.update(dict.fromkeys(groups.unready, 0))
    new_ratio = _usage_ratio(values, target_milli)
    return _rebalanced(current_replicas, usage_ratio, new_ratio, len(values), tolerances)


def _rebalanced(current_replicas: int, usage_ratio: float, new_ratio: float, counted: int, tolerances: Tolerances) -> int:
    """The end of both per-pod calculations: no change within the tolerance or when the filled-in
    pods flip the direction."""
    if (tolerances.is_within(new_ratio) or (usage_ratio < 1.0 < new_ratio)
            or (usage_ratio > 1.0 > new_ratio)):
        return current_replicas
    proposed = math.ceil(new_ratio * counted)
    if (new_ratio < 1.0 and proposed > current_replicas) or (new_ratio > 1.0 and proposed < current_replicas):
        return current_replicas
    return proposed


def resource_utilization_replicas(current_replicas: int, pods: Sequence[Pod], metrics: Mapping[str, PodMetric],
                                  target_percent: int, tolerances: Tolerances, *, resource: str, now: float = 0.0,
                                  settings: ReadinessSettings = ReadinessSettings()) -> int:
    """``GetResourceReplicas``: a ``Utilization`` target, usage over the pods' requests in whole
    percent (integer division, as in ``GetResourceUtilizationRatio``)."""
    if not pods:
        raise MetricUnavailable("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, metrics, resource, now=now, settings=settings)
    values = {name: metric.value_milli for name, metric in metrics.items()
              if name not in groups.ignored and name not in groups.unready}
    if not values:
        raise MetricUnavailable("did not receive metrics for targeted pods (pods might be unready)")
    requests = {}
    for pod in pods:
        if resource not in pod.requests_milli:
            raise MetricUnavailable(f"missing request for {resource} in pod {pod.name}")
        requests[pod.name] = pod.requests_milli[resource]
    usage_ratio = _utilization_ratio(values, requests, target_percent)
    scale_up_with_unready = bool(groups.unready) and usage_ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.is_within(usage_ratio):
            return current_replicas
        return math.ceil(usage_ratio * groups.ready)
    if groups.missing:
        if usage_ratio < 1.0:
            # missing pods count as using all of their request, or the target above 100 %
            fallback = max(100, target_percent)
            values.update({name: requests[name] * fallback // 100 for name in groups.missing})
        elif usage_ratio > 1.0:
            values.update(dict.fromkeys(groups.missing, 0))
    if scale_up_with_unready:
        values.update(dict.fromkeys(groups.unready, 0))
    new_ratio = _utilization_ratio(values, requests, target_percent)
    return _rebalanced(current_replicas, usage_ratio, new_ratio, len(values), tolerances)


def _utilization_ratio(values: Mapping[str, int], requests: Mapping[str, int], target_percent: int) -> float:
    total = sum(values[name] for name in values if name in requests)
    requested = sum(requests[name] for name in values if name in requests)
    if requested == 0:
        raise MetricUnavailable("no metrics returned matched known pods")
    return (total * 100 // requested) / target_percent
