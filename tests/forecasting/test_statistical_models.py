"""Holt-Winters and ARIMA on synthetic series of known structure: seasonality, trend, level
shifts after ``update``, short and gappy histories, downsampling, honest intervals."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest
from statsmodels.tools.sm_exceptions import ConvergenceWarning  # type: ignore[import-untyped]
from statsmodels.tsa.exponential_smoothing.ets import ETSModel  # type: ignore[import-untyped]

from forecasting.core import (
    DAY_SECONDS,
    WEEK_SECONDS,
    ForecastError,
    NotEnoughData,
    Series,
)
from forecasting.models import arima
from forecasting.models.arima import Arima
from forecasting.models.holt_winters import (
    HoltWinters,
    bucket_factor,
    bucket_forecast,
    coarse_steps,
    downsample,
    recorded_warnings,
    to_series_step,
)

ORIGIN = 1_700_000_000.0
MODELS = [HoltWinters, Arima]
Model = type[HoltWinters] | type[Arima]


def daily(times: np.ndarray) -> np.ndarray:
    return 100 + 40 * np.sin(2 * np.pi * times / DAY_SECONDS)


def series(step: float, days: float, *, noise: float = 2.0, seed: int = 0, start: float = ORIGIN) -> Series:
    times = start + step * np.arange(int(days * DAY_SECONDS / step))
    rng = np.random.default_rng(seed)
    return Series(daily(times) + rng.normal(0, noise, times.shape[0]), step, start)


@pytest.mark.parametrize("cls", MODELS)
def test_daily_seasonality_is_recovered_at_a_minute_step(cls: Model) -> None:
    history = series(60.0, 7)
    result = cls().fit(history).predict(180)  # the next three hours: the sine moves by ~28
    np.testing.assert_allclose(result.mean, daily(result.times()), atol=2.5)


@pytest.mark.parametrize("cls", MODELS)
def test_linear_trend_is_followed(cls: Model) -> None:
    step = 300.0
    steps = np.arange(int(3 * DAY_SECONDS / step) + 12)
    rng = np.random.default_rng(1)
    line = 50 + 0.5 * steps
    history = Series(line[:-12] + rng.normal(0, 1, steps.shape[0] - 12), step, ORIGIN)
    result = cls().fit(history).predict(12)
    # a flat forecast would be up to 6 below the line; a damped trend may lag a little
    np.testing.assert_allclose(result.mean, line[-12:], atol=2.0)


@pytest.mark.parametrize("cls", MODELS)
def test_level_shift_is_followed_after_update_without_refit(cls: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    step, shift = 300.0, 100.0
    full = series(step, 7.5)
    fitted_on = full.head(int(7 * DAY_SECONDS / step))
    model = cls().fit(fitted_on)

    def no_estimation(*args: object, **kwargs: object) -> None:
        raise AssertionError("update re-estimated the model")

    monkeypatch.setattr(ETSModel, "fit", no_estimation)
    monkeypatch.setattr(arima, "estimate", no_estimation)
    shifted = full.values.copy()
    shifted[len(fitted_on):] += shift
    result = model.update(Series(shifted, step, full.start)).predict(12)
    assert result.start == full.end + step
    # in phase with the sine and at the new level
    np.testing.assert_allclose(result.mean - daily(result.times()), shift, atol=0.25 * shift)


@pytest.mark.parametrize("cls", MODELS)
def test_too_few_points_is_not_enough_data(cls: Model) -> None:
    with pytest.raises(NotEnoughData):
        cls().fit(Series(np.arange(11.0), 60.0, ORIGIN))
    with pytest.raises(NotEnoughData):
        cls().fit(Series(np.r_[np.full(100, np.nan), np.arange(5.0)], 60.0, ORIGIN))


@pytest.mark.parametrize("cls", MODELS)
def test_less_than_two_days_fits_without_a_season(cls: Model) -> None:
    history = series(300.0, 1.5, noise=0.5)
    model = cls().fit(history)
    result = model.predict(6)
    assert any("less than two days" in note for note in result.notes)
    assert model.bucket_seconds == 300.0
    # near the recent values: no season, but the level and the local slope are followed
    np.testing.assert_allclose(result.mean, daily(result.times()), atol=8.0)


def test_season_is_dropped_below_two_days_and_kept_above() -> None:
    assert HoltWinters().fit(series(300.0, 1.9)).season_steps == 0
    assert HoltWinters().fit(series(300.0, 2.0)).season_steps == 96
    assert Arima().fit(series(300.0, 1.9)).seasonal_periods == ()
    assert Arima().fit(series(300.0, 2.0)).seasonal_periods == (DAY_SECONDS,)


@pytest.mark.parametrize("cls", MODELS)
def test_gaps_are_tolerated(cls: Model) -> None:
    history = series(60.0, 7)
    values = history.values.copy()
    values[3000:3300] = np.nan  # five hours: whole buckets with no data
    values[-4:-1] = np.nan
    result = cls().fit(Series(values, 60.0, history.start)).predict(60)
    np.testing.assert_allclose(result.mean, daily(result.times()), atol=4.0)


@pytest.mark.parametrize("cls", MODELS)
def test_minute_data_is_downsampled_to_quarter_hours(cls: Model) -> None:
    model = cls().fit(series(60.0, 3))
    assert model.bucket_seconds == 900.0
    assert "downsampled to 15m buckets (15 steps each)" in model.predict(3).notes
    coarse = cls().fit(series(900.0, 3))
    assert coarse.bucket_seconds == 900.0
    assert not any("downsampled" in note for note in coarse.predict(3).notes)


@pytest.mark.parametrize("cls", MODELS)
def test_deterministic_on_the_downsampled_path(cls: Model) -> None:
    history = series(60.0, 4, seed=5)
    first, second = cls().fit(history).predict(30), cls().fit(history).predict(30)
    np.testing.assert_array_equal(first.mean, second.mean)
    np.testing.assert_array_equal(first.upper, second.upper)


@pytest.mark.parametrize("cls", MODELS)
def test_interval_covers_single_steps_not_bucket_means(cls: Model) -> None:
    noise = 3.0
    full = series(60.0, 7 + 4 / 24, noise=noise, seed=7)
    fitted_on = full.head(int(7 * DAY_SECONDS / 60))
    result = cls().fit(fitted_on).predict(240)
    actual = full.values[len(fitted_on):]
    # a bucket mean's spread is noise/sqrt(15): an interval for it would cover ~63% of steps
    assert 0.8 <= np.mean(actual <= result.upper) <= 0.97
    assert 0.8 <= np.mean(actual >= result.lower) <= 0.97


def test_arima_models_the_week_given_two_weeks() -> None:
    step = 1800.0
    times = ORIGIN + step * np.arange(int(15 * DAY_SECONDS / step) + 48)
    weekly = daily(times) + 30 * np.sin(2 * np.pi * times / WEEK_SECONDS)
    noisy = weekly + np.random.default_rng(2).normal(0, 1, times.shape[0])
    model = Arima().fit(Series(noisy[:-48], step, ORIGIN))
    assert model.seasonal_periods == (DAY_SECONDS, WEEK_SECONDS)
    np.testing.assert_allclose(model.predict(48).mean, weekly[-48:], atol=4.0)


@pytest.mark.parametrize(("step", "factor"), [(1, 900), (15, 60), (60, 15), (120, 8), (300, 3), (600, 2),
                                              (900, 1), (3600, 1)])
def test_bucket_factor_keeps_a_day_within_96_whole_buckets(step: float, factor: int) -> None:
    assert bucket_factor(step) == factor
    assert (DAY_SECONDS / (step * factor)) % 1 == 0 and DAY_SECONDS / (step * factor) <= 96


def test_buckets_sit_on_an_absolute_grid() -> None:
    # starts 2 steps into a 3-step bucket: the first bucket holds one value
    start = 900.0 * 1000 + 600.0
    coarse = downsample(Series(np.array([1.0, 2.0, 3.0, 4.0, np.nan, np.nan, np.nan, 8.0]), 300.0, start), 3)
    np.testing.assert_array_equal(coarse.values, [1.0, 3.0, np.nan, 8.0])
    assert coarse.step_seconds == 900.0
    assert coarse.start == 900.0 * 1000 + 300.0  # the centre of the first bucket's three steps


def test_statsmodels_warnings_become_one_note_per_category() -> None:
    notes: list[str] = []
    with recorded_warnings(notes):
        warnings.warn("did not converge", ConvergenceWarning, stacklevel=1)
        warnings.warn("again", ConvergenceWarning, stacklevel=1)
    assert notes == ["ConvergenceWarning: did not converge"]


def test_a_non_finite_model_forecast_is_a_forecast_error() -> None:
    mean = np.array([1.0, np.nan])
    with pytest.raises(ForecastError):
        to_series_step(series(300.0, 1), 2, ORIGIN, 900.0, (mean, mean - 1, mean + 1), model="m", quantile=0.9,
                       notes=())


def simulated_arima(count: int, *, ar: tuple[float, float], ma: float, drift: float, seed: int) -> np.ndarray:
    """An ARIMA(2,1,1) path with drift: differences ``drift + v`` with ``v`` ARMA(2, 1)."""
    innovations = np.random.default_rng(seed).normal(0, 1, count + 200)
    moving = innovations.copy()
    moving[1:] += ma * innovations[:-1]
    errors = np.zeros_like(moving)
    for index in range(2, errors.shape[0]):
        errors[index] = ar[0] * errors[index - 1] + ar[1] * errors[index - 2] + moving[index]
    return 500 + np.cumsum(drift + errors[200:])


def test_arima_recovers_the_coefficients_of_a_simulated_process() -> None:
    values = simulated_arima(3000, ar=(0.5, -0.3), ma=0.4, drift=0.2, seed=3)
    known = np.ones(values.shape[0], dtype=bool)
    design = arima.regressors(ORIGIN + 300.0 * np.arange(values.shape[0]), ())
    fitted, floored = arima.estimate(values, design, known)
    np.testing.assert_allclose(fitted.ar, (0.5, -0.3), atol=0.08)
    np.testing.assert_allclose(fitted.ma, 0.4, atol=0.08)
    np.testing.assert_allclose(fitted.regression, [0.2], atol=0.1)
    np.testing.assert_allclose(fitted.variance, 1.0, atol=0.1)
    assert not floored


def test_arima_coefficients_agree_with_statsmodels_exact_likelihood() -> None:
    from statsmodels.tsa.statespace.sarimax import SARIMAX  # type: ignore[import-untyped]

    values = simulated_arima(1500, ar=(0.6, -0.3), ma=0.3, drift=0.0, seed=4)
    design = arima.regressors(ORIGIN + 300.0 * np.arange(values.shape[0]), ())
    fitted, _ = arima.estimate(values, design, np.ones(values.shape[0], dtype=bool))
    exact = SARIMAX(values, order=arima.ORDER, trend="c").fit(disp=False).params
    np.testing.assert_allclose([*fitted.ar, fitted.ma], exact[1:4], atol=0.05)


def test_a_random_walk_forecast_is_flat_with_a_widening_square_root_interval() -> None:
    values = np.array([1.0, 3.0, 2.0, 4.0, 5.0])
    times = ORIGIN + 60.0 * np.arange(values.shape[0])
    walk = arima.Coefficients(ar=(0.0, 0.0), ma=0.0, regression=np.array([0.5]), variance=4.0)
    mean, lower, upper = arima.forecast_buckets(values, times, np.ones(5, dtype=bool), (), walk, 4, 0.9)
    np.testing.assert_allclose(mean, 5.0 + 0.5 * np.arange(1, 5))
    np.testing.assert_allclose(upper - mean, 1.2815515655446004 * 2.0 * np.sqrt(np.arange(1, 5)))
    np.testing.assert_allclose(mean - lower, upper - mean)


def test_arima_holds_the_ma_floor_on_a_steady_seasonal_history() -> None:
    model = Arima().fit(series(60.0, 7, seed=8))
    assert "MA(1) held at -0.95 so the level keeps adapting" in model.predict(4).notes


def electricity_like(start: float, steps: int) -> Series:
    """Smooth half-hourly demand: a two-peak daily profile, lower at weekends, no noise."""
    step = 1800.0
    times = start + step * np.arange(steps)
    day = 2 * np.pi * np.mod(times, DAY_SECONDS) / DAY_SECONDS
    weekend = (times // DAY_SECONDS + 3) % 7 >= 5  # day 0 of Unix time was a Thursday
    profile = 30000 + 6000 * np.sin(day - 2) + 2500 * np.sin(2 * day)
    return Series(profile * np.where(weekend, 0.9, 1.0), step, start)


def test_holt_winters_fits_a_smooth_seasonal_series_at_every_origin() -> None:
    # the level's weight reaches its ceiling at some of these origins: at 1, statsmodels' seasonal
    # weight divides by zero and the forecast is NaN
    for offset in range(144, 264, 24):
        full = electricity_like(ORIGIN + 1800.0 * offset, 7 * 48 + 4)
        result = HoltWinters().fit(full.head(7 * 48)).predict(4)
        assert np.isfinite(result.upper).all()
        # within the weekend's step of 10 %, which a daily season cannot foresee
        np.testing.assert_allclose(result.mean, full.values[-4:], rtol=0.12)


@pytest.mark.parametrize(("days", "horizon"), [(7.0, 9), (3.0, 2 * 24 * 60), (1.5, 30)])
def test_holt_winters_forecasts_what_statsmodels_predicts_to_the_bit(days: float, horizon: int) -> None:
    """The forecast is computed from the filter's last states instead of statsmodels' results
    object: its mean and interval must be statsmodels' own, beyond a season ahead too."""
    history = series(60.0, days, seed=3)
    model = HoltWinters().fit(history.head(len(history) - 100))
    model.update(history)
    coarse = downsample(history, bucket_factor(60.0)) if model.season_steps else history.tail(1000)
    season = model.season_steps
    # a pandas endog: statsmodels' get_prediction fails on plain arrays
    results = ETSModel(pd.Series(coarse.values), error="add", trend="add", damped_trend=True,
                       seasonal="add" if season else None, seasonal_periods=season or None,
                       initialization_method="heuristic").smooth(model._fitted.params)  # type: ignore[union-attr]
    steps = coarse_steps(coarse, history, horizon)
    prediction = results.get_prediction(start=len(coarse), end=len(coarse) + steps - 1)
    mean, lower, upper = bucket_forecast(model._state, steps, 0.9)  # type: ignore[arg-type]
    interval = np.asarray(prediction.pred_int(alpha=2 * (1 - 0.9)))
    assert np.array_equal(mean, prediction.predicted_mean)
    assert np.array_equal(lower, interval[:, 0]) and np.array_equal(upper, interval[:, 1])
