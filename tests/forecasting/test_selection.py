"""Selection by rolling-origin backtest, its asymmetric loss, and the schedule it runs on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

import numpy as np
import pytest

from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.core import (
    DAY_SECONDS,
    FloatArray,
    ForecastError,
    Model,
    NotEnoughData,
    Series,
)
from forecasting.schedule import Schedule, due
from forecasting.selection import AsymmetricLoss, select

from .tiny_models import Rule, rule

HOUR = 3600.0
BASELINES: dict[str, Callable[[], Model]] = {"persistence": Persistence, "seasonal_naive": SeasonalNaive}


def daily_pattern(days: int = 10) -> Series:
    """A pure repeating day at an hourly step: seasonal naive is exact, persistence is not."""
    pattern = np.random.default_rng(1).uniform(10, 100, 24)
    return Series(np.tile(pattern, days), HOUR, 0.0)


def test_a_pure_repeating_pattern_selects_seasonal_naive() -> None:
    result = select(daily_pattern(), factories=BASELINES, lead_steps=1)
    assert result.name == "seasonal_naive"
    assert result.scores["seasonal_naive"] == 0.0 < result.scores["persistence"]


def test_a_random_walk_selects_persistence() -> None:
    walk = Series(1000 + np.cumsum(np.random.default_rng(2).normal(0, 5, 240)), HOUR, 0.0)
    assert select(walk, factories=BASELINES, lead_steps=1).name == "persistence"


def test_ties_go_to_the_simpler_model() -> None:
    constant = Series(np.full(240, 7.0), HOUR, 0.0)
    factories = {"mean": rule("mean", lambda v: float(v.mean())), **BASELINES}
    result = select(constant, factories=factories, lead_steps=2)
    assert result.scores == {"persistence": 0.0, "seasonal_naive": 0.0, "mean": 0.0}
    assert result.name == "persistence"


@pytest.mark.parametrize(("bad", "reason"), [
    (lambda v: 1e6, "absurd"),
    (lambda v: -float(v.max()), "negative"),
    (lambda v: float(np.linalg.inv(np.zeros((2, 2)))[0, 0]), "error"),
])
def test_a_failing_candidate_is_never_selected(bad: Callable[[FloatArray], float], reason: str) -> None:
    # the failing candidate is listed first, so only failing keeps it from being picked on a tie
    constant = Series(np.full(240, 7.0), HOUR, 0.0)
    factories = {"bad": rule("bad", bad), "persistence": Persistence}
    result = select(constant, factories=factories, lead_steps=1)
    assert result.name == "persistence"
    assert result.errors == {"bad": reason} and "bad" not in result.scores


def test_every_candidate_failing_raises() -> None:
    with pytest.raises(ForecastError, match="every candidate failed"):
        select(daily_pattern(), factories={"bad": rule("bad", lambda v: 1e9)}, lead_steps=1)


def test_too_short_a_series_raises_not_enough_data() -> None:
    with pytest.raises(NotEnoughData):
        select(Series(np.ones(3), HOUR, 0.0), factories=BASELINES, lead_steps=2)


def test_asymmetric_weights_change_the_choice() -> None:
    # "low" misses by 1 below, "high" by 2 above: symmetric prefers low, under weight 3 prefers high
    constant = Series(np.full(240, 10.0), HOUR, 0.0)
    factories = {"low": rule("low", lambda v: float(v[-1]) - 1), "high": rule("high", lambda v: float(v[-1]) + 2)}
    symmetric = select(constant, factories=factories, lead_steps=1, loss=AsymmetricLoss(under_weight=1.0))
    cautious = select(constant, factories=factories, lead_steps=1, loss=AsymmetricLoss(under_weight=3.0))
    assert (symmetric.name, symmetric.scores) == ("low", {"low": 1.0, "high": 2.0})
    assert (cautious.name, cautious.scores) == ("high", {"low": 3.0, "high": 2.0})


def test_asymmetric_loss_by_hand_skips_nan_actuals() -> None:
    loss = AsymmetricLoss(under_weight=3.0, over_weight=1.0)
    actual, point = np.array([10.0, 10.0, np.nan]), np.array([8.0, 11.0, 0.0])
    assert loss(actual, point) == pytest.approx((3 * 2 + 1 * 1) / 2)


def test_the_window_is_scored_after_the_lead() -> None:
    # a ramp: persistence misses t + lead by lead steps, and the window adds later, larger misses
    ramp = Series(np.arange(240.0), HOUR, 0.0)
    loss = AsymmetricLoss(under_weight=1.0)
    assert select(ramp, factories=BASELINES, lead_steps=3, loss=loss).scores["persistence"] == 3.0
    assert select(ramp, factories=BASELINES, lead_steps=3, window_steps=2, loss=loss).scores["persistence"] == 4.0


def test_the_lead_error_is_the_mean_absolute_error_at_the_lead_alone() -> None:
    # on a ramp persistence misses t + lead by lead steps whatever the window; the loss weighs it
    ramp = Series(np.arange(240.0), HOUR, 0.0)
    selection = select(ramp, factories=BASELINES, lead_steps=3, window_steps=2)
    assert selection.lead_errors["persistence"] == 3.0
    assert selection.scores["persistence"] == 12.0  # three times the window's mean miss of 4
    assert set(selection.lead_errors) == set(selection.scores)


def test_each_forecast_uses_only_data_up_to_its_origin() -> None:
    seen: list[tuple[str, float]] = []

    class Spy(Rule):
        def fit(self, series: Series) -> Self:
            seen.append(("fit", series.end))
            return super().fit(series)

        def update(self, series: Series) -> Self:
            seen.append(("update", series.end))
            return super().update(series)

    series = daily_pattern()
    schedule = Schedule(selection_lookback_seconds=DAY_SECONDS, selection_origins=6)
    select(series, factories={"spy": lambda: Spy("spy", lambda v: float(v[-1]))}, lead_steps=2, schedule=schedule)
    ends = [end for _, end in seen]
    assert [kind for kind, _ in seen] == ["fit"] + ["update"] * 5
    # the targets cover the last day; the last origin leaves exactly the lead to score after it
    assert ends == sorted(ends) and ends[-1] == series.end - 2 * HOUR
    assert ends[0] + 2 * HOUR == series.end - DAY_SECONDS + HOUR


def test_each_candidate_is_fit_once_then_only_updated() -> None:
    fits: list[float] = []

    class Counting(Rule):
        def fit(self, series: Series) -> Self:
            fits.append(series.end)
            return super().fit(series)

    schedule = Schedule(selection_lookback_seconds=DAY_SECONDS, selection_origins=12)
    select(daily_pattern(), factories={"counting": lambda: Counting("counting", lambda v: float(v[-1]))},
           lead_steps=1, schedule=schedule)
    assert len(fits) == 1


def test_due_is_aligned_to_wall_clock_multiples() -> None:
    assert due(None, 5.0, HOUR)
    assert due(HOUR - 1, HOUR, HOUR)
    assert not due(HOUR, 2 * HOUR - 1, HOUR)
    # replicas that last ran at different moments agree on the next deadline
    assert [due(last, 2 * HOUR, HOUR) for last in (HOUR + 1, 2 * HOUR - 1)] == [True, True]
    assert [due(last, 2 * HOUR - 1, HOUR) for last in (HOUR + 1, HOUR + 1000)] == [False, False]


def test_schedule_rejects_non_positive_periods() -> None:
    with pytest.raises(ValueError, match="refit_every_seconds"):
        Schedule(refit_every_seconds=0)
    with pytest.raises(ValueError, match="learned_refit_every_seconds"):
        Schedule(learned_refit_every_seconds=float("nan"))


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (lambda v: float(v[-2:].mean()), "candidate"),  # half persistence's loss: clearly better
        (lambda v: float(v[-1]) + 0.1, "persistence"),  # 0.5 % better: within the margin
    ],
)
def test_a_model_replaces_a_simpler_one_only_by_a_clear_margin(
    candidate: Callable[[FloatArray], float], expected: str
) -> None:
    alternating = Series(np.tile([10.0, 20.0], 120), HOUR, 0.0)
    factories = {"persistence": Persistence, "candidate": rule("candidate", candidate)}
    result = select(alternating, factories=factories, lead_steps=1)
    assert result.scores["candidate"] < result.scores["persistence"]
    assert result.name == expected
