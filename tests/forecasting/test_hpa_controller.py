"""One HPA sync end to end: several metrics, metrics that cannot be fetched, bounds, scale to and
from zero, the legacy rules and ``behavior``. Sources: ``pkg/controller/podautoscaler/horizontal.go``
(functions named) and the documentation page "Horizontal Pod Autoscaling" (sections named)."""

from __future__ import annotations

from forecasting.hpa import (
    Behavior,
    HorizontalController,
    HpaSpec,
    MetricSpec,
    MetricTarget,
    Scale,
    ScalingPolicy,
    ScalingRules,
)

from .hpa_fakes import Readings

RPS = MetricSpec("External", "rps", MetricTarget("AverageValue", 10_000))
QUEUE = MetricSpec("External", "queue", MetricTarget("AverageValue", 5_000))


def hpa(*metrics: MetricSpec, min_replicas: int = 1, max_replicas: int = 100, behavior: Behavior | None = None) -> HpaSpec:
    return HpaSpec(max_replicas=max_replicas, metrics=metrics or (RPS,), min_replicas=min_replicas, behavior=behavior)


def sync(controller: HorizontalController, replicas: int, now: float, **values: float | None) -> int:
    return controller.sync(Scale(replicas, replicas), Readings(values), now=now).replicas


def test_the_largest_proposal_of_several_metrics_wins() -> None:
    """Docs, "Scaling on multiple metrics": the largest desired count is chosen."""
    controller = HorizontalController(hpa(RPS, QUEUE))
    assert sync(controller, 4, 0.0, rps=40.0, queue=40.0) == 8


def test_no_scale_down_when_a_metric_cannot_be_fetched() -> None:
    """``computeReplicasForMetrics``: some metrics invalid and the rest suggesting a scale-down
    means no scaling (docs: "scaling is skipped")."""
    controller = HorizontalController(hpa(RPS, QUEUE), )
    decision = controller.sync(Scale(8, 8), Readings({"rps": 10.0, "queue": None}), now=0.0)
    assert decision.replicas == 8 and not decision.rescaled and decision.proposals == (1, None)


def test_scale_up_still_happens_when_a_metric_cannot_be_fetched() -> None:
    """Docs, "Scaling on multiple metrics": the HPA can still scale up on the metrics it can read."""
    controller = HorizontalController(hpa(RPS, QUEUE))
    assert sync(controller, 2, 0.0, rps=60.0, queue=None) == 4  # legacy bound: max(2 × 2, 4)


def test_nothing_changes_when_every_metric_fails() -> None:
    """``reconcileAutoscaler``: with no valid metric the count is left alone."""
    controller = HorizontalController(hpa(RPS, QUEUE))
    decision = controller.sync(Scale(5, 5), Readings({"rps": None, "queue": None}), now=0.0)
    assert (decision.replicas, decision.rescaled) == (5, False)


def test_out_of_bounds_counts_are_brought_back_without_metrics() -> None:
    """``reconcileAutoscaler``: above maxReplicas goes to max, below minReplicas to min, even when
    no metric can be read."""
    assert sync(HorizontalController(hpa(max_replicas=6)), 9, 0.0, rps=None) == 6
    assert sync(HorizontalController(hpa(min_replicas=3)), 1, 0.0, rps=None) == 3


def test_a_target_scaled_to_zero_by_hand_stays_there() -> None:
    """``reconcileAutoscaler``: spec replicas 0 with minReplicas ≠ 0 disables autoscaling."""
    assert sync(HorizontalController(hpa()), 0, 0.0, rps=500.0) == 0


def test_scale_from_and_to_zero_with_min_replicas_zero() -> None:
    """``getUsageRatioReplicaCount`` / ``GetExternalPerPodMetricReplicas`` from zero, then back to
    zero once the downscale stabilisation window (300 s) has passed without load."""
    controller = HorizontalController(hpa(min_replicas=0))
    assert sync(controller, 0, 0.0, rps=25.0) == 3
    assert sync(controller, 3, 15.0, rps=0.0) == 3  # the recommendation of 3 is still in the window
    assert sync(controller, 3, 316.0, rps=0.0) == 0


def test_legacy_scale_up_is_bounded_by_twice_the_count_or_four() -> None:
    """``convertDesiredReplicasWithRules`` / ``calculateScaleUpLimit``: with no ``behavior``, one sync
    adds at most max(2 × current, 4)."""
    controller = HorizontalController(hpa())
    assert sync(controller, 1, 0.0, rps=1000.0) == 4
    assert sync(controller, 4, 15.0, rps=1000.0) == 8
    assert sync(controller, 8, 30.0, rps=1000.0) == 16


def test_legacy_scale_down_waits_for_the_stabilisation_window() -> None:
    """``stabilizeRecommendation``: the highest recommendation of the last 300 s is applied, so a
    drop in load takes effect only 5 minutes after the last high recommendation."""
    controller = HorizontalController(hpa())
    assert sync(controller, 10, 0.0, rps=100.0) == 10
    for now in range(15, 300, 15):
        assert sync(controller, 10, float(now), rps=20.0) == 10
    assert sync(controller, 10, 301.0, rps=20.0) == 2


def test_default_behavior_adds_four_pods_or_doubles_every_fifteen_seconds() -> None:
    """Docs, "Default Behavior": scale up by the larger of 4 pods and 100 % per 15 s, no stabilisation."""
    controller = HorizontalController(hpa(behavior=Behavior()))
    assert sync(controller, 1, 0.0, rps=1000.0) == 5
    assert sync(controller, 5, 10.0, rps=1000.0) == 5  # both policies' 15 s period still holds the +4
    assert sync(controller, 5, 15.0, rps=1000.0) == 10
    assert sync(controller, 10, 30.0, rps=1000.0) == 20


def test_documented_scale_down_policies_eighty_to_seventy_two_to_sixty_four() -> None:
    """Docs, "Scaling Policies": with Pods 4/60 s and Percent 10/60 s, 80 replicas heading for 10
    lose 8 (10 %), then after the 60 s period another 10 % of 72 rounded to 8."""
    rules = ScalingRules(stabilization_window_seconds=0,
                         policies=(ScalingPolicy("Pods", 4, 60), ScalingPolicy("Percent", 10, 60)))
    controller = HorizontalController(hpa(behavior=Behavior(scale_down=rules)))
    assert sync(controller, 80, 0.0, rps=100.0) == 72
    assert sync(controller, 72, 15.0, rps=100.0) == 72  # the period still counts the 8 removed
    assert sync(controller, 72, 61.0, rps=100.0) == 64


def test_below_forty_replicas_the_pods_policy_removes_more() -> None:
    """Docs, "Scaling Policies": under 40 replicas 4 pods is more than 10 %, so 4 go at a time."""
    rules = ScalingRules(stabilization_window_seconds=0,
                         policies=(ScalingPolicy("Pods", 4, 60), ScalingPolicy("Percent", 10, 60)))
    controller = HorizontalController(hpa(behavior=Behavior(scale_down=rules)))
    assert sync(controller, 30, 0.0, rps=10.0) == 26


def test_select_policy_min_picks_the_smaller_change() -> None:
    """``calculateScaleDownLimitWithBehaviors`` with ``selectPolicy: Min``: of −4 pods and −10 % of
    30 (−3), the smaller change wins."""
    rules = ScalingRules(stabilization_window_seconds=0, select_policy="Min",
                         policies=(ScalingPolicy("Pods", 4, 60), ScalingPolicy("Percent", 10, 60)))
    controller = HorizontalController(hpa(behavior=Behavior(scale_down=rules)))
    assert sync(controller, 30, 0.0, rps=10.0) == 27


def test_disabled_scale_down_never_removes_pods() -> None:
    """Docs, "Example: disable scale down": ``selectPolicy: Disabled``."""
    controller = HorizontalController(hpa(behavior=Behavior(scale_down=ScalingRules(select_policy="Disabled"))))
    for now in (0.0, 400.0, 800.0):
        assert sync(controller, 10, now, rps=10.0) == 10


def test_scale_up_stabilisation_applies_the_lowest_recent_recommendation() -> None:
    """``stabilizeRecommendationWithBehaviors``: with a 60 s scale-up window a brief spike does not
    scale up until every recommendation of the window agrees."""
    rules = ScalingRules(stabilization_window_seconds=60)
    controller = HorizontalController(hpa(behavior=Behavior(scale_up=rules)))
    assert sync(controller, 2, 0.0, rps=20.0) == 2
    assert sync(controller, 2, 15.0, rps=60.0) == 2
    assert sync(controller, 2, 61.0, rps=60.0) == 6


def test_per_direction_tolerance_from_behavior() -> None:
    """``tolerancesForHpa``: ``behavior.scaleUp.tolerance: 0`` scales up on a 5 % excess the default
    0.1 tolerance would ignore."""
    strict = HorizontalController(hpa(behavior=Behavior(scale_up=ScalingRules(tolerance=0.0))))
    default = HorizontalController(hpa(behavior=Behavior()))
    assert sync(strict, 20, 0.0, rps=210.0) == 21
    assert sync(default, 20, 0.0, rps=210.0) == 20
