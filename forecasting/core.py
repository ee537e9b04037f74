"""Shared types of the forecasting library: a regular series, a forecast with its interval, the
model protocol, and the errors models raise.

Models follow scikit-learn/statsforecast conventions: the constructor stores hyperparameters
only, ``fit`` returns the model, ``update`` takes newer data without re-estimating (the cheap step
between refits), ``predict(h)`` forecasts ``h`` steps after the latest data, and :func:`forecast`
is the stateless form. Everything is deterministic for the same input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, Self

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
DAY_SECONDS = 86400.0
WEEK_SECONDS = 7 * DAY_SECONDS


def duration_text(seconds: float) -> str:
    """``900`` → ``"15m"``: durations as the rest of the project writes them."""
    for unit, size in (("d", DAY_SECONDS), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


class ForecastError(Exception):
    """Base of the errors a model raises."""


class InputError(ValueError):
    """Input the library cannot use (a trace, an HPA manifest, a history, an output path), with a
    message that names it. Other ``ValueError`` s are bugs."""


class NotEnoughData(ForecastError):
    """The series is too short (or too empty) for this model; callers fall back to a baseline."""


class NotFitted(ForecastError):
    """``predict`` was called before ``fit``."""


def _frozen_copy(values: npt.ArrayLike) -> FloatArray:
    array = np.array(values, dtype=np.float64, copy=True)
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class Series:
    """Values at a regular step; NaN marks a step with no data (never a zero)."""

    values: FloatArray
    step_seconds: float
    start: float
    """Unix time (or seconds since an origin) of ``values[0]``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _frozen_copy(self.values))
        if self.values.ndim != 1:
            raise ValueError("a series is one-dimensional")
        if not self.step_seconds > 0:
            raise ValueError(f"step_seconds must be positive, not {self.step_seconds}")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def end(self) -> float:
        """Time of the last value."""
        return self.start + (len(self) - 1) * self.step_seconds

    def times(self) -> FloatArray:
        return self.start + self.step_seconds * np.arange(len(self), dtype=np.float64)

    def head(self, count: int) -> Series:
        """The first ``count`` values: what was known at the time of ``values[count - 1]``."""
        return Series(self.values[:count], self.step_seconds, self.start)

    def tail(self, count: int) -> Series:
        """The last ``count`` values."""
        count = min(count, len(self))
        return Series(self.values[len(self) - count :], self.step_seconds, self.end - (count - 1) * self.step_seconds)

    def known_since_first(self) -> Series:
        """The series from its first known value: a history that starts with a gap (a series
        tracked before it had data) is not evidence of anything."""
        known = np.flatnonzero(np.isfinite(self.values))
        return self.tail(len(self) - int(known[0])) if known.size else self

    def steps_per(self, seconds: float) -> int:
        """How many steps make ``seconds`` (a day, a week), rounded to the nearest step."""
        return max(1, round(seconds / self.step_seconds))


def filled(values: FloatArray) -> FloatArray:
    """``values`` with NaN gaps filled linearly (ends held), for models that need no gaps.

    Raises NotEnoughData when no value is known at all.
    """
    known = np.isfinite(values)
    if not known.any():
        raise NotEnoughData("the series has no known value")
    if known.all():
        return values
    positions = np.arange(values.shape[0])
    return np.interp(positions, positions[known], values[known])


@dataclass(frozen=True)
class Forecast:
    """``horizon`` steps after the fitted series: a point forecast and an interval.

    ``upper`` is the ``quantile`` quantile of the predictive distribution and ``lower`` the
    ``1 - quantile`` one; the invariants are checked here, once, for every model.
    """

    model: str
    start: float
    """Time of the first forecast step (the fitted series' end plus one step)."""
    step_seconds: float
    mean: FloatArray
    lower: FloatArray
    upper: FloatArray
    quantile: float
    notes: tuple[str, ...] = field(default=())
    """What the model had to do (e.g. ``"downsampled to 15m"``), for logs and reports."""

    def __post_init__(self) -> None:
        for name in ("mean", "lower", "upper"):
            object.__setattr__(self, name, _frozen_copy(getattr(self, name)))
        if not 0.5 < self.quantile < 1:
            raise ValueError(f"quantile must be in (0.5, 1), not {self.quantile}")
        if not (self.mean.ndim == 1 and self.mean.shape == self.lower.shape == self.upper.shape):
            raise ValueError("mean, lower and upper must be one-dimensional and of one length")
        if self.mean.shape[0] == 0:
            raise ValueError("a forecast has at least one step")
        if not (np.isfinite(self.mean).all() and np.isfinite(self.lower).all() and np.isfinite(self.upper).all()):
            raise ValueError(f"{self.model}: the forecast is not finite")
        tolerance = 1e-9 * max(1.0, float(np.abs(self.mean).max()))
        if (self.lower > self.mean + tolerance).any() or (self.mean > self.upper + tolerance).any():
            raise ValueError(f"{self.model}: the interval does not contain the mean")

    def __len__(self) -> int:
        return int(self.mean.shape[0])

    def times(self) -> FloatArray:
        return self.start + self.step_seconds * np.arange(len(self), dtype=np.float64)

    def upper_over(self, begin: float, end: float) -> float:
        """The largest upper bound over the steps in ``[begin, end]`` (at least the nearest one)."""
        times = self.times()
        inside = (times >= begin - 1e-9) & (times <= end + 1e-9)
        if not inside.any():
            nearest = int(np.argmin(np.abs(times - begin)))
            return float(self.upper[nearest])
        return float(self.upper[inside].max())


class Model(Protocol):
    """What every forecasting model offers."""

    name: str

    def fit(self, series: Series) -> Self:
        """Learn from ``series``; raises NotEnoughData when it is too short for this model."""

    def update(self, series: Series) -> Self:
        """Condition on ``series`` (the fitted series extended by newer steps) without
        re-estimating parameters: the cheap step between refits. Raises NotFitted before ``fit``."""

    def predict(self, horizon: int, *, quantile: float = 0.9) -> Forecast:
        """Forecast ``horizon`` steps after the latest series seen; raises NotFitted before ``fit``."""


def forecast(model: Model, series: Series, horizon: int, *, quantile: float = 0.9) -> Forecast:
    """The stateless form: fit ``model`` on ``series`` and predict ``horizon`` steps."""
    if horizon < 1:
        raise ValueError("horizon must be at least one step")
    return model.fit(series).predict(horizon, quantile=quantile)


def steps_for(seconds: float, step_seconds: float) -> int:
    """Whole steps covering ``seconds``, at least one (a lead of 5 m at a 10 m step is 1 step)."""
    return max(1, math.ceil(seconds / step_seconds - 1e-9))
