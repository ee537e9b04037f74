"""The guard: which forecasts are refused and why, and what replaces them."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.baselines import SeasonalNaive
from forecasting.core import Forecast, NotEnoughData, Series
from forecasting.guard import Guarded, check, guarded, screen

RECENT = Series(np.array([10.0, 50.0, 100.0, 40.0]), 60.0, 0.0)


def flat(value: float, *, upper: float | None = None) -> Forecast:
    top = value if upper is None else upper
    return Forecast("test", RECENT.end + 60.0, 60.0, np.full(3, value), np.full(3, min(value, 0.0)),
                    np.full(3, top), 0.9)


def test_a_forecast_within_the_recent_range_passes() -> None:
    assert check(flat(80.0, upper=120.0), RECENT) is None


def test_non_finite_is_refused() -> None:
    forecast = flat(80.0)
    # Forecast refuses NaN itself; the guard still checks what it is handed
    object.__setattr__(forecast, "upper", np.array([80.0, np.nan, 80.0]))
    assert check(forecast, RECENT) == "non-finite"


def test_clearly_negative_is_refused_but_rounding_below_zero_passes() -> None:
    assert check(flat(-10.0), RECENT) == "negative"  # past 5 % of the recent max (100)
    assert check(flat(-1.0), RECENT) is None


def test_above_ten_times_the_recent_max_is_absurd() -> None:
    assert check(flat(80.0, upper=1001.0), RECENT) == "absurd"
    assert check(flat(80.0, upper=999.0), RECENT) is None


def test_after_an_all_zero_history_any_demand_is_absurd() -> None:
    zeros = Series(np.zeros(5), 60.0, 0.0)
    assert check(flat(0.0), zeros) is None
    assert check(flat(0.5), zeros) == "absurd"


def test_no_known_recent_value_leaves_the_range_unchecked() -> None:
    unknown = Series(np.full(4, np.nan), 60.0, 0.0)
    assert check(flat(1e9), unknown) is None


def test_screen_names_the_reason_a_model_failed() -> None:
    def too_short() -> Forecast:
        raise NotEnoughData("too short")

    def singular() -> Forecast:
        raise np.linalg.LinAlgError("singular matrix")

    assert screen(too_short, RECENT) == "not-enough-data"
    assert screen(singular, RECENT) == "error"
    assert screen(lambda: flat(-50.0), RECENT) == "negative"


def test_screen_lets_a_bug_propagate() -> None:
    def bug() -> Forecast:
        raise TypeError("a bug, not a model failure")

    with pytest.raises(TypeError):
        screen(bug, RECENT)


def test_guarded_keeps_a_good_forecast() -> None:
    good = flat(80.0)
    result = guarded(lambda: good, RECENT, 3)
    assert result == Guarded(good, None) and not result.replaced


def test_guarded_replaces_a_bad_forecast_by_seasonal_naive_and_says_why() -> None:
    result = guarded(lambda: flat(5000.0), RECENT, 3)
    expected = SeasonalNaive().fit(RECENT).predict(3)
    assert result.replaced and result.reason == "absurd"
    np.testing.assert_array_equal(result.forecast.mean, expected.mean)
    assert result.forecast.model == "seasonal_naive"


def test_guarded_uses_the_fallback_given() -> None:
    replacement = flat(42.0)
    result = guarded(lambda: flat(-50.0), RECENT, 3, fallback=lambda: replacement)
    assert result.forecast is replacement and result.reason == "negative"
