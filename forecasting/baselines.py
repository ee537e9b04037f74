"""The baselines every model must beat: persistence (the last value) and seasonal naive (the
value one season earlier). Their intervals come from the spread of their own past errors at the
same horizon, so they are honest without any distributional assumption."""

from __future__ import annotations

from typing import Self

import numpy as np

from forecasting.core import (
    DAY_SECONDS,
    WEEK_SECONDS,
    FloatArray,
    Forecast,
    NotFitted,
    Series,
    filled,
)


def _empirical_interval(
    errors: FloatArray, mean: FloatArray, quantile: float
) -> tuple[FloatArray, FloatArray]:
    """Interval from past forecast errors (actual − forecast) at the same horizon."""
    if errors.size == 0:
        return mean.copy(), mean.copy()
    upper_offset = max(0.0, float(np.quantile(errors, quantile)))
    lower_offset = min(0.0, float(np.quantile(errors, 1 - quantile)))
    return mean + lower_offset, mean + upper_offset


class Persistence:
    """Tomorrow looks like now: every future step is the last known value."""

    name = "persistence"

    def __init__(self) -> None:
        self._values: FloatArray | None = None
        self._series: Series | None = None

    def fit(self, series: Series) -> Self:
        self._values = filled(series.values)
        self._series = series
        return self

    def update(self, series: Series) -> Self:
        if self._values is None:
            raise NotFitted("persistence: update before fit")
        return self.fit(series)

    def predict(self, horizon: int, *, quantile: float = 0.9) -> Forecast:
        if self._values is None or self._series is None:
            raise NotFitted("persistence: predict before fit")
        values, series = self._values, self._series
        mean = np.full(horizon, values[-1])
        lag = min(horizon, max(1, values.shape[0] - 1))
        errors = values[lag:] - values[:-lag] if values.shape[0] > lag else np.empty(0)
        lower, upper = _empirical_interval(errors[-2000:], mean, quantile)
        return Forecast(self.name, series.end + series.step_seconds, series.step_seconds, mean, lower, upper, quantile)


class SeasonalNaive:
    """Each future step repeats the value one season earlier: a week when there are two weeks of
    history, else a day with two days, else the last value (persistence)."""

    name = "seasonal_naive"

    def __init__(self) -> None:
        self._values: FloatArray | None = None
        self._series: Series | None = None
        self.period_seconds: float = 0.0
        """The season used by the last fit (0 when it fell back to persistence)."""

    def fit(self, series: Series) -> Self:
        values = filled(series.values)
        self.period_seconds = season_for(series)
        self._values, self._series = values, series
        return self

    def update(self, series: Series) -> Self:
        if self._values is None:
            raise NotFitted("seasonal_naive: update before fit")
        return self.fit(series)

    def predict(self, horizon: int, *, quantile: float = 0.9) -> Forecast:
        if self._values is None or self._series is None:
            raise NotFitted("seasonal_naive: predict before fit")
        values, series = self._values, self._series
        if self.period_seconds == 0:
            forecast = Persistence().fit(series).predict(horizon, quantile=quantile)
            return Forecast(self.name, forecast.start, forecast.step_seconds, forecast.mean, forecast.lower,
                            forecast.upper, quantile, notes=("too little history for a season: persistence",))
        period = series.steps_per(self.period_seconds)
        future = np.arange(horizon)
        # step k ahead repeats the value one (or more) whole seasons before it
        source = values.shape[0] + future - period * (future // period + 1)
        mean = values[source]
        errors = values[period:] - values[:-period]
        lower, upper = _empirical_interval(errors[-2000:], mean, quantile)
        return Forecast(self.name, series.end + series.step_seconds, series.step_seconds, mean, lower, upper, quantile,
                        notes=(f"season {self.period_seconds:g}s",))


def season_for(series: Series) -> float:
    """The seasonal-naive season for the history known (from the first known value): a week, a
    day, or 0 (none)."""
    known = np.flatnonzero(np.isfinite(series.values))
    if known.size == 0:
        return 0.0
    span = (len(series) - int(known[0])) * series.step_seconds
    if span >= 2 * WEEK_SECONDS:
        return WEEK_SECONDS
    if span >= 2 * DAY_SECONDS:
        return DAY_SECONDS
    return 0.0


