"""The capacity per replica measured where the median p99 crosses the SLO, and the histories that
cannot show it refused rather than guessed."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.report.capacity import measure_capacity
from forecasting.report.settings import ReportError

SLO = 0.2


def samples(per_replica: np.ndarray, p99: np.ndarray, replicas: float = 4.0) -> dict[str, np.ndarray]:
    return {"requests_per_second": per_replica * replicas, "replicas": np.full(per_replica.size, replicas),
            "p99_seconds": p99}


def test_a_p99_linear_in_the_load_crosses_the_slo_at_the_capacity() -> None:
    rates = np.linspace(5.0, 15.0, 400)
    measured = measure_capacity(**samples(rates, SLO * rates / 10.0), slo_latency_seconds=SLO, name="w")
    assert measured.requests_per_second == pytest.approx(10.0, rel=1e-6)
    assert all(b.median_p99_seconds <= SLO for b in measured.bins if b.high <= 10.0)
    assert len(measured.rate_per_replica) == 400


def test_slow_outliers_and_unusable_steps_do_not_move_it() -> None:
    rates = np.linspace(5.0, 15.0, 400)
    p99 = SLO * rates / 10.0
    p99[::10] = 5.0  # one slow step in ten: a median ignores it
    history = samples(rates, p99)
    history["replicas"][::7] = np.nan
    history["requests_per_second"][::11] = 0.0  # no load: no sample
    measured = measure_capacity(**history, slo_latency_seconds=SLO, name="w")
    assert measured.requests_per_second == pytest.approx(10.0, rel=0.03)
    assert len(measured.rate_per_replica) < 400


@pytest.mark.parametrize(("p99", "problem"), [
    (0.1, "stayed within the SLO of 200 ms up to 15 requests/s per replica"),
    (0.3, "over the SLO of 200 ms even at the lowest load seen (5 requests/s per replica)"),
])
def test_a_history_that_never_crosses_the_slo_is_refused(p99: float, problem: str) -> None:
    rates = np.linspace(5.0, 15.0, 400)
    with pytest.raises(ReportError, match="give --capacity-per-replica") as refused:
        measure_capacity(**samples(rates, np.full(400, p99)), slo_latency_seconds=SLO, name="ns/app=w")
    assert str(refused.value).startswith("ns/app=w: ") and problem in str(refused.value)


def test_too_few_samples_are_refused() -> None:
    rates = np.linspace(5.0, 15.0, 8)
    with pytest.raises(ReportError, match="8 steps .* too few"):
        measure_capacity(**samples(rates, SLO * rates / 10.0), slo_latency_seconds=SLO, name="w")
