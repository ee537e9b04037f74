"""An ``autoscaling/v2`` HorizontalPodAutoscaler's spec as data, and the controller's own settings.

Fields mirror the API (``k8s.io/api/autoscaling/v2/types.go``); a field the user left out is None,
as in the API, so the defaulting rules of :mod:`forecasting.hpa.behavior` can tell "unset" from a
value. Targets are held in milli-units, because the controller reads every Quantity with
``MilliValue()`` (rounding up) and computes on those integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Context, Decimal
from typing import Literal

SourceType = Literal["External", "Pods", "Resource"]
TargetType = Literal["Value", "AverageValue", "Utilization"]
PolicyType = Literal["Pods", "Percent"]
SelectPolicy = Literal["Max", "Min", "Disabled"]

TARGETS_BY_SOURCE: dict[SourceType, tuple[TargetType, ...]] = {
    "External": ("Value", "AverageValue"),
    "Pods": ("AverageValue",),
    "Resource": ("Utilization", "AverageValue"),
}
"""The target types the API accepts for each metric source."""

_DOUBLE_DIGITS = Context(prec=15)


def to_milli(value: float | Decimal) -> int:
    """``Quantity.MilliValue()`` of ``value``: whole milli-units, rounded up. A float is first
    rounded to the 15 significant digits a double holds, so 0.3 reads as 300m, not 301m (the
    adapter formats the Quantities it serves the same way)."""
    exact = value if isinstance(value, Decimal) else _DOUBLE_DIGITS.create_decimal(value)
    if not exact.is_finite():
        raise ValueError(f"{value!r} has no quantity form")
    return int(exact.scaleb(3).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True)
class MetricTarget:
    type: TargetType
    milli: int
    """``value`` or ``averageValue`` in milli-units; for ``Utilization`` the percentage itself."""

    def __post_init__(self) -> None:
        if self.milli <= 0:
            raise ValueError(f"a {self.type} target must be positive, not {self.milli}")


@dataclass(frozen=True)
class MetricSpec:
    source: SourceType
    name: str
    """The metric's name; for ``Resource`` the resource's (``cpu``, ``memory``)."""
    target: MetricTarget

    def __post_init__(self) -> None:
        if self.target.type not in TARGETS_BY_SOURCE[self.source]:
            allowed = " or ".join(TARGETS_BY_SOURCE[self.source])
            raise ValueError(f"a {self.source} metric takes a {allowed} target, not {self.target.type}")


@dataclass(frozen=True)
class ScalingPolicy:
    type: PolicyType
    value: int
    period_seconds: int

    def __post_init__(self) -> None:
        if self.value <= 0:
            raise ValueError(f"a scaling policy's value must be positive, not {self.value}")
        if not 0 < self.period_seconds <= 1800:
            raise ValueError(f"periodSeconds must be in (0, 1800], not {self.period_seconds}")


@dataclass(frozen=True)
class ScalingRules:
    """``HPAScalingRules``: None where the user set nothing (defaults fill it)."""

    stabilization_window_seconds: int | None = None
    select_policy: SelectPolicy | None = None
    policies: tuple[ScalingPolicy, ...] | None = None
    tolerance: float | None = None
    """Per-direction tolerance (``HPAConfigurableTolerance``, beta and on by default since 1.35)."""

    def __post_init__(self) -> None:
        window = self.stabilization_window_seconds
        if window is not None and not 0 <= window <= 3600:
            raise ValueError(f"stabilizationWindowSeconds must be in [0, 3600], not {window}")
        if self.tolerance is not None and not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(f"tolerance must be a non-negative number, not {self.tolerance}")


@dataclass(frozen=True)
class Behavior:
    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None


@dataclass(frozen=True)
class HpaSpec:
    max_replicas: int
    metrics: tuple[MetricSpec, ...]
    min_replicas: int = 1
    """0 is scale to zero (the ``HPAScaleToZero`` gate), allowed with an External metric."""
    behavior: Behavior | None = None
    """None keeps the controller's legacy rules (see :mod:`forecasting.hpa.behavior`)."""

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ValueError("an HPA needs at least one metric")
        if self.min_replicas < 0 or self.max_replicas < max(1, self.min_replicas):
            raise ValueError(f"need 0 ≤ minReplicas ≤ maxReplicas and maxReplicas ≥ 1, "
                             f"not {self.min_replicas} and {self.max_replicas}")
        if self.min_replicas == 0 and not any(metric.source == "External" for metric in self.metrics):
            raise ValueError("minReplicas 0 needs at least one External metric")


@dataclass(frozen=True)
class ControllerSettings:
    """The kube-controller-manager flags that shape every HPA's decisions (their defaults)."""

    sync_period_seconds: float = 15.0
    """``--horizontal-pod-autoscaler-sync-period``."""
    tolerance: float = 0.1
    """``--horizontal-pod-autoscaler-tolerance``, used where an HPA sets none."""
    downscale_stabilization_seconds: float = 300.0
    """``--horizontal-pod-autoscaler-downscale-stabilization``."""
    cpu_initialization_period_seconds: float = 300.0
    """``--horizontal-pod-autoscaler-cpu-initialization-period``."""
    initial_readiness_delay_seconds: float = 30.0
    """``--horizontal-pod-autoscaler-initial-readiness-delay``."""
