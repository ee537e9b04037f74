"""Holt-Winters (additive ETS with a damped trend and a daily season) on statsmodels, and the
downsampling that makes daily seasons affordable for every statistical model here.

statsmodels estimates the parameters and runs the filter; the forecast and its exact predictive
interval are computed here from the filter's last states, by statsmodels' own formulas and in its
order of operations, so they are the same to the bit. statsmodels' results object would estimate
the parameters' covariance on every update (a numerical Hessian, about 80 % of an update's cost)
only for it to go unused: an update and forecast cost about a tenth of what they did through it.

A daily season at a 1-minute step is 1,440 seasonal states: slow to fit and poorly estimated.
So a seasonal model is fitted on bucket means (a day has at most :data:`MAX_STEPS_PER_DAY`
buckets, e.g. 15-minute buckets for 1-minute data) and its forecast is interpolated back to the
series' step. Buckets sit on a grid fixed in absolute time, so a model fitted at one origin and
updated later keeps its phase. Weekly structure is left to the ARIMA model's weekly Fourier
terms: a weekly season here would need 7 × 96 states for little gain at minutes-ahead horizons.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Self

import numpy as np
from scipy.stats import norm  # type: ignore[import-untyped]
from statsmodels.tsa.exponential_smoothing.ets import ETSModel  # type: ignore[import-untyped]

from forecasting.core import (
    DAY_SECONDS,
    FloatArray,
    Forecast,
    ForecastError,
    NotEnoughData,
    NotFitted,
    Series,
    duration_text,
    filled,
)

MAX_STEPS_PER_DAY = 96
"""Most buckets a day may have in a seasonal fit (96: 15-minute buckets)."""
MIN_POINTS = 12
"""Fewer known values than this is not enough for any statistical model."""
RECENT_POINTS = 1000
"""Steps a non-seasonal fit keeps: older data barely moves a smoothed level and trend."""
MIN_SMOOTHING_LEVEL = 0.05
"""Floor on the level's smoothing weight. On a steady history the likelihood drives it to ~0,
which would leave the level frozen after a shift in demand; 0.05 at 15-minute buckets still
averages over about five hours, yet follows a new level within a day."""
MAX_SMOOTHING_LEVEL = 0.99
"""Ceiling on the level's smoothing weight. statsmodels estimates the seasonal weight as a share of
``1 - smoothing_level``; at exactly 1 that share divides by zero, and every state and forecast
after it is NaN. A smooth series (half-hourly electricity demand) drives the level's weight to the
ceiling at most origins; 0.99 is a random walk in all but name and keeps the season estimable."""


def bucket_factor(step_seconds: float) -> int:
    """Steps per bucket so that a day has at most ``MAX_STEPS_PER_DAY`` buckets, preferring a
    factor that divides the day evenly so the season is a whole number of buckets."""
    per_day = DAY_SECONDS / step_seconds
    least = max(1, math.ceil(per_day / MAX_STEPS_PER_DAY - 1e-9))
    whole = round(per_day)
    if abs(per_day - whole) < 1e-9:
        for factor in range(least, 2 * least + 1):
            if whole % factor == 0:
                return factor
    return least


def downsample(series: Series, factor: int) -> Series:
    """Means of ``factor`` consecutive steps on a grid fixed in absolute time; each bucket is
    timed at its centre, a bucket with no known value is NaN, and the buckets at either end may
    be partial (the newest data is too valuable to drop)."""
    if factor == 1:
        return series
    step = series.step_seconds
    first = math.floor(series.start / step + 1e-9)
    phase = series.start - first * step
    buckets = (first + np.arange(len(series))) // factor
    first_bucket = int(buckets[0])
    index = buckets - first_bucket
    known = np.isfinite(series.values)
    size = int(index[-1]) + 1
    sums = np.bincount(index[known], weights=series.values[known], minlength=size)
    counts = np.bincount(index[known], minlength=size)
    means = np.full(size, np.nan)
    np.divide(sums, counts, out=means, where=counts > 0)
    centre = first_bucket * factor * step + phase + (factor - 1) * step / 2
    return Series(means, factor * step, centre)


def within_bucket_variance(series: Series, factor: int) -> float:
    """Pooled variance of the known values around their bucket's mean.

    A bucket model forecasts bucket means, whose noise is smaller than one step's; adding this
    back keeps the interval honest for the values actually forecast, one per step.
    """
    if factor == 1:
        return 0.0
    known = np.isfinite(series.values)
    index = ((math.floor(series.start / series.step_seconds + 1e-9) + np.arange(len(series))) // factor)[known]
    values = series.values[known]
    counts = np.bincount(index - index[0])
    means = np.bincount(index - index[0], weights=values) / np.maximum(counts, 1)
    freedom = values.shape[0] - int((counts > 0).sum())
    return float(((values - means[index - index[0]]) ** 2).sum() / freedom) if freedom > 0 else 0.0


def known_count(series: Series) -> int:
    """Known values in ``series``; raises NotEnoughData below ``MIN_POINTS``."""
    count = int(np.isfinite(series.values).sum())
    if count < MIN_POINTS:
        raise NotEnoughData(f"{count} known values; at least {MIN_POINTS} are needed")
    return count


def coarse_steps(coarse: Series, series: Series, horizon: int) -> int:
    """Bucket forecasts needed so that the bucket centres span the last target step."""
    last_target = series.end + horizon * series.step_seconds
    first_centre = coarse.end + coarse.step_seconds
    return max(2, math.ceil((last_target - first_centre) / coarse.step_seconds - 1e-9) + 1)


def to_series_step(
    series: Series,
    horizon: int,
    coarse_start: float,
    coarse_step: float,
    bounds: tuple[FloatArray, FloatArray, FloatArray],
    *,
    model: str,
    quantile: float,
    notes: tuple[str, ...],
    within_variance: float = 0.0,
) -> Forecast:
    """Map a bucket forecast (``mean, lower, upper`` at bucket centres) onto the series' step.

    The mean is interpolated linearly (extrapolated along the first two buckets for targets
    before the first centre); the interval half-widths are interpolated separately and held at
    the ends, so the interval always contains the mean and widens with the quantile. The
    intervals are Gaussian, so ``within_variance`` (the spread of single steps around their
    bucket's mean) is added to the bucket forecast's variance.
    """
    mean, lower, upper = bounds
    if not (np.isfinite(mean).all() and np.isfinite(lower).all() and np.isfinite(upper).all()):
        raise ForecastError(f"{model}: statsmodels produced a non-finite forecast")
    centres = coarse_start + coarse_step * np.arange(mean.shape[0], dtype=np.float64)
    start = series.end + series.step_seconds
    times = start + series.step_seconds * np.arange(horizon, dtype=np.float64)
    slope = (mean[1] - mean[0]) / coarse_step
    point = np.where(times < centres[0], mean[0] + (times - centres[0]) * slope, np.interp(times, centres, mean))
    extra = NormalDist().inv_cdf(quantile) ** 2 * within_variance
    below = np.sqrt(np.interp(times, centres, np.maximum(mean - lower, 0.0)) ** 2 + extra)
    above = np.sqrt(np.interp(times, centres, np.maximum(upper - mean, 0.0)) ** 2 + extra)
    return Forecast(model, start, series.step_seconds, point, point - below, point + above, quantile, notes=notes)


@contextmanager
def recorded_warnings(notes: list[str]) -> Iterator[None]:
    """Record statsmodels' warnings locally (never process-wide) and add one note per category."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        note = f"{warning.category.__name__}: {str(warning.message).splitlines()[0][:120]}"
        if not any(existing.startswith(f"{warning.category.__name__}:") for existing in notes):
            notes.append(note)


@dataclass(frozen=True)
class _Fitted:
    """What a fit decided and estimated; ``update`` reuses all of it."""

    factor: int
    season: int
    params: FloatArray
    """statsmodels' parameters: the smoothing weights, then the damping."""
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Filtered:
    """The filter's states after the last bucket, and what a forecast from them needs."""

    level: float
    trend: float
    seasonal: FloatArray
    """The last ``season`` seasonal states, oldest first (none without a season)."""
    mse: float
    """Mean squared one-step error over the buckets: the predictive variance's scale."""
    alpha: float
    beta: float
    gamma: float
    phi: float


def ets_model(coarse: Series, season: int) -> Any:
    """statsmodels' model of ``coarse``, initialised by its heuristic (see
    :func:`initial_states`); the parameters' bounds matter to a fit only."""
    level, trend, seasonal = initial_states(season, heuristic_head(coarse.values, season).tobytes())
    return ETSModel(coarse.values, error="add", trend="add", damped_trend=True,
                    seasonal="add" if season else None, seasonal_periods=season or None,
                    initialization_method="known", initial_level=level, initial_trend=trend,
                    initial_seasonal=seasonal,
                    bounds={"smoothing_level": (MIN_SMOOTHING_LEVEL, MAX_SMOOTHING_LEVEL)})


def heuristic_head(values: FloatArray, season: int) -> FloatArray:
    """The values statsmodels' heuristic initialisation reads: the first ten without a season;
    with one, the first seasons, up to five (the series holds two at least)."""
    return values[: season * min(5, values.shape[0] // season)] if season else values[:10]


@functools.lru_cache(maxsize=256)
def initial_states(season: int, head: bytes) -> tuple[float, float, FloatArray | None]:
    """Level, trend and seasonal states statsmodels' heuristic starts from, given the values it
    reads (:func:`heuristic_head`). Every update of a model walked over the origins of a day, and
    every step between two bucket boundaries, starts from the same first seasons: remembered, the
    heuristic (half the cost of an update) runs once for them."""
    model = ETSModel(np.frombuffer(head), error="add", trend="add", damped_trend=True,
                     seasonal="add" if season else None, seasonal_periods=season or None,
                     initialization_method="heuristic")
    seasonal = np.array(model.initial_seasonal, dtype=np.float64) if season else None
    if seasonal is not None:
        seasonal.setflags(write=False)
    return float(model.initial_level), float(model.initial_trend), seasonal


def filtered(coarse: Series, season: int, params: FloatArray) -> _Filtered:
    """Run statsmodels' filter over ``coarse`` with ``params``, initialised as a fit initialises
    (heuristically, from the first seasons)."""
    fitted_values, states = ets_model(coarse, season).smooth(params, return_raw=True)
    residuals = coarse.values - fitted_values
    alpha, beta = float(params[0]), float(params[1])
    gamma, phi = (float(params[2]), float(params[3])) if season else (0.0, float(params[2]))
    return _Filtered(level=float(states[-1, 0]), trend=float(states[-1, 1]),
                     seasonal=states[-season:, 2].copy() if season else np.zeros(0),
                     mse=float(np.sum(residuals**2) / residuals.shape[0]), alpha=alpha, beta=beta, gamma=gamma, phi=phi)


def bucket_forecast(state: _Filtered, steps: int, quantile: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean and central ``quantile`` interval of the next ``steps`` buckets: statsmodels' forecast
    (its simulation without errors) and its exact ETS predictive variance (Hyndman and
    Athanasopoulos, class 1), term for term."""
    season = state.seasonal.shape[0]
    level, trend, phi = state.level, state.trend, state.phi
    mean = np.empty(steps)
    for step in range(steps):
        trend = trend * phi
        level = level + trend
        mean[step] = level + (float(state.seasonal[step % season]) if season else 0.0)
    variance = state.mse * relative_variance(np.arange(1.0, steps + 1.0), state, season)
    alpha = 2 * (1 - quantile)
    half = norm.ppf(1 - alpha / 2) * np.sqrt(variance)
    return mean, mean - half, mean + half


def relative_variance(h: FloatArray, state: _Filtered, season: int) -> FloatArray:
    """The ``h``-step forecast error's variance over the one-step one: statsmodels' AAdA and AAdN,
    whose terms are summed in its order so the sum is the same to the bit."""
    alpha, beta, phi = state.alpha, state.beta, state.phi
    level = 1 + alpha**2 * (h - 1)
    trend = (beta * phi * h) / ((1 - phi) ** 2) * (2 * alpha * (1 - phi) + beta * phi)
    damping = ((beta * phi * (1 - phi**h)) / ((1 - phi) ** 2 * (1 - phi**2))
               * (2 * alpha * (1 - phi**2) + beta * phi * (1 + 2 * phi - phi**h)))
    if not season:
        return level + trend - damping
    gamma, m = state.gamma, season
    k = np.asarray((h - 1) / m, dtype=int)
    seasonal = gamma * k * (2 * alpha + gamma)
    trend_and_season = ((2 * beta * gamma * phi) / ((1 - phi) * (1 - phi**m))
                        * (k * (1 - phi**m) - phi**m * (1 - phi ** (m * k))))
    return level + seasonal + trend - damping + trend_and_season


class HoltWinters:
    """Additive ETS with a damped trend and, given two days of history, an additive daily
    season on downsampled buckets; intervals are the exact ETS predictive quantiles."""

    name = "holt_winters"

    def __init__(self) -> None:
        self._fitted: _Fitted | None = None
        self._series: Series | None = None
        self._coarse: Series | None = None
        self._state: _Filtered | None = None
        self.bucket_seconds: float = 0.0
        """Step the model was fitted at (the series' step when not downsampled)."""
        self.season_steps: int = 0
        """Buckets in the daily season; 0 when fitted without a season (trend only)."""

    def fit(self, series: Series) -> Self:
        known_count(series)
        notes: list[str] = []
        factor, season = 1, 0
        if len(series) * series.step_seconds >= 2 * DAY_SECONDS:
            factor = bucket_factor(series.step_seconds)
            season = round(DAY_SECONDS / (factor * series.step_seconds))
        coarse = self._prepare(series, factor, season)
        if season and len(coarse) < max(2 * season, 10 + 2 * (season // 2)):
            factor, season = 1, 0
            coarse = self._prepare(series, factor, season)
        if factor > 1:
            notes.append(f"downsampled to {duration_text(coarse.step_seconds)} buckets ({factor} steps each)")
        if not season:
            notes.append("trend only: less than two days of history for a daily season")
        try:
            with recorded_warnings(notes):
                params = np.asarray(ets_model(coarse, season).fit(disp=False, return_params=True), dtype=np.float64)
                state = filtered(coarse, season, params)
        except (ValueError, np.linalg.LinAlgError) as error:
            raise ForecastError(f"{self.name}: fit failed: {error}") from error
        self._fitted = _Fitted(factor, season, params, tuple(notes))
        self._series, self._coarse, self._state = series, coarse, state
        self.bucket_seconds, self.season_steps = coarse.step_seconds, season
        return self

    def update(self, series: Series) -> Self:
        """Re-run the filter over ``series`` with the fitted parameters (cheap, no estimation)."""
        if self._fitted is None:
            raise NotFitted(f"{self.name}: update before fit")
        known_count(series)
        fitted = self._fitted
        coarse = self._prepare(series, fitted.factor, fitted.season)
        if fitted.season and len(coarse) < 2 * fitted.season:
            raise NotEnoughData(f"{self.name}: less than two seasons to update on")
        notes = list(fitted.notes)
        try:
            with recorded_warnings(notes):
                state = filtered(coarse, fitted.season, fitted.params)
        except (ValueError, np.linalg.LinAlgError) as error:
            raise ForecastError(f"{self.name}: update failed: {error}") from error
        self._fitted = _Fitted(fitted.factor, fitted.season, fitted.params, tuple(notes))
        self._series, self._coarse, self._state = series, coarse, state
        return self

    def predict(self, horizon: int, *, quantile: float = 0.9) -> Forecast:
        if self._fitted is None or self._series is None or self._coarse is None or self._state is None:
            raise NotFitted(f"{self.name}: predict before fit")
        series, coarse = self._series, self._coarse
        return to_series_step(series, horizon, coarse.end + coarse.step_seconds, coarse.step_seconds,
                              bucket_forecast(self._state, coarse_steps(coarse, series, horizon), quantile),
                              model=self.name, quantile=quantile, notes=self._fitted.notes,
                              within_variance=within_bucket_variance(series, self._fitted.factor))
    @staticmethod
    def _prepare(series: Series, factor: int, season: int) -> Series:
        """The series the model sees: gap-filled buckets when seasonal, else the recent steps."""
        coarse = downsample(series, factor) if season else series.tail(RECENT_POINTS)
        return Series(filled(coarse.values), coarse.step_seconds, coarse.start)

