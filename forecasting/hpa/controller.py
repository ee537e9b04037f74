"""One HPA's sync: ``reconcileAutoscaler`` and ``computeReplicasForMetrics`` of
``pkg/controller/podautoscaler/horizontal.go``.

Each metric proposes a count and the largest wins. A metric that cannot be fetched is skipped;
if every metric failed, or some failed and the rest would scale down, nothing changes (the
controller never scales down on partial data). A target outside ``[minReplicas, maxReplicas]``
is brought back inside without looking at metrics, and a target scaled to zero by hand stays
there unless ``minReplicas`` is 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from forecasting.hpa.behavior import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Recommender,
    Rules,
    completed,
    normalize_legacy,
    normalize_with_behavior,
)
from forecasting.hpa.replicas import (
    MetricUnavailable,
    Pod,
    PodMetric,
    ReadinessSettings,
    Tolerances,
    external_average_value_replicas,
    external_value_replicas,
    plain_metric_replicas,
    resource_utilization_replicas,
)
from forecasting.hpa.spec import ControllerSettings, HpaSpec, MetricSpec, to_milli


class Observed(Protocol):
    """What the controller can read at a sync: the metrics APIs and the target's pods."""

    def external(self, name: str) -> float:
        """The sum of the external metric's items; raises MetricUnavailable when it fails."""

    def per_pod(self, spec: MetricSpec) -> Mapping[str, PodMetric]:
        """One sample per pod (Pods and Resource metrics); raises MetricUnavailable when it fails."""

    def pods(self) -> Sequence[Pod]:
        """The pods the target's selector matches."""


@dataclass(frozen=True)
class Scale:
    """The target's ``scale`` subresource."""

    spec_replicas: int
    status_replicas: int
    """Pods that exist, ready or not."""


@dataclass(frozen=True)
class Decision:
    replicas: int
    """The count the controller leaves the target at (the current one when it does not rescale)."""
    rescaled: bool
    proposals: tuple[int | None, ...] = ()
    """Each metric's proposal, None where it failed."""
    reason: str = ""


@dataclass
class HorizontalController:
    """The controller's handling of one HPA, with its memory between syncs."""

    hpa: HpaSpec
    settings: ControllerSettings = field(default_factory=ControllerSettings)
    recommender: Recommender = field(default_factory=Recommender)

    def __post_init__(self) -> None:
        behavior = self.hpa.behavior
        window = self.settings.downscale_stabilization_seconds
        self._up = completed(behavior.scale_up if behavior else None, DEFAULT_SCALE_UP, stabilization_seconds=window)
        self._down = completed(behavior.scale_down if behavior else None, DEFAULT_SCALE_DOWN,
                               stabilization_seconds=window)
        self._tolerances = self._tolerances_for()
        self._readiness = ReadinessSettings(self.settings.cpu_initialization_period_seconds,
                                            self.settings.initial_readiness_delay_seconds)

    def _tolerances_for(self) -> Tolerances:
        """``tolerancesForHpa``: the cluster's tolerance unless the behavior sets one per direction."""
        default = self.settings.tolerance
        behavior = self.hpa.behavior
        if behavior is None:
            return Tolerances(default, default)
        down = behavior.scale_down.tolerance if behavior.scale_down else None
        up = behavior.scale_up.tolerance if behavior.scale_up else None
        return Tolerances(default if down is None else down, default if up is None else up)

    @property
    def rules(self) -> tuple[Rules, Rules]:
        """The scale-up and scale-down rules in force, defaults filled in."""
        return self._up, self._down

    def sync(self, scale: Scale, observed: Observed, *, now: float) -> Decision:
        """``reconcileAutoscaler``: the count to set now."""
        hpa, current = self.hpa, scale.spec_replicas
        self.recommender.record_initial(current, now)
        if current == 0 and hpa.min_replicas != 0:
            return Decision(0, False, reason="scaling is disabled since the replica count of the target is zero")
        if current > hpa.max_replicas:
            return self._rescale(current, hpa.max_replicas, now, (), "current number of replicas above maxReplicas")
        if current < hpa.min_replicas:
            return self._rescale(current, hpa.min_replicas, now, (), "current number of replicas below minReplicas")
        proposals = tuple(self._propose(spec, scale, observed, now) for spec in hpa.metrics)
        valid = [proposal for proposal in proposals if proposal is not None]
        best = max(valid, default=0)
        failed = len(proposals) - len(valid)
        if failed == len(proposals) or (failed and best < current):
            return Decision(current, False, proposals, f"invalid metrics ({failed} invalid out of {len(proposals)})")
        if hpa.behavior is None:
            desired = normalize_legacy(self.recommender, current=current, desired=best, min_replicas=hpa.min_replicas,
                                       max_replicas=hpa.max_replicas,
                                       downscale_stabilization_seconds=self.settings.downscale_stabilization_seconds,
                                       now=now)
        else:
            desired = normalize_with_behavior(self.recommender, current=current, desired=best,
                                              min_replicas=hpa.min_replicas, max_replicas=hpa.max_replicas,
                                              up=self._up, down=self._down, now=now)
        reason = "above target" if desired > current else "all metrics below target"
        return self._rescale(current, desired, now, proposals, reason)

    def _rescale(self, current: int, desired: int, now: float, proposals: tuple[int | None, ...], reason: str) -> Decision:
        if desired == current:
            return Decision(current, False, proposals, "")
        self.recommender.store_scale_event(self.hpa.behavior, self._up, self._down, current, desired, now)
        return Decision(desired, True, proposals, reason)

    def _propose(self, spec: MetricSpec, scale: Scale, observed: Observed, now: float) -> int | None:
        """``computeReplicasForMetric``: this metric's proposal, None when it cannot be computed."""
        target = spec.target
        try:
            if spec.source == "External":
                usage = to_milli(observed.external(spec.name))
                if target.type == "AverageValue":
                    return external_average_value_replicas(scale.status_replicas, usage, target.milli, self._tolerances)
                return external_value_replicas(scale.spec_replicas, usage, target.milli, self._tolerances,
                                               observed.pods())
            samples = observed.per_pod(spec)
            resource = spec.name if spec.source == "Resource" else ""
            if target.type == "Utilization":
                return resource_utilization_replicas(scale.spec_replicas, observed.pods(), samples, target.milli,
                                                     self._tolerances, resource=resource, now=now,
                                                     settings=self._readiness)
            return plain_metric_replicas(scale.spec_replicas, observed.pods(), samples, target.milli, self._tolerances,
                                         resource=resource, now=now, settings=self._readiness)
        except MetricUnavailable:
            return None
