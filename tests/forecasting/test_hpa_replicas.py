"""Each metric's proposal against the cases of Kubernetes' own
``pkg/controller/podautoscaler/replica_calculator_test.go`` (named in each test) and the worked
examples of the documentation page "Horizontal Pod Autoscaling" (section named).

The Go tests give every pod two containers with the same request and usage; a pod here carries
their sum, which leaves every ratio unchanged."""

from __future__ import annotations

import pytest

from forecasting.hpa.replicas import (
    MetricUnavailable,
    Pod,
    Tolerances,
    external_average_value_replicas,
    external_value_replicas,
    plain_metric_replicas,
    resource_utilization_replicas,
)

from .hpa_fakes import ready_pods, samples

DEFAULT = Tolerances()
NOW = 1e9
"""Long after every pod started: the CPU initialisation period is over."""


def cpu_pods(*requests_milli: int, unready: tuple[int, ...] = ()) -> tuple[Pod, ...]:
    return tuple(Pod(f"pod-{index}", ready=index not in unready, requests_milli={"cpu": request})
                 for index, request in enumerate(requests_milli))


def test_documented_ratio_doubles_or_halves_the_replicas() -> None:
    """Docs, "Algorithm details": 200m against a 100m target doubles the replicas, 50m halves them."""
    assert plain_metric_replicas(4, ready_pods(4), samples(200, 200, 200, 200), 100, DEFAULT) == 8
    assert plain_metric_replicas(4, ready_pods(4), samples(50, 50, 50, 50), 100, DEFAULT) == 2


def test_a_ratio_within_the_tolerance_keeps_the_count() -> None:
    """``TestReplicaCalcToleranceCM``: a mean of 20666m against 20000m (+3 %) changes nothing."""
    assert plain_metric_replicas(3, ready_pods(3), samples(20000, 21000, 21000), 20000, DEFAULT) == 3


def test_a_one_percent_scale_up_tolerance_lets_the_same_ratio_scale() -> None:
    """``TestReplicaCalcConfigurableToleranceCM``: the same 3 % with a 1 % scale-up tolerance gives 4."""
    assert plain_metric_replicas(3, ready_pods(3), samples(20000, 21000, 21000), 20000, Tolerances(0.1, 0.01)) == 4


@pytest.mark.parametrize(
    ("case", "tolerances", "usage", "expected"),
    [
        ("Outside of a 0% tolerance", Tolerances(0.0, 0.0), (1818, 2020, 2222), 4),
        ("Within a 200% scale-up tolerance", Tolerances(0.1, 2.0), (3780, 3820, 3800), 3),
        ("Outside 8% scale-up tolerance", Tolerances(2.0, 0.08), (2200, 2160, 2180), 4),
        ("Within a 36% scale-down tolerance", Tolerances(0.36, 0.1), (1320, 1280, 1300), 3),
        ("Outside a 34% scale-down tolerance", Tolerances(0.34, 0.1), (1320, 1280, 1300), 2),
    ],
)
def test_per_direction_tolerances_on_cpu_utilization(case: str, tolerances: Tolerances, usage: tuple[int, int, int],
                                                     expected: int) -> None:
    """``TestReplicaCalcConfigurableTolerance``: requests 0.9, 1.0 and 1.1 CPU, target 100 %."""
    replicas = resource_utilization_replicas(3, cpu_pods(1800, 2000, 2200), samples(*usage), 100, tolerances,
                                             resource="cpu", now=NOW)
    assert replicas == expected, case


def test_external_value_target_counts_only_ready_pods() -> None:
    """``TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods``: 8600m against a 4400m ``Value`` with
    one of three pods ready proposes ceil(1.95 × 1) = 2, fewer than the 3 there are."""
    assert external_value_replicas(3, 8600, 4400, DEFAULT, ready_pods(3, unready=(0, 2))) == 2


def test_external_value_target_scales_by_the_ratio() -> None:
    """``TestReplicaCalcScaleUpCMExternal`` (1 → 2) and ``TestReplicaCalcScaleDownCMExternal`` (5 → 3)."""
    assert external_value_replicas(1, 8600, 4400, DEFAULT, ready_pods(1)) == 2
    assert external_value_replicas(5, 8600, 14334, DEFAULT, ready_pods(5)) == 3


def test_external_value_within_tolerance_keeps_the_count() -> None:
    """``TestReplicaCalcToleranceCMExternal``: 8600m against 8888m (−3 %)."""
    assert external_value_replicas(3, 8600, 8888, DEFAULT, ready_pods(3)) == 3


def test_external_average_value_ignores_readiness() -> None:
    """``TestReplicaCalcScaleUpPerPodCMExternal``: 8600m at 2150m per pod is ceil(4.0) = 4 pods,
    whatever the pods' readiness."""
    assert external_average_value_replicas(3, 8600, 2150, DEFAULT) == 4


def test_external_average_value_scale_down_and_tolerance() -> None:
    """``TestReplicaCalcScaleDownPerPodCMExternal`` (5 → 3) and ``TestReplicaCalcTolerancePerPodCMExternal``
    (8600m over 3 pods at 2900m each is −1 %: stays 3), then ``TestReplicaCalcConfigurableTolerancePerPodCMExternal``
    (2800m per pod is +2.4 %, beyond a 1 % scale-up tolerance: 4)."""
    assert external_average_value_replicas(5, 8600, 2867, DEFAULT) == 3
    assert external_average_value_replicas(3, 8600, 2900, DEFAULT) == 3
    assert external_average_value_replicas(3, 8600, 2800, Tolerances(0.1, 0.01)) == 4


def test_from_zero_replicas_the_ratio_is_the_count() -> None:
    """``getUsageRatioReplicaCount`` and ``GetExternalPerPodMetricReplicas`` at zero replicas (the
    ``HPAScaleToZero`` path): no tolerance, ceil(usage / target), and zero usage stays at zero."""
    assert external_value_replicas(0, 2500, 1000, DEFAULT, ()) == 3
    assert external_average_value_replicas(0, 2500, 1000, DEFAULT) == 3
    assert external_average_value_replicas(0, 0, 1000, DEFAULT) == 0


def test_missing_metrics_count_as_the_target_on_a_scale_down() -> None:
    """``TestReplicaCalcMissingMetrics``: two of four pods report 400m and 95m of 1 CPU each; the
    missing two count as fully used, giving 3 rather than 1."""
    replicas = resource_utilization_replicas(4, cpu_pods(2000, 2000, 2000, 2000), samples(800, 190), 100, DEFAULT,
                                             resource="cpu", now=NOW)
    assert replicas == 3


def test_unready_and_missing_pods_count_as_zero_on_a_scale_up() -> None:
    """``TestReplicaCalcMissingMetricsUnreadyScaleUp``: one hot ready pod, one unready, one missing,
    target 50 %: 4 replicas, not the 12 the ready pod alone would ask for."""
    pods = cpu_pods(2000, 2000, 2000, unready=(0,))
    replicas = resource_utilization_replicas(3, pods, samples(200, 4000), 50, DEFAULT, resource="cpu", now=NOW)
    assert replicas == 4


def test_a_missing_pod_counted_at_the_target_holds_a_scale_down() -> None:
    """``TestReplicaCalcMissingMetricsNoChangeLt``: one of two pods at 60 % would scale down to 1,
    but the missing one counted as fully used makes 80 %, and ceil(0.8 × 2) keeps 2."""
    replicas = resource_utilization_replicas(2, cpu_pods(2000, 2000), samples(1200), 100, DEFAULT,
                                             resource="cpu", now=NOW)
    assert replicas == 2


def test_no_sample_from_any_ready_pod_is_an_invalid_metric() -> None:
    """``calcPlainMetricReplicas``: "did not receive metrics for targeted pods"."""
    with pytest.raises(MetricUnavailable):
        plain_metric_replicas(2, ready_pods(2), {}, 100, DEFAULT)


def test_documented_scale_up_tolerance_of_five_percent() -> None:
    """Docs, "Tolerance": a 100 Mi target with a 5 % scale-up tolerance scales up only above 105 Mi."""
    mebibyte = 1024 * 1024 * 1000
    within = plain_metric_replicas(2, ready_pods(2), samples(104 * mebibyte, 104 * mebibyte), 100 * mebibyte,
                                   Tolerances(0.1, 0.05), resource="memory")
    beyond = plain_metric_replicas(2, ready_pods(2), samples(106 * mebibyte, 106 * mebibyte), 100 * mebibyte,
                                   Tolerances(0.1, 0.05), resource="memory")
    assert (within, beyond) == (2, 3)
