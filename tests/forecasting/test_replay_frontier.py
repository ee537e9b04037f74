"""The frontier of a family of replays and the comparison of two, on hand-made points."""

from __future__ import annotations

import pytest

from forecasting.replay.frontier import (
    Comparison,
    Point,
    compare,
    frontier,
    gpu_hours_at_share,
    share_at_gpu_hours,
)


def points(*pairs: tuple[float, float]) -> list[Point]:
    return [Point(gpu, share, {"index": index}) for index, (gpu, share) in enumerate(pairs)]


def pairs(front: tuple[Point, ...]) -> list[tuple[float, float]]:
    return [(point.gpu_hours, point.slo_violation_share) for point in front]


@pytest.mark.parametrize(("given", "expected"), [
    ([], []),
    ([(10, 0.1)], [(10, 0.1)]),
    # already a frontier, given in any order
    ([(30, 0.01), (10, 0.1), (20, 0.05)], [(10, 0.1), (20, 0.05), (30, 0.01)]),
    # dominated: dearer and worse, dearer and as bad, as dear and worse
    ([(10, 0.1), (20, 0.2), (15, 0.1), (10, 0.3), (20, 0.05)], [(10, 0.1), (20, 0.05)]),
    # a zero share ends the frontier: nothing dearer can beat it
    ([(10, 0.1), (20, 0.0), (30, 0.0), (40, 0.0)], [(10, 0.1), (20, 0.0)]),
    # the cheapest point is kept even when it is the worst
    ([(5, 0.9), (10, 0.1)], [(5, 0.9), (10, 0.1)]),
], ids=["empty", "single", "unordered", "dominated", "zero-share", "cheapest-worst"])
def test_frontier(given: list[tuple[float, float]], expected: list[tuple[float, float]]) -> None:
    assert pairs(frontier(points(*given))) == expected


def test_of_identical_points_the_first_given_is_kept() -> None:
    front = frontier(points((10, 0.1), (10, 0.1), (5, 0.2), (10, 0.1)))
    assert pairs(front) == [(5, 0.2), (10, 0.1)]
    assert front[1].config == {"index": 0}


def test_the_config_does_not_make_points_differ() -> None:
    assert Point(1.0, 0.1, {"a": 1}) == Point(1.0, 0.1, {"a": 2})


FRONT = frontier(points((10, 0.2), (20, 0.1), (40, 0.0)))


@pytest.mark.parametrize(("share", "expected"), [
    (0.2, 10.0), (0.1, 20.0), (0.0, 40.0),  # at the points
    (0.15, 15.0), (0.05, 30.0), (0.025, 35.0),  # between them
    (0.25, None), (-0.01, None),  # outside the shares covered
])
def test_gpu_hours_at_a_share(share: float, expected: float | None) -> None:
    assert gpu_hours_at_share(FRONT, share) == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(("gpu_hours", "expected"), [
    (10, 0.2), (20, 0.1), (40, 0.0),
    (15, 0.15), (30, 0.05),
    (9.9, None), (41, 0.0),  # below the cheapest point; past the dearest, its share
])
def test_share_at_gpu_hours(gpu_hours: float, expected: float | None) -> None:
    assert share_at_gpu_hours(FRONT, gpu_hours) == (None if expected is None else pytest.approx(expected))


def test_a_single_point_answers_at_its_share_and_from_its_gpu_hours_on() -> None:
    single = frontier(points((10, 0.1)))
    assert gpu_hours_at_share(single, 0.1) == 10
    assert share_at_gpu_hours(single, 10) == 0.1
    assert gpu_hours_at_share(single, 0.09) is None and gpu_hours_at_share(single, 0.11) is None
    assert share_at_gpu_hours(single, 9) is None and share_at_gpu_hours(single, 11) == 0.1
    assert gpu_hours_at_share((), 0.1) is None and share_at_gpu_hours((), 10) is None


def test_the_comparison_reads_predictive_at_each_reactive_frontier_point_both_ways() -> None:
    reactive = points((12, 0.3), (20, 0.2), (25, 0.25), (30, 0.1), (50, 0.02))  # (25, 0.25) is dominated
    predictive = points((10, 0.2), (20, 0.1), (40, 0.0), (45, 0.05))  # (45, 0.05) is dominated
    assert compare(reactive, predictive) == (
        Comparison(0.3, 12, None, pytest.approx(0.18)),  # a share above predictive's worst
        Comparison(0.2, 20, 10.0, 0.1),
        Comparison(0.1, 30, 20.0, pytest.approx(0.05)),
        Comparison(0.02, 50, pytest.approx(36.0), 0.0),  # more GPU-hours than predictive's dearest
    )


def test_a_predictive_frontier_worse_everywhere_needs_more_gpu_hours() -> None:
    reactive = points((10, 0.2), (20, 0.1))
    predictive = points((15, 0.2), (30, 0.1))
    assert compare(reactive, predictive) == (Comparison(0.2, 10, 15.0, None), Comparison(0.1, 20, 30.0, pytest.approx(0.2 - 0.1 / 3)))


def test_comparing_with_an_empty_family() -> None:
    assert compare(points((10, 0.1)), []) == (Comparison(0.1, 10, None, None),)
    assert compare([], points((10, 0.1))) == ()
