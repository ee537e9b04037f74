"""What an HPA reads at a sync, set by hand: external metric values, per-pod samples and pods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from forecasting.hpa import MetricSpec, MetricUnavailable, Pod, PodMetric


@dataclass
class Readings:
    external_values: Mapping[str, float | None] = field(default_factory=dict)
    """None: the metrics API answers an error for that metric."""
    samples: Mapping[str, Mapping[str, PodMetric]] = field(default_factory=dict)
    pod_list: Sequence[Pod] = ()

    def external(self, name: str) -> float:
        value = self.external_values.get(name)
        if value is None:
            raise MetricUnavailable(name)
        return value

    def per_pod(self, spec: MetricSpec) -> Mapping[str, PodMetric]:
        if spec.name not in self.samples:
            raise MetricUnavailable(spec.name)
        return self.samples[spec.name]

    def pods(self) -> Sequence[Pod]:
        return self.pod_list


def ready_pods(count: int, *, unready: Sequence[int] = ()) -> tuple[Pod, ...]:
    return tuple(Pod(f"pod-{index}", ready=index not in unready) for index in range(count))


def samples(*milli: int, window: float = 60.0, at: float = 1e9) -> dict[str, PodMetric]:
    """One sample per pod, pod-0 first."""
    return {f"pod-{index}": PodMetric(value, at, window) for index, value in enumerate(milli)}
