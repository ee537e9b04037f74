"""The features the learned models share: recent windows, seasonal lags and calendar terms,
normalised so that one model serves every magnitude.

Strategy: **one model with the horizon as a feature** (direct, multi-horizon). One model per
horizon multiplies the fit cost by the horizon; a recursive one-step model needs one estimator
call per step and compounds its own errors. A row here is an (origin ``t``, horizon ``k``) pair:
everything known at ``t`` describes the value at ``t + k``, so one ``predict`` call serves a
whole block of ``max_horizon`` steps. Longer horizons chain blocks (see ``learned``).

A row, for the target ``t + k`` (values first normalised, see below):

- the window ``y[t], y[t-1], ..., y[t-W+1]``;
- with two days of history, the values one day before the target and the origin, as the change
  between them ``y[t+k-D] - y[t-D]`` (what the same hours did yesterday), and the
  seasonal-persistence guess ``y[t] + y[t+k-D] - y[t-D]`` (given ready-made: trees add features
  up poorly); the same with a week of lag once two weeks of history exist. Seasonal lags enter
  only as changes: raw past levels would let a model trained on steady seasons prefer
  yesterday's level to today's, and it would then ignore a level shift until a day had passed;
- the window's least-squares trend carried on to the target (again ready-made for trees, which
  cannot multiply a slope by a distance); ``k / max_horizon``; sin/cos of the target's time of
  day; sin/cos of its day of the week only with the weekly lags, since with less than two weeks
  a weekday effect cannot be told apart from one unusual day.

Normalisation: ``(y - level) / scale`` with ``level`` the mean of the window (so a level shift
is followed as soon as the window sees it) and ``scale`` the mean ``|y|`` over the last day
(stable, and never zero for a series that is mostly zero). Predictions are mapped back with the
same ``level`` and ``scale`` of their origin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from forecasting.core import (
    DAY_SECONDS,
    WEEK_SECONDS,
    FloatArray,
    NotEnoughData,
    Series,
)

IntArray = npt.NDArray[np.int64]
_TINY_SCALE = 1e-9
_MIN_HOLDOUT_ORIGINS = 20


@dataclass(frozen=True)
class Layout:
    """Which features a fitted model uses, fixed at fit time from the history available."""

    window: int
    max_horizon: int
    """Steps one estimator call forecasts (at most a day, so day lags stay in the past)."""
    day: int
    """Steps per day; the scale window, and the day lag when ``use_day``."""
    week: int
    use_day: bool
    use_week: bool
    step_seconds: float

    @classmethod
    def for_series(cls, series: Series, *, window: int, max_horizon: int) -> Layout:
        day, week = series.steps_per(DAY_SECONDS), series.steps_per(WEEK_SECONDS)
        use_day = len(series) >= 2 * day
        return cls(
            window=window,
            max_horizon=min(max_horizon, day) if use_day else max_horizon,
            day=day,
            week=week,
            use_day=use_day,
            use_week=len(series) >= 2 * week,
            step_seconds=series.step_seconds,
        )

    @property
    def first_origin(self) -> int:
        """The earliest origin whose window and lags all lie inside the history."""
        lags = [self.window - 1]
        lags += [self.day] if self.use_day else []
        lags += [self.week] if self.use_week else []
        return max(lags)

    @property
    def history(self) -> int:
        """How many latest values a forecast reads (the scale's day when there is one): fewer
        than ``first_origin + 1`` cannot be forecast from."""
        return max(self.first_origin + 1, self.day)

    def rows(
        self, values: FloatArray, start: float, origins: IntArray, horizons: IntArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Feature rows for (origin, horizon) pairs, with each row's ``level`` and ``scale``.

        ``values`` must be gap-free; ``start`` is the time of ``values[0]``.
        """
        level, scale = self._normalisers(values, origins)
        targets = origins + horizons
        columns = [(values[origins - lag] - level) / scale for lag in range(self.window)]
        columns.append(_window_slope(np.column_stack(columns)) * (horizons + (self.window - 1) / 2))
        for lag, used in ((self.day, self.use_day), (self.week, self.use_week)):
            if used:
                change = (values[targets - lag] - values[origins - lag]) / scale
                columns += [change, columns[0] + change]
        columns.append(horizons / self.max_horizon)
        times = start + targets.astype(np.float64) * self.step_seconds
        columns += _cyclic(times, DAY_SECONDS)
        if self.use_week:
            columns += _cyclic(times, WEEK_SECONDS)
        return np.column_stack(columns), level, scale

    def _normalisers(self, values: FloatArray, origins: IntArray) -> tuple[FloatArray, FloatArray]:
        """Window mean and last-day mean ``|y|`` at each origin, by cumulative sums."""
        sums = np.concatenate([[0.0], np.cumsum(values)])
        abs_sums = np.concatenate([[0.0], np.cumsum(np.abs(values))])
        end = origins + 1
        level = (sums[end] - sums[end - self.window]) / self.window
        begin = np.maximum(end - self.day, 0)
        scale = np.maximum((abs_sums[end] - abs_sums[begin]) / (end - begin), _TINY_SCALE)
        return level, scale


def _window_slope(window: FloatArray) -> FloatArray:
    """Least-squares slope per step of each row's window (column ``i`` is ``i`` steps back)."""
    offsets = -np.arange(window.shape[1], dtype=np.float64)
    offsets -= offsets.mean()
    slope: FloatArray = window @ (offsets / (offsets @ offsets))
    return slope


def _cyclic(times: FloatArray, period: float) -> list[FloatArray]:
    angle = (2 * math.pi / period) * np.mod(times, period)
    return [np.sin(angle), np.cos(angle)]


@dataclass(frozen=True)
class Design:
    """Training rows, and held-out rows from the most recent tail for honest intervals."""

    x_train: FloatArray
    y_train: FloatArray
    x_holdout: FloatArray
    y_holdout: FloatArray
    """Normalised targets of the held-out rows, shaped (origins, max_horizon)."""


def design(
    values: FloatArray,
    known: npt.NDArray[np.bool_],
    start: float,
    layout: Layout,
    *,
    train_days: float,
    max_rows: int,
    holdout_origins: int,
    seed: int,
) -> Design:
    """Split the history into training pairs and a held-out tail and build both.

    The tail (a fifth of the usable history, at most a day, at least ``max_horizon`` + 20 steps)
    is never trained on: its residuals are what the intervals are made of. Training targets are
    the ``train_days`` before it (at least ten windows, for coarse steps), sub-sampled to
    ``max_rows`` pairs so a fit costs the same at any step. Pairs whose target was a gap
    (``known`` false) are dropped: the model learns from measurements, not fills.
    Raises NotEnoughData when fewer than a few windows of training origins remain.
    """
    n, k_max, first = values.shape[0], layout.max_horizon, layout.first_origin
    tail = max(k_max + _MIN_HOLDOUT_ORIGINS, min(layout.day, (n - first) // 5))
    split = n - tail  # index of the first held-out target
    span = max(round(train_days * DAY_SECONDS / layout.step_seconds), 10 * layout.window)
    lowest = max(first, split - 1 - span)
    min_origins = 4 * layout.window
    if split - 1 - lowest < min_origins:
        raise NotEnoughData(
            f"{n} steps leave {max(0, split - 1 - lowest)} training origins; "
            f"at least {min_origins} are needed"
        )
    origin_grid, horizon_grid = np.meshgrid(
        np.arange(lowest, split - 1), np.arange(1, k_max + 1), indexing="ij"
    )
    origins, horizons = origin_grid.ravel(), horizon_grid.ravel()
    keep = origins + horizons < split
    keep[keep] = known[(origins + horizons)[keep]]
    origins, horizons = origins[keep], horizons[keep]
    if origins.shape[0] > max_rows:
        chosen = np.sort(np.random.default_rng(seed).choice(origins.shape[0], max_rows, replace=False))
        origins, horizons = origins[chosen], horizons[chosen]
    x_train, level, scale = layout.rows(values, start, origins, horizons)
    y_train = (values[origins + horizons] - level) / scale

    x_holdout, y_holdout = _holdout(values, known, start, layout, split=split, count=holdout_origins)
    return Design(x_train, y_train, x_holdout, y_holdout)


def _holdout(
    values: FloatArray, known: npt.NDArray[np.bool_], start: float, layout: Layout, *, split: int, count: int
) -> tuple[FloatArray, FloatArray]:
    """Every horizon from evenly spread origins in the tail whose targets were all measured."""
    k_max = layout.max_horizon
    candidates = np.arange(split - 1, values.shape[0] - k_max)
    horizons = np.arange(1, k_max + 1)
    all_known = known[candidates[:, None] + horizons[None, :]].all(axis=1)
    candidates = candidates[all_known]
    if candidates.shape[0] < _MIN_HOLDOUT_ORIGINS:
        raise NotEnoughData("too few measured values in the recent history to judge the forecast error")
    spread = np.linspace(0, candidates.shape[0] - 1, min(count, candidates.shape[0]))
    picked = np.unique(spread.round().astype(np.int64))
    origins = np.repeat(candidates[picked], k_max)
    steps = np.tile(horizons, picked.shape[0])
    x, level, scale = layout.rows(values, start, origins, steps)
    y = ((values[origins + steps] - level) / scale).reshape(-1, k_max)
    return x, y
