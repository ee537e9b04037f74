"""The cost-versus-SLO frontier of a family of replays, and how two families compare on it.

Each replay of one configuration gives a :class:`Point`: the GPU-hours it ran and the share of
requests served over the SLO. A family's frontier is its Pareto front towards the lower left: the
points no other point of the family dominates (as cheap or cheaper, and as few or fewer requests
over the SLO, and strictly better on one of the two). Of identical points the first given is kept.
A frontier is ordered by GPU-hours, rising, so its shares strictly fall.

Between two frontier points the family is taken to trade GPU-hours for share linearly (mixing two
configurations over time would), so the comparison reads the other family's frontier by linear
interpolation, and nothing outside its range: there it says None rather than extrapolate, except
that with more GPU-hours than its dearest point a family reaches at least that point's share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Point:
    gpu_hours: float
    slo_violation_share: float
    config: Mapping[str, object] = field(default_factory=dict, compare=False)
    """The configuration replayed (its knobs by name)."""


def frontier(points: Iterable[Point]) -> tuple[Point, ...]:
    """The points not dominated by another, by GPU-hours rising (shares strictly falling)."""
    ordered = sorted(enumerate(points), key=lambda item: (item[1].gpu_hours, item[1].slo_violation_share, item[0]))
    kept: list[Point] = []
    for _, point in ordered:
        if not kept or point.slo_violation_share < kept[-1].slo_violation_share:
            kept.append(point)
    return tuple(kept)


def gpu_hours_at_share(front: Sequence[Point], share: float) -> float | None:
    """GPU-hours along ``front`` (a :func:`frontier`) at ``share``, linearly between its points;
    None when ``share`` is outside the shares it covers."""
    if not front or not front[-1].slo_violation_share <= share <= front[0].slo_violation_share:
        return None
    for low, high in zip(front, front[1:], strict=False):  # low is cheaper, with the higher share
        if high.slo_violation_share <= share <= low.slo_violation_share:
            return _between(share, low.slo_violation_share, high.slo_violation_share, low.gpu_hours, high.gpu_hours)
    return front[0].gpu_hours  # a single point, at exactly its share


def share_at_gpu_hours(front: Sequence[Point], gpu_hours: float) -> float | None:
    """Share over the SLO along ``front`` at ``gpu_hours``, linearly between its points; past
    its dearest point, that point's share (reached with fewer GPU-hours); None below its
    cheapest point."""
    if not front or gpu_hours < front[0].gpu_hours:
        return None
    if gpu_hours >= front[-1].gpu_hours:
        return front[-1].slo_violation_share
    for low, high in zip(front, front[1:], strict=False):
        if low.gpu_hours <= gpu_hours <= high.gpu_hours:
            return _between(gpu_hours, low.gpu_hours, high.gpu_hours, low.slo_violation_share,
                            high.slo_violation_share)
    return front[0].slo_violation_share


def _between(x: float, x0: float, x1: float, y0: float, y1: float) -> float:
    if x == x0 or x0 == x1:
        return y0
    if x == x1:
        return y1
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class Comparison:
    """Predictive against one point of reactive's frontier, both ways."""

    slo_violation_share: float
    reactive_gpu_hours: float
    predictive_gpu_hours: float | None
    """What predictive's frontier needs for the same share; None outside its shares."""
    predictive_slo_violation_share: float | None
    """The share predictive's frontier reaches with the same GPU-hours; None below its cheapest point."""


def compare(reactive: Sequence[Point], predictive: Sequence[Point]) -> tuple[Comparison, ...]:
    """One comparison per point of reactive's frontier (by GPU-hours rising); both families are
    reduced to their frontiers first."""
    reactive_front, predictive_front = frontier(reactive), frontier(predictive)
    return tuple(
        Comparison(point.slo_violation_share, point.gpu_hours,
                   gpu_hours_at_share(predictive_front, point.slo_violation_share),
                   share_at_gpu_hours(predictive_front, point.gpu_hours))
        for point in reactive_front
    )
