"""Forecast accuracy metrics on aligned arrays of actuals and forecasts.

A NaN actual means the source had no data for that step: it is left out of every metric, never
read as zero (a fake outage would reward models that under-forecast). Forecasts must be finite.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from forecasting.baselines import season_for
from forecasting.core import FloatArray, Series


def _scored(actual: npt.ArrayLike, forecast: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The pairs with a known actual; raises ValueError when there are none or the shapes differ."""
    actual_array = np.asarray(actual, dtype=np.float64)
    forecast_array = np.asarray(forecast, dtype=np.float64)
    if actual_array.shape != forecast_array.shape:
        raise ValueError(f"actual and forecast differ in shape: {actual_array.shape} vs {forecast_array.shape}")
    known = np.isfinite(actual_array)
    if not known.any():
        raise ValueError("no known actual value to score")
    if not np.isfinite(forecast_array[known]).all():
        raise ValueError("forecasts must be finite")
    return actual_array[known], forecast_array[known]


def mae(actual: npt.ArrayLike, point: npt.ArrayLike) -> float:
    """Mean absolute error of the point forecast."""
    known, predicted = _scored(actual, point)
    return float(np.mean(np.abs(known - predicted)))


def mase(actual: npt.ArrayLike, point: npt.ArrayLike, *, scale: float) -> float:
    """MAE divided by ``scale`` (see :func:`naive_scale`): below 1 beats the naive forecast in
    sample. A zero scale (a constant history) gives 0 for a perfect forecast, else infinity."""
    error = mae(actual, point)
    if scale > 0:
        return error / scale
    return 0.0 if error == 0 else math.inf


def naive_scale(training: Series, lead_steps: int) -> float:
    """The MASE scale: in-sample MAE of the seasonal-naive forecast at ``lead_steps`` over
    ``training``, with the season seasonal naive itself would use there (a week with two weeks of
    data, a day with two days); with no season it is persistence at the same lead.

    The forecast of ``y[t + lead]`` made at ``t`` is ``y[t + lead - lag]`` with ``lag`` the season
    times the whole seasons needed to reach back before ``t``, or ``lead`` for persistence.
    """
    season = season_for(training)
    if season > 0:
        period = training.steps_per(season)
        lag = period * math.ceil(lead_steps / period)
    else:
        lag = lead_steps
    values = training.values
    if values.shape[0] <= lag:
        raise ValueError(f"the training data ({values.shape[0]} steps) is not longer than the lag ({lag})")
    differences = np.abs(values[lag:] - values[:-lag])
    known = differences[np.isfinite(differences)]
    if known.size == 0:
        raise ValueError("no pair of known values to compute the scale from")
    return float(np.mean(known))


def pinball(actual: npt.ArrayLike, upper: npt.ArrayLike, quantile: float) -> float:
    """Mean pinball (quantile) loss of ``upper`` as the ``quantile`` quantile: an actual above it
    costs ``quantile`` per unit, one below it ``1 - quantile``."""
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), not {quantile}")
    known, bound = _scored(actual, upper)
    difference = known - bound
    return float(np.mean(np.maximum(quantile * difference, (quantile - 1) * difference)))


def under_forecast_rate(actual: npt.ArrayLike, point: npt.ArrayLike) -> float:
    """Share of known actuals above the point forecast: how often capacity would have been short."""
    known, predicted = _scored(actual, point)
    return float(np.mean(known > predicted))
