"""ARIMA(2,1,1) with drift, with daily (and, given two weeks of history, weekly) seasonality as
Fourier regressors, estimated by conditional sum of squares.

A seasonal ARIMA with a 96- or 1,440-step season does not fit in useful time; a few sine/cosine
pairs of absolute time describe a smooth daily or weekly shape with a handful of coefficients,
and because their phase comes from Unix time, a model fitted at one origin and updated later
stays in phase. Seasonal fits run on the same downsampled buckets as Holt-Winters. The order is
fixed (no automatic search: it costs seconds to minutes per series).

Estimation is the conditional-sum-of-squares method of R's and statsforecast's ``arima``, as a
regression with ARMA(2, 1) errors on the differenced buckets. For given ARMA coefficients the
residuals are a linear filter of the data (:func:`scipy.signal.lfilter`, in C), so the drift and
Fourier coefficients are solved by least squares inside the objective and only three numbers are
searched, in a box: the AR part by its partial autocorrelations (always stationary), the MA part
short of −1, then held at :data:`MIN_MA`. A fit costs milliseconds where statsmodels' exact
likelihood with numerical gradients cost hundreds, and ``update`` only re-runs the filter. Missing
buckets are filled linearly for the filter, and the residuals that rest on a filled bucket are
left out of the sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Self

import numpy as np
from scipy.optimize import minimize  # type: ignore[import-untyped]
from scipy.signal import lfilter  # type: ignore[import-untyped]

from forecasting.core import (
    DAY_SECONDS,
    WEEK_SECONDS,
    FloatArray,
    Forecast,
    ForecastError,
    NotEnoughData,
    NotFitted,
    Series,
    duration_text,
    filled,
)
from forecasting.models.holt_winters import (
    RECENT_POINTS,
    bucket_factor,
    coarse_steps,
    downsample,
    known_count,
    to_series_step,
    within_bucket_variance,
)

ORDER = (2, 1, 1)
DAILY_HARMONICS = 3
WEEKLY_HARMONICS = 2
MIN_MA = -0.95
"""Floor on the MA(1) coefficient. On a steady seasonal history the fit pushes it to −1 (the level
becomes the all-time mean and never follows a shift in demand); at −0.95 the level still adapts
like exponential smoothing with weight 0.05, as in Holt-Winters."""
LOWEST_MA = -0.995
"""Where the MA search stops: at −1 the filter never forgets its start."""
MAX_MA = 0.98
MAX_PARTIAL_AUTOCORRELATION = 0.98
"""Bound on each AR partial autocorrelation: the AR part stays clearly stationary."""


def fourier_terms(times: FloatArray, periods: tuple[tuple[float, int], ...]) -> FloatArray | None:
    """Sine and cosine columns of absolute time for each ``(period seconds, harmonics)``."""
    columns: list[FloatArray] = []
    for period, harmonics in periods:
        phase = 2 * np.pi * np.mod(times, period) / period
        for harmonic in range(1, harmonics + 1):
            columns += [np.sin(harmonic * phase), np.cos(harmonic * phase)]
    return np.column_stack(columns) if columns else None


def regressors(times: FloatArray, periods: tuple[tuple[float, int], ...]) -> FloatArray:
    """The regressors of each difference ``y[t] - y[t-1]`` (one row per step after the first):
    the drift and the change of each Fourier term."""
    drift = np.ones((times.shape[0] - 1, 1))
    terms = fourier_terms(times, periods)
    return drift if terms is None else np.column_stack([drift, np.diff(terms, axis=0)])


def ar_coefficients(partial: FloatArray) -> tuple[float, float]:
    """AR(2) coefficients from partial autocorrelations in (−1, 1): stationary by construction."""
    first, second = float(partial[0]), float(partial[1])
    return first * (1 - second), second


@dataclass(frozen=True)
class Coefficients:
    """An estimated model: ARMA(2, 1) errors around drift and Fourier regressors."""

    ar: tuple[float, float]
    ma: float
    regression: FloatArray
    """Drift, then one coefficient per Fourier column."""
    variance: float
    """Of the one-step innovations."""


class _Differences:
    """The differenced data and regressors of one fit, filtered again for each ARMA candidate."""

    def __init__(self, values: FloatArray, design: FloatArray, known: np.ndarray) -> None:
        self.stacked = np.column_stack([np.diff(values), design])
        self.counted = known[3:] & known[2:-1]
        """Which innovations rest on measured buckets only, and so count in the sum of squares."""

    def innovations(self, ar: tuple[float, float], ma: float) -> tuple[FloatArray, FloatArray]:
        """The ARMA(2, 1) filter of the differences and of each regressor (from the third difference
        on: the first two start the AR part), and the echo ``(−θ)^(t+1)`` of the innovation before
        the first. That innovation is unknown; as one more regressor, a strong MA part (θ near the
        floor) is not biased by taking it as zero."""
        stacked = self.stacked
        moving = stacked[2:] - ar[0] * stacked[1:-1] - ar[1] * stacked[:-2]
        return lfilter([1.0], [1.0, ma], moving, axis=0), (-ma) ** np.arange(1, moving.shape[0] + 1)

    def sum_of_squares(self, ar: tuple[float, float], ma: float) -> float:
        """The least sum of squared innovations over the regression coefficients (by the normal
        equations: a handful of columns, solved hundreds of times per fit)."""
        innovations, echo = self.innovations(ar, ma)
        columns = np.column_stack([innovations[:, 1:], echo])
        target = innovations[:, 0]
        if not self.counted.all():
            columns, target = columns[self.counted], target[self.counted]
        try:
            coefficients = np.linalg.solve(columns.T @ columns, columns.T @ target)
        except np.linalg.LinAlgError:
            coefficients = np.linalg.lstsq(columns, target, rcond=None)[0]
        residuals = target - columns @ coefficients
        return float(residuals @ residuals)

    def errors(self, ar: tuple[float, float], ma: float, regression: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
        """The innovations and the regression coefficients (least squares when not given)."""
        innovations, echo = self.innovations(ar, ma)
        counted = self.counted
        if regression is None:
            columns = np.column_stack([innovations[:, 1:], echo])
            regression = np.linalg.lstsq(columns[counted], innovations[counted, 0], rcond=None)[0][:-1]
        errors = innovations[:, 0] - innovations[:, 1:] @ regression
        start = float(errors[counted] @ echo[counted]) / max(float(echo[counted] @ echo[counted]), 1e-300)
        return errors - start * echo, regression


def estimate(values: FloatArray, design: FloatArray, known: np.ndarray) -> tuple[Coefficients, bool]:
    """Conditional least squares on gap-free ``values``; also whether the MA floor held the fit."""
    differences = _Differences(values, design, known)
    rows = int(differences.counted.sum())
    if rows < design.shape[1] + 3 + 2:
        raise NotEnoughData(f"{rows} measured differences are too few for ARIMA{ORDER} with {design.shape[1]} regressors")

    def objective(point: FloatArray) -> float:
        return float(np.log(differences.sum_of_squares(ar_coefficients(point), float(point[2])) + 1e-300))

    bounds = [(-MAX_PARTIAL_AUTOCORRELATION, MAX_PARTIAL_AUTOCORRELATION)] * 2 + [(LOWEST_MA, MAX_MA)]
    result = minimize(objective, np.zeros(3), method="L-BFGS-B", bounds=bounds)
    ar, ma = ar_coefficients(result.x), float(result.x[2])
    errors, regression = differences.errors(ar, ma)
    floored = ma < MIN_MA
    if floored:  # held there with the rest as estimated (re-estimating them did worse on the traces)
        ma = MIN_MA
        errors, regression = differences.errors(ar, ma, regression)
    freedom = max(1, rows - design.shape[1] - 3)
    variance = float(np.sum(errors[differences.counted] ** 2) / freedom)
    return Coefficients(ar, ma, regression, variance), floored


def forecast_buckets(values: FloatArray, times: FloatArray, known: np.ndarray, periods: tuple[tuple[float, int], ...],
                     model: Coefficients, steps: int, quantile: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean and Gaussian interval of the ``steps`` buckets after ``values`` (at ``times``)."""
    design = regressors(times, periods)
    errors, _ = _Differences(values, design, known).errors(model.ar, model.ma, model.regression)
    step = times[1] - times[0]
    future = times[-1] + step * np.arange(steps + 1, dtype=np.float64)
    drifts = regressors(future, periods) @ model.regression
    history = np.diff(values) - design @ model.regression
    (first, second), ma = model.ar, model.ma
    previous, before, error = float(history[-1]), float(history[-2]), float(errors[-1])
    changes = np.empty(steps)
    for index in range(steps):
        change = first * previous + second * before + (ma * error if index == 0 else 0.0)
        changes[index], previous, before = change, change, previous
    mean = values[-1] + np.cumsum(changes + drifts)
    # the integrated MA(∞) weights of (1 + θB) / ((1 − φ1 B − φ2 B²)(1 − B))
    impulse = np.zeros(steps)
    impulse[0] = 1.0
    weights = lfilter([1.0, ma], [1.0, -(1 + first), first - second, second], impulse)
    spread = NormalDist().inv_cdf(quantile) * np.sqrt(model.variance * np.cumsum(weights**2))
    return mean, mean - spread, mean + spread


@dataclass(frozen=True)
class _Fitted:
    """What a fit decided and estimated; ``update`` keeps all of it and only re-filters."""

    factor: int
    periods: tuple[tuple[float, int], ...]
    coefficients: Coefficients
    notes: tuple[str, ...]


class Arima:
    """ARIMA(2,1,1) with drift and Fourier seasonality; intervals are the Gaussian predictive
    quantiles of the fitted model."""

    name = "arima"

    def __init__(self) -> None:
        self._fitted: _Fitted | None = None
        self._series: Series | None = None
        self._coarse: Series | None = None
        self.bucket_seconds: float = 0.0
        """Step the model was fitted at (the series' step when not downsampled)."""
        self.seasonal_periods: tuple[float, ...] = ()
        """Periods (seconds) modelled with Fourier terms: a day, and a week with two weeks of data."""

    def fit(self, series: Series) -> Self:
        known_count(series)
        span = len(series) * series.step_seconds
        notes: list[str] = []
        periods: tuple[tuple[float, int], ...] = ()
        factor = 1
        if span >= 2 * DAY_SECONDS:
            periods = ((DAY_SECONDS, DAILY_HARMONICS),)
            factor = bucket_factor(series.step_seconds)
            if factor > 1:
                notes.append(f"downsampled to {duration_text(factor * series.step_seconds)} buckets "
                             f"({factor} steps each)")
        else:
            notes.append("no seasonality: less than two days of history")
        if span >= 2 * WEEK_SECONDS:
            periods += ((WEEK_SECONDS, WEEKLY_HARMONICS),)
        coarse = self._prepare(series, factor, periods)
        try:
            coefficients, floored = estimate(filled(coarse.values), regressors(coarse.times(), periods),
                                             np.isfinite(coarse.values))
        except (ValueError, np.linalg.LinAlgError) as error:
            raise ForecastError(f"{self.name}: fit failed: {error}") from error
        if floored:
            notes.append(f"MA(1) held at {MIN_MA} so the level keeps adapting")
        self._fitted = _Fitted(factor, periods, coefficients, tuple(notes))
        self._series, self._coarse = series, coarse
        self.bucket_seconds = coarse.step_seconds
        self.seasonal_periods = tuple(period for period, _ in periods)
        return self

    def update(self, series: Series) -> Self:
        """Condition on ``series`` with the fitted coefficients (no estimation). The window may
        have slid and the bucket that was partial at the fit is complete now, so the whole
        (cheap, bucketed) history is filtered again at predict."""
        if self._fitted is None:
            raise NotFitted(f"{self.name}: update before fit")
        known_count(series)
        self._series, self._coarse = series, self._prepare(series, self._fitted.factor, self._fitted.periods)
        return self

    def predict(self, horizon: int, *, quantile: float = 0.9) -> Forecast:
        if self._fitted is None or self._series is None or self._coarse is None:
            raise NotFitted(f"{self.name}: predict before fit")
        series, coarse, fitted = self._series, self._coarse, self._fitted
        if len(coarse) < 4:
            raise NotEnoughData(f"{self.name}: {len(coarse)} buckets are too few to forecast from")
        steps = coarse_steps(coarse, series, horizon)
        try:
            bounds = forecast_buckets(filled(coarse.values), coarse.times(), np.isfinite(coarse.values),
                                      fitted.periods, fitted.coefficients, steps, quantile)
        except (ValueError, np.linalg.LinAlgError) as error:
            raise ForecastError(f"{self.name}: forecast failed: {error}") from error
        return to_series_step(series, horizon, coarse.end + coarse.step_seconds, coarse.step_seconds, bounds,
                              model=self.name, quantile=quantile, notes=fitted.notes,
                              within_variance=within_bucket_variance(series, fitted.factor))

    @staticmethod
    def _prepare(series: Series, factor: int, periods: tuple[tuple[float, int], ...]) -> Series:
        """Buckets (NaN where empty) when seasonal, else the recent steps at the series' own step."""
        return downsample(series, factor) if periods else series.tail(RECENT_POINTS)
