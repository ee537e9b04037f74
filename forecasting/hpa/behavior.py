"""From the metrics' proposal to the replica count the controller sets: stabilisation and rate
limits, with ``behavior`` (``normalizeDesiredReplicasWithBehaviors``) or without it
(``normalizeDesiredReplicas``, the legacy rules), in ``pkg/controller/podautoscaler/horizontal.go``.

Defaults are those of ``pkg/apis/autoscaling/v2/defaults.go``: a ``behavior`` the user gave is
completed field by field (scale up: 0 s stabilisation, the larger of +4 pods and +100 % per 15 s;
scale down: +100 % per 15 s, and the controller's downscale stabilisation of 300 s). An HPA with no
``behavior`` keeps the legacy rules: the same 300 s downscale stabilisation, and a scale-up of at
most ``max(2 × current, 4)`` per sync.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from forecasting.hpa.spec import Behavior, ScalingPolicy, ScalingRules, SelectPolicy

SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0
"""``scaleUpLimitFactor`` and ``scaleUpLimitMinimum``: the legacy bound on one scale-up."""
DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_seconds=0, select_policy="Max",
    policies=(ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)),
)
DEFAULT_SCALE_DOWN = ScalingRules(select_policy="Max", policies=(ScalingPolicy("Percent", 100, 15),))


@dataclass(frozen=True)
class Rules:
    """One direction's rules once every default is filled in."""

    stabilization_window_seconds: float
    select_policy: SelectPolicy
    policies: tuple[ScalingPolicy, ...]


def completed(rules: ScalingRules | None, defaults: ScalingRules, *, stabilization_seconds: float) -> Rules:
    """``copyHPAScalingRules`` onto the defaults, then ``maybeInitScaleDownStabilizationWindow``
    (the controller's window where neither the user nor the defaults set one)."""
    given = rules or ScalingRules()
    window = given.stabilization_window_seconds
    if window is None:
        window = defaults.stabilization_window_seconds
    select = given.select_policy or defaults.select_policy or "Max"
    policies = given.policies if given.policies is not None else defaults.policies or ()
    return Rules(stabilization_seconds if window is None else float(window), select, policies)


@dataclass
class _Event:
    change: int
    at: float
    outdated: bool = False


@dataclass
class Recommender:
    """The controller's memory of one HPA: recent recommendations and scale events."""

    recommendations: list[tuple[int, float]] = field(default_factory=list)
    scale_up_events: list[_Event] = field(default_factory=list)
    scale_down_events: list[_Event] = field(default_factory=list)

    def record_initial(self, current_replicas: int, now: float) -> None:
        """``recordInitialRecommendation``."""
        if not self.recommendations:
            self.recommendations.append((current_replicas, now))

    def stabilize_legacy(self, desired: int, now: float, window_seconds: float) -> int:
        """``stabilizeRecommendation``: the highest recommendation of the window (this one included)
        is applied, and this one replaces a sample older than the window."""
        highest = desired
        old: int | None = None
        cutoff = now - window_seconds
        for index, (recommendation, at) in enumerate(self.recommendations):
            if at < cutoff:
                old = index
            elif recommendation > highest:
                highest = recommendation
        self._store((desired, now), old)
        return highest

    def stabilize(self, current: int, desired: int, now: float, up: Rules, down: Rules) -> int:
        """``stabilizeRecommendationWithBehaviors``: the count moves only as far as every
        recommendation of the scale-up window (up to their lowest) and of the scale-down window
        (down to their highest) agrees."""
        up_cutoff, down_cutoff = now - up.stabilization_window_seconds, now - down.stabilization_window_seconds
        up_limit = down_limit = desired
        old: int | None = None
        for index, (recommendation, at) in enumerate(self.recommendations):
            if at > up_cutoff:
                up_limit = min(recommendation, up_limit)
            if at > down_cutoff:
                down_limit = max(recommendation, down_limit)
            if at < up_cutoff and at < down_cutoff:
                old = index
        self._store((desired, now), old)
        return min(max(current, up_limit), down_limit)

    def _store(self, sample: tuple[int, float], old: int | None) -> None:
        if old is None:
            self.recommendations.append(sample)
        else:
            self.recommendations[old] = sample

    def store_scale_event(self, behavior: Behavior | None, up: Rules, down: Rules, previous: int, new: int,
                          now: float) -> None:
        """``storeScaleEvent``: kept only for HPAs with a ``behavior``, reusing a slot older than
        the direction's longest policy period."""
        if behavior is None:
            return
        if new > previous:
            events, change, rules = self.scale_up_events, new - previous, up
        else:
            events, change, rules = self.scale_down_events, previous - new, down
        longest = max((policy.period_seconds for policy in rules.policies), default=0)
        old: int | None = None
        for index, event in enumerate(events):
            if event.at < now - longest:
                event.outdated = True
            if event.outdated:
                old = index
        if old is None:
            events.append(_Event(change, now))
        else:
            events[old] = _Event(change, now)

    def changed_within(self, events: list[_Event], period_seconds: int, now: float) -> int:
        """``getReplicasChangePerPeriod``."""
        return sum(event.change for event in events if event.at > now - period_seconds)


def scale_up_limit(recommender: Recommender, current: int, rules: Rules, now: float) -> int:
    """``calculateScaleUpLimitWithScalingRules``: the most replicas the policies allow, counted from
    the replicas at the start of each policy's period."""
    if rules.select_policy == "Disabled":
        return current
    pick, result = (min, 2**31 - 1) if rules.select_policy == "Min" else (max, -(2**31))
    for policy in rules.policies:
        start = (current - recommender.changed_within(recommender.scale_up_events, policy.period_seconds, now)
                 + recommender.changed_within(recommender.scale_down_events, policy.period_seconds, now))
        if policy.type == "Pods":
            proposed = start + policy.value
        else:
            # rounded up, or a small percentage of few pods would never add one
            proposed = math.ceil(start * (1 + policy.value / 100))
        result = pick(result, proposed)
    return result


def scale_down_limit(recommender: Recommender, current: int, rules: Rules, now: float) -> int:
    """``calculateScaleDownLimitWithBehaviors``: the fewest replicas the policies allow."""
    if rules.select_policy == "Disabled":
        return current
    pick, result = (max, -(2**31)) if rules.select_policy == "Min" else (min, 2**31 - 1)
    for policy in rules.policies:
        start = (current - recommender.changed_within(recommender.scale_up_events, policy.period_seconds, now)
                 + recommender.changed_within(recommender.scale_down_events, policy.period_seconds, now))
        if policy.type == "Pods":
            proposed = start - policy.value
        else:
            proposed = int(start * (1 - policy.value / 100))  # Go's int32() truncates
        result = pick(result, proposed)
    return result


def normalize_with_behavior(recommender: Recommender, *, current: int, desired: int, min_replicas: int,
                            max_replicas: int, up: Rules, down: Rules, now: float) -> int:
    """``normalizeDesiredReplicasWithBehaviors``: stabilise, then ``convertDesiredReplicasWithBehaviorRate``."""
    desired = recommender.stabilize(current, desired, now, up, down)
    if desired > current:
        limit = max(scale_up_limit(recommender, current, up, now), current)
        return min(desired, min(max_replicas, limit))
    if desired < current:
        limit = min(scale_down_limit(recommender, current, down, now), current)
        return max(desired, max(min_replicas, limit))
    return desired


def normalize_legacy(recommender: Recommender, *, current: int, desired: int, min_replicas: int, max_replicas: int,
                     downscale_stabilization_seconds: float, now: float) -> int:
    """``normalizeDesiredReplicas``: ``stabilizeRecommendation``, then ``convertDesiredReplicasWithRules``."""
    desired = recommender.stabilize_legacy(desired, now, downscale_stabilization_seconds)
    # the bound guards against a bogus usage report multiplying the replicas (kubernetes#32304)
    limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    highest = min(max_replicas, limit)
    if desired < min_replicas:
        return min_replicas
    return min(desired, highest)
