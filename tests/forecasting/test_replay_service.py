"""The service model: every request is served exactly once and none is lost, the SLO is broken
only by queueing, readiness follows the start-up, and scale-downs remove unready pods first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.replay.deployment import Deployment
from forecasting.replay.service import ServiceSettings, serve

rates = st.floats(min_value=0, max_value=1e4, allow_nan=False)


@settings(deadline=None, max_examples=200)
@given(st.lists(st.tuples(rates, rates), min_size=1, max_size=50), st.floats(min_value=0.1, max_value=60))
def test_requests_are_conserved(ticks: list[tuple[float, float]], seconds: float) -> None:
    queue = arrived = served = 0.0
    for rate, capacity in ticks:
        flow = serve(queue, rate, capacity, seconds, budget=0.1)
        assert flow.queue_end >= 0 and 0 <= flow.late <= flow.arrived * (1 + 1e-12)
        assert flow.served <= capacity * seconds * (1 + 1e-12)
        arrived, served, queue = arrived + flow.arrived, served + flow.served, flow.queue_end
    assert served + queue == pytest.approx(arrived, rel=1e-9, abs=1e-6)


def test_enough_capacity_and_no_backlog_serves_everything_in_time() -> None:
    flow = serve(0.0, 80.0, 100.0, 15.0, budget=0.1)
    assert (flow.served, flow.late, flow.queue_end) == (1200.0, 0.0, 0.0)


def test_queued_requests_are_served_later_not_lost() -> None:
    overloaded = serve(0.0, 150.0, 100.0, 10.0, budget=0.1)
    assert overloaded.queue_end == pytest.approx(500.0)
    drained = serve(overloaded.queue_end, 50.0, 100.0, 10.0, budget=0.1)
    assert drained.served == pytest.approx(1000.0) and drained.queue_end == 0.0


def test_arrivals_are_late_once_the_backlog_exceeds_the_budget() -> None:
    """The backlog grows at 50/s from 0; past c·budget = 100 × 0.1 = 10 requests (at 0.2 s) every
    arrival waits longer than the budget."""
    flow = serve(0.0, 150.0, 100.0, 10.0, budget=0.1)
    assert flow.late == pytest.approx(150.0 * (10.0 - 0.2))


def test_a_draining_backlog_is_late_until_it_falls_below_the_budget() -> None:
    """100 queued, draining at 50/s: late until it is down to 10, i.e. for 1.8 s."""
    flow = serve(100.0, 50.0, 100.0, 10.0, budget=0.1)
    assert flow.late == pytest.approx(50.0 * 1.8)


def test_no_ready_replica_makes_every_arrival_late() -> None:
    assert serve(0.0, 5.0, 0.0, 15.0, budget=0.1).late == pytest.approx(75.0)


def test_a_new_replica_serves_only_after_the_start_up() -> None:
    deployment = Deployment(2, startup_ticks=12)
    deployment.scale_to(5, 10)
    assert [deployment.ready(tick) for tick in (10, 21, 22)] == [2, 2, 5]
    assert deployment.replicas == 5


def test_scale_down_removes_pods_still_starting_first() -> None:
    deployment = Deployment(3, startup_ticks=12)
    deployment.scale_to(5, 10)
    deployment.scale_to(4, 11)
    assert deployment.ready(30) == 4 and deployment.ready(15) == 3
    deployment.scale_to(2, 12)
    assert deployment.ready(12) == 2


def test_pods_still_starting_are_running_but_not_ready() -> None:
    deployment = Deployment(1, startup_ticks=12)
    deployment.scale_to(2, 4)
    assert [pod.ready for pod in deployment.pods(10, 15.0)] == [True, False]


def test_settings_refuse_a_service_latency_beyond_the_slo() -> None:
    with pytest.raises(ValueError, match="below the SLO"):
        ServiceSettings(capacity_per_replica=10, startup_seconds=180, slo_latency_seconds=0.2,
                        service_latency_seconds=0.3)


def test_power_rises_with_utilisation_between_idle_and_max() -> None:
    service = ServiceSettings(capacity_per_replica=10, startup_seconds=180)
    assert [service.gpu_watts(u) for u in (0.0, 0.5, 1.0)] == [100.0, 400.0, 700.0]
