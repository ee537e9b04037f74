"""The sanity check between a model and anything that serves or scores its forecast.

A forecast is refused when it is non-finite, clearly negative, or absurd next to what the series
did recently; a model that raises is refused too. A refused forecast is replaced by the seasonal-
naive one and the reason returned, so callers count replacements by reason (see ``REASONS``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from forecasting.baselines import SeasonalNaive
from forecasting.core import Forecast, ForecastError, NotEnoughData, Series

ABSURD_FACTOR = 10.0
"""A forecast above this multiple of the recent maximum is absurd. Real demand does exceed its
recent peak (flash crowds), but a model saying ten times anything seen in the history it was given
is extrapolating a trend or has diverged; a spike that large is for the reactive metric to catch."""
NEGATIVE_TOLERANCE = 0.05
"""Values down to this share of the recent maximum below zero pass: additive models around a level
near zero (a service idle at night) swing slightly negative, which is zero once clipped for
serving. Anything lower means the model extrapolates through zero."""
ABSOLUTE_TOLERANCE = 1e-9
"""Rounding slack for series that were all zero."""
REASONS = ("not-enough-data", "error", "non-finite", "negative", "absurd")
"""Every reason a forecast is replaced, in the order they are checked."""
MODEL_ERRORS: tuple[type[Exception], ...] = (ForecastError, ValueError, ArithmeticError)
"""What a failing model raises: our own errors, and numerical ones from numpy, statsmodels and
scikit-learn (LinAlgError is a ValueError). Anything else is a bug and propagates."""


def check(forecast: Forecast, recent: Series) -> str | None:
    """Why ``forecast`` must not be used (``"non-finite"``, ``"negative"``, ``"absurd"``), or None.

    ``recent`` is the history the model was given; its largest known value sets the scale. The
    point forecast and the upper bound are checked (they are what is served and scored); a lower
    bound below zero is an honest interval around a small value.
    """
    served = np.concatenate([forecast.mean, forecast.upper])
    if not (np.isfinite(served).all() and np.isfinite(forecast.lower).all()):
        return "non-finite"
    known = recent.values[np.isfinite(recent.values)]
    peak = max(float(known.max()), 0.0) if known.size else 0.0
    if served.min() < -(NEGATIVE_TOLERANCE * peak + ABSOLUTE_TOLERANCE):
        return "negative"
    if known.size and served.max() > ABSURD_FACTOR * peak + ABSOLUTE_TOLERANCE:
        return "absurd"
    return None


def screen(produce: Callable[[], Forecast], recent: Series) -> Forecast | str:
    """Run ``produce`` (fit, update, predict: whatever the caller needs) and return its forecast,
    or the reason it cannot be used."""
    try:
        forecast = produce()
    except NotEnoughData:
        return "not-enough-data"
    except MODEL_ERRORS:
        return "error"
    reason = check(forecast, recent)
    return forecast if reason is None else reason


@dataclass(frozen=True)
class Guarded:
    """A forecast safe to use, and why the model's own was replaced (None when it was not)."""

    forecast: Forecast
    reason: str | None

    @property
    def replaced(self) -> bool:
        return self.reason is not None


def guarded(
    produce: Callable[[], Forecast],
    recent: Series,
    horizon: int,
    *,
    quantile: float = 0.9,
    fallback: Callable[[], Forecast] | None = None,
) -> Guarded:
    """The forecast of ``produce`` when it passes :func:`screen`; else ``fallback()``, by default
    the seasonal-naive forecast of ``recent`` over ``horizon`` steps, with the reason.

    The replacement is not checked again: seasonal naive repeats observed values, and if even it
    cannot forecast (no known value at all) its NotEnoughData propagates.
    """
    result = screen(produce, recent)
    if isinstance(result, Forecast):
        return Guarded(result, None)
    if fallback is None:
        replacement = SeasonalNaive().fit(recent).predict(horizon, quantile=quantile)
    else:
        replacement = fallback()
    return Guarded(replacement, result)
