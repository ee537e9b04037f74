"""One contract, every model: what selection and the adapter rely on."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.core import (
    DAY_SECONDS,
    Forecast,
    NotEnoughData,
    NotFitted,
    Series,
    forecast,
)
from forecasting.registry import MODEL_FACTORIES, create

STEP = 300.0  # 5 minutes: 288 steps a day


def daily_series(days: float = 9, *, seed: int = 0, level: float = 100.0) -> Series:
    steps = int(days * DAY_SECONDS / STEP)
    t = np.arange(steps)
    rng = np.random.default_rng(seed)
    values = level + 40 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 3, steps)
    return Series(values, STEP, 1_700_000_000.0)


@pytest.mark.parametrize("name", sorted(MODEL_FACTORIES))
class TestContract:
    def test_fit_returns_the_model(self, name: str) -> None:
        model = create(name)
        assert model.fit(daily_series()) is model

    def test_forecast_shape_and_times(self, name: str) -> None:
        series = daily_series()
        result = forecast(create(name), series, 24)
        assert isinstance(result, Forecast)
        assert len(result) == 24
        assert result.start == series.end + STEP and result.step_seconds == STEP
        assert result.model == name

    def test_fit_then_predict_equals_forecast(self, name: str) -> None:
        series = daily_series()
        one = create(name).fit(series).predict(12, quantile=0.9)
        two = forecast(create(name), series, 12, quantile=0.9)
        np.testing.assert_array_equal(one.mean, two.mean)
        np.testing.assert_array_equal(one.upper, two.upper)

    def test_deterministic(self, name: str) -> None:
        series = daily_series(seed=3)
        first = forecast(create(name), series, 12)
        second = forecast(create(name), series, 12)
        np.testing.assert_array_equal(first.mean, second.mean)
        np.testing.assert_array_equal(first.lower, second.lower)
        np.testing.assert_array_equal(first.upper, second.upper)

    def test_intervals_nest_by_quantile(self, name: str) -> None:
        model = create(name).fit(daily_series())
        narrow, wide = model.predict(12, quantile=0.6), model.predict(12, quantile=0.95)
        assert (wide.upper >= narrow.upper - 1e-9).all()
        assert (wide.lower <= narrow.lower + 1e-9).all()
        assert (narrow.lower <= narrow.mean + 1e-9).all() and (narrow.mean <= narrow.upper + 1e-9).all()

    def test_predict_or_update_before_fit_raises(self, name: str) -> None:
        with pytest.raises(NotFitted):
            create(name).predict(3)
        with pytest.raises(NotFitted):
            create(name).update(daily_series())

    def test_update_moves_the_forecast_to_the_newer_data(self, name: str) -> None:
        full = daily_series(days=9.5)
        fitted_on = full.head(len(full) - 432)  # a day and a half of newer data
        model = create(name).fit(fitted_on)
        updated = model.update(full).predict(6)
        assert updated.start == full.end + STEP
        again = create(name).fit(fitted_on).update(full).predict(6)
        np.testing.assert_array_equal(updated.mean, again.mean)
        # the update is used: the forecast follows the newer level, not the one at the fit
        shifted = Series(np.concatenate([fitted_on.values, full.values[len(fitted_on):] + 500]), STEP, full.start)
        moved = create(name).fit(fitted_on).update(shifted).predict(6)
        assert moved.mean.mean() > updated.mean.mean() + 50

    def test_gaps_are_tolerated(self, name: str) -> None:
        values = daily_series().values.copy()
        values[100:130] = np.nan
        values[-5:-2] = np.nan
        result = forecast(create(name), Series(values, STEP, 0.0), 6)
        assert np.isfinite(result.mean).all()

    def test_too_little_data_is_a_specific_error_or_a_forecast(self, name: str) -> None:
        tiny = Series(np.array([1.0, 2.0]), STEP, 0.0)
        try:
            result = forecast(create(name), tiny, 3)
        except NotEnoughData:
            return
        assert np.isfinite(result.mean).all()

    def test_empty_series_is_not_enough_data(self, name: str) -> None:
        with pytest.raises(NotEnoughData):
            forecast(create(name), Series(np.full(50, np.nan), STEP, 0.0), 3)


def test_seasonal_naive_season_counts_only_known_history() -> None:
    """A series tracked for a week but with data for three hours has no daily season yet."""
    from forecasting.baselines import SeasonalNaive

    values = np.full(7 * 288, np.nan)
    values[-36:] = 12.0
    values[-36] = 10.0
    result = forecast(SeasonalNaive(), Series(values, STEP, 0.0), 3)
    np.testing.assert_array_equal(result.mean, [12.0, 12.0, 12.0])
