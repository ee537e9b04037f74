"""ARIMA(2,1,1) with drift on statsmodels' SARIMAX, with daily (and, given two weeks of history,
weekly) seasonality as Fourier regressors.

A seasonal ARIMA with a 96- or 1,440-step season does not fit in useful time; a few sine/cosine
pairs of absolute time describe a smooth daily or weekly shape with a handful of coefficients,
and because their phase comes from Unix time, a model fitted at one origin and updated later
stays in phase. Seasonal fits run on the same downsampled buckets as Holt-Winters. The order is
fixed (no automatic search: it costs seconds to minutes per series). Missing buckets stay NaN:
the Kalman filter skips them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from statsmodels.tsa.statespace.sarimax import SARIMAX  # type: ignore[import-untyped]

from forecasting.core import (
    DAY_SECONDS,
    WEEK_SECONDS,
    FloatArray,
    Forecast,
    ForecastError,
    NotFitted,
    Series,
    duration_text,
)
from forecasting.models.holt_winters import (
    RECENT_POINTS,
    bucket_factor,
    coarse_steps,
    downsample,
    known_count,
    recorded_warnings,
    to_series_step,
    within_bucket_variance,
)

ORDER = (2, 1, 1)
DAILY_HARMONICS = 3
WEEKLY_HARMONICS = 2
MIN_MA = -0.95
"""Floor on the MA(1) coefficient. On a steady seasonal history the likelihood pushes it to −1
(the level becomes the all-time mean and never follows a shift in demand); at −0.95 the level
still adapts like exponential smoothing with weight 0.05, as in Holt-Winters."""


def fourier_terms(times: FloatArray, periods: tuple[tuple[float, int], ...]) -> FloatArray | None:
    """Sine and cosine columns of absolute time for each ``(period seconds, harmonics)``."""
    columns: list[FloatArray] = []
    for period, harmonics in periods:
        phase = 2 * np.pi * np.mod(times, period) / period
        for harmonic in range(1, harmonics + 1):
            columns += [np.sin(harmonic * phase), np.cos(harmonic * phase)]
    return np.column_stack(columns) if columns else None


@dataclass(frozen=True)
class _Fitted:
    """What a fit decided; ``update`` keeps it and only re-filters."""

    factor: int
    periods: tuple[tuple[float, int], ...]
    notes: tuple[str, ...]


class Arima:
    """ARIMA(2,1,1) with drift and Fourier seasonality; intervals are the Gaussian predictive
    quantiles of the state-space model."""

    name = "arima"

    def __init__(self) -> None:
        self._fitted: _Fitted | None = None
        self._series: Series | None = None
        self._coarse: Series | None = None
        self._results: Any = None
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
            with recorded_warnings(notes):
                model = SARIMAX(coarse.values, exog=fourier_terms(coarse.times(), periods), order=ORDER,
                                trend="c", concentrate_scale=True)
                results = model.fit(disp=False)
                params = np.array(results.params, dtype=np.float64)
                ma = model.param_names.index("ma.L1")
                if params[ma] < MIN_MA:
                    params[ma] = MIN_MA
                    results = model.filter(params)
                    notes.append(f"MA(1) held at {MIN_MA} so the level keeps adapting")
        except (ValueError, np.linalg.LinAlgError) as error:
            raise ForecastError(f"{self.name}: fit failed: {error}") from error
        self._fitted = _Fitted(factor, periods, tuple(notes))
        self._series, self._coarse, self._results = series, coarse, results
        self.bucket_seconds = coarse.step_seconds
        self.seasonal_periods = tuple(period for period, _ in periods)
        return self

    def update(self, series: Series) -> Self:
        """Run the Kalman filter over ``series`` with the fitted parameters (no estimation).

        ``apply`` rather than ``append``: the window may have slid, and the bucket that was
        partial at the fit is complete now, so the whole (cheap, bucketed) history is re-filtered.
        """
        if self._fitted is None:
            raise NotFitted(f"{self.name}: update before fit")
        known_count(series)
        fitted = self._fitted
        coarse = self._prepare(series, fitted.factor, fitted.periods)
        notes = list(fitted.notes)
        try:
            with recorded_warnings(notes):
                results = self._results.apply(coarse.values, exog=fourier_terms(coarse.times(), fitted.periods),
                                              refit=False)
        except (ValueError, np.linalg.LinAlgError) as error:
            raise ForecastError(f"{self.name}: update failed: {error}") from error
        self._fitted = _Fitted(fitted.factor, fitted.periods, tuple(notes))
        self._series, self._coarse, self._results = series, coarse, results
        return self

    def predict(self, horizon: int, *, quantile: float = 0.9) -> Forecast:
        if self._fitted is None or self._series is None or self._coarse is None:
            raise NotFitted(f"{self.name}: predict before fit")
        series, coarse = self._series, self._coarse
        steps = coarse_steps(coarse, series, horizon)
        first = coarse.end + coarse.step_seconds
        future = first + coarse.step_seconds * np.arange(steps, dtype=np.float64)
        notes = list(self._fitted.notes)
        with recorded_warnings(notes):
            prediction = self._results.get_forecast(steps, exog=fourier_terms(future, self._fitted.periods))
            mean = np.asarray(prediction.predicted_mean, dtype=np.float64)
            interval = np.asarray(prediction.conf_int(alpha=2 * (1 - quantile)), dtype=np.float64)
        return to_series_step(series, horizon, first, coarse.step_seconds, (mean, interval[:, 0], interval[:, 1]),
                              model=self.name, quantile=quantile, notes=tuple(notes),
                              within_variance=within_bucket_variance(series, self._fitted.factor))

    @staticmethod
    def _prepare(series: Series, factor: int, periods: tuple[tuple[float, int], ...]) -> Series:
        """Buckets (NaN where empty) when seasonal, else the recent steps at the series' own step."""
        return downsample(series, factor) if periods else series.tail(RECENT_POINTS)
