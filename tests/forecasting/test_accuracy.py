"""Accuracy metrics against values computed by hand; NaN actuals are no data, never zero."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting.accuracy import mae, mase, naive_scale, pinball, under_forecast_rate
from forecasting.core import DAY_SECONDS, Series

NAN = math.nan


def test_mae_by_hand() -> None:
    assert mae([1.0, 2.0, 4.0], [2.0, 2.0, 1.0]) == pytest.approx((1 + 0 + 3) / 3)


def test_mae_ignores_nan_actuals_instead_of_reading_zero() -> None:
    # read as zero, the NaN would add |0 - 100| = 100
    assert mae([1.0, NAN, 4.0], [2.0, 100.0, 1.0]) == pytest.approx(2.0)


def test_metrics_refuse_no_known_actual() -> None:
    with pytest.raises(ValueError, match="no known actual"):
        mae([NAN, NAN], [1.0, 2.0])


def test_metrics_refuse_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="shape"):
        under_forecast_rate([1.0, 2.0], [1.0])


def test_mase_divides_mae_by_the_scale() -> None:
    assert mase([1.0, 2.0, 4.0], [2.0, 2.0, 1.0], scale=2.0) == pytest.approx(4 / 3 / 2)


def test_mase_with_a_constant_history() -> None:
    assert mase([3.0], [3.0], scale=0.0) == 0.0
    assert mase([3.0], [4.0], scale=0.0) == math.inf


def test_naive_scale_is_persistence_at_the_lead_without_a_season() -> None:
    short = Series(np.array([1.0, 3.0, 6.0, 10.0]), 60.0, 0.0)
    assert naive_scale(short, 1) == pytest.approx((2 + 3 + 4) / 3)
    assert naive_scale(short, 2) == pytest.approx((5 + 7) / 2)


def test_naive_scale_uses_the_daily_season_with_two_days() -> None:
    # 6-hour steps: a day is 4 steps; two days of data make seasonal naive use the day
    two_days = Series(np.array([0.0, 1.0, 2.0, 3.0, 1.0, 1.0, 2.0, 5.0]), DAY_SECONDS / 4, 0.0)
    assert naive_scale(two_days, 1) == pytest.approx((1 + 0 + 0 + 2) / 4)
    with pytest.raises(ValueError, match="not longer than the lag"):
        naive_scale(two_days, 5)  # reaching two seasons back needs more than two days


def test_naive_scale_skips_pairs_with_no_data() -> None:
    gappy = Series(np.array([1.0, NAN, 6.0, 10.0]), 60.0, 0.0)
    assert naive_scale(gappy, 1) == pytest.approx(4.0)


def test_pinball_by_hand() -> None:
    # above the bound: 0.9 × 2; below it: 0.1 × 2
    assert pinball([10.0, 0.0, NAN], [8.0, 2.0, 5.0], 0.9) == pytest.approx((1.8 + 0.2) / 2)


def test_pinball_rejects_a_quantile_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="quantile"):
        pinball([1.0], [1.0], 1.0)


def test_under_forecast_rate_by_hand() -> None:
    # 5 > 4 is short; 1 < 2 and 3 == 3 are not; the NaN is not scored
    assert under_forecast_rate([1.0, 5.0, NAN, 3.0], [2.0, 4.0, 0.0, 3.0]) == pytest.approx(1 / 3)
