"""Learned forecasters over lag windows and calendar features (scikit-learn): gradient boosting
and a small MLP, the "LSTM-style" sequence model. Both share the features of
:mod:`forecasting.models.features` and everything else here; they differ only in the estimator.

Intervals come from **held-out residuals**: the estimator never sees the most recent tail of the
history at fit; its normalised errors there, per horizon step, are kept, and ``predict`` takes
their empirical quantiles for any requested ``quantile``. One set of residuals serves every
quantile, so intervals nest (a per-quantile model, e.g. a quantile loss, would need one fit per
quantile and would not nest by construction). The estimator is not refitted on the tail: that
would double the fit cost, and the window normalisation already carries the newest level.

Cost: scikit-learn's OpenMP threads fight under contention (one boosting fit went from 0.3 s to
tens of seconds), so the worker processes that fit must set ``OMP_NUM_THREADS=1`` (and the BLAS
thread variables) before importing numpy; a library never sets process-wide environment itself.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from typing import Any, Protocol, Self, TypedDict, Unpack

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor  # type: ignore[import-untyped]
from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
from sklearn.neural_network import MLPRegressor  # type: ignore[import-untyped]

from forecasting.core import (
    FloatArray,
    Forecast,
    NotEnoughData,
    NotFitted,
    Series,
    filled,
)
from forecasting.models.features import Layout, design

_VALIDATION_SHARE = 0.1
"""Training rows the MLP holds out to decide when to stop."""


class Regressor(Protocol):
    """The part of a scikit-learn regressor used here."""

    def fit(self, x: FloatArray, y: FloatArray) -> object: ...

    def predict(self, x: FloatArray) -> FloatArray: ...


class SharedSettings(TypedDict, total=False):
    """The constructor arguments every learned forecaster takes (see ``_WindowForecaster``)."""

    window: int
    max_horizon: int
    train_days: float
    max_rows: int
    holdout_origins: int
    seed: int


class _WindowForecaster(ABC):
    """Fit, update and predict around one estimator; subclasses say which estimator."""

    name = "learned"
    features_dtype: type[np.floating[Any]] = np.float64
    """Precision the estimator trains and predicts at."""

    def __init__(
        self,
        *,
        window: int = 24,
        max_horizon: int = 24,
        train_days: float = 7.0,
        max_rows: int = 5000,
        holdout_origins: int = 240,
        seed: int = 0,
    ) -> None:
        self.window = window
        """Recent steps in each row."""
        self.max_horizon = max_horizon
        """Steps one estimator call forecasts; longer horizons chain blocks of this length."""
        self.train_days = train_days
        """Days of targets trained on, before the held-out tail: caps the cost of long histories."""
        self.max_rows = max_rows
        """Training rows at most (sub-sampled), so a fit costs the same at any step."""
        self.holdout_origins = holdout_origins
        """Forecast origins in the held-out tail whose errors make the intervals."""
        self.seed = seed
        self._layout: Layout | None = None
        self._estimator: Regressor | None = None
        self._residuals: FloatArray | None = None
        self._residual_quantiles: dict[float, FloatArray] = {}
        """The residuals' quantiles by horizon step, as asked for: every step asks for the same."""
        self._notes: tuple[str, ...] = ()
        self._recent: FloatArray | None = None
        self._recent_start = 0.0
        self._series_end = 0.0

    @abstractmethod
    def _new_estimator(self, rows: int) -> Regressor:
        """A fresh, unfitted estimator with this forecaster's hyperparameters, for ``rows``
        training rows."""

    def fit(self, series: Series) -> Self:
        layout = Layout.for_series(series, window=self.window, max_horizon=self.max_horizon)
        values = filled(series.values)
        rows = design(
            values,
            np.isfinite(series.values),
            series.start,
            layout,
            train_days=self.train_days,
            max_rows=self.max_rows,
            holdout_origins=self.holdout_origins,
            seed=self.seed,
        )
        estimator = self._new_estimator(rows.x_train.shape[0])
        dtype = self.features_dtype
        notes = _fit_recording_convergence(self.name, estimator, rows.x_train.astype(dtype), rows.y_train.astype(dtype))
        predicted = np.asarray(estimator.predict(rows.x_holdout.astype(dtype)), dtype=np.float64)
        self._residuals = rows.y_holdout - predicted.reshape(rows.y_holdout.shape)
        self._residual_quantiles = {}
        self._layout, self._estimator, self._notes = layout, estimator, notes
        self._condition(series, layout)
        return self

    def update(self, series: Series) -> Self:
        """Take ``series`` as the latest input; the estimator and residuals stay as fitted."""
        if self._layout is None:
            raise NotFitted(f"{self.name}: update before fit")
        if series.step_seconds != self._layout.step_seconds:
            raise ValueError(
                f"{self.name}: fitted at a {self._layout.step_seconds:g}s step, "
                f"updated at {series.step_seconds:g}s"
            )
        self._condition(series, self._layout)
        return self

    def _condition(self, series: Series, layout: Layout) -> None:
        """Keep only the (gap-filled) latest values a forecast reads: cheap to redo every update."""
        if len(series) <= layout.first_origin:
            raise NotEnoughData(f"{self.name}: {len(series)} steps, the model reads {layout.first_origin + 1}")
        recent = series.tail(layout.history)
        self._recent, self._recent_start, self._series_end = filled(recent.values), recent.start, series.end

    def predict(self, horizon: int, *, quantile: float = 0.9) -> Forecast:
        if self._layout is None or self._estimator is None or self._residuals is None or self._recent is None:
            raise NotFitted(f"{self.name}: predict before fit")
        layout = self._layout
        known = self._recent.shape[0]
        values, first_scale = self._next_block(self._recent)
        while values.shape[0] < known + horizon:
            values, _ = self._next_block(values)
        mean = values[known : known + horizon]

        # past the first block, chained errors add up: widen like a sum of independent errors
        steps = np.arange(1, horizon + 1)
        low, high = self._quantiles_of_residuals(self._residuals, quantile)
        index = np.minimum(steps, layout.max_horizon) - 1
        widen = np.sqrt(np.maximum(1.0, steps / layout.max_horizon)) * first_scale
        lower = mean + np.minimum(0.0, low[index]) * widen
        upper = mean + np.maximum(0.0, high[index]) * widen
        notes = self._notes
        if horizon > layout.max_horizon:
            notes += (f"{horizon} steps chained from blocks of {layout.max_horizon}; interval widened",)
        start = self._series_end + layout.step_seconds
        return Forecast(self.name, start, layout.step_seconds, mean, lower, upper, quantile, notes=notes)

    def _quantiles_of_residuals(self, residuals: FloatArray, quantile: float) -> FloatArray:
        """The ``1 - quantile`` and ``quantile`` quantiles of ``residuals`` at each horizon step."""
        known = self._residual_quantiles.get(quantile)
        if known is None:
            known = self._residual_quantiles[quantile] = np.quantile(residuals, [1 - quantile, quantile], axis=0)
        return known

    def _next_block(self, values: FloatArray) -> tuple[FloatArray, float]:
        """``values`` extended by one block of forecasts from its last step, and that step's scale."""
        assert self._layout is not None and self._estimator is not None
        block = np.arange(1, self._layout.max_horizon + 1)
        origin = np.full(block.shape[0], values.shape[0] - 1)
        x, level, scale = self._layout.rows(values, self._recent_start, origin, block)
        predicted = np.asarray(self._estimator.predict(x.astype(self.features_dtype)), dtype=np.float64)
        return np.concatenate([values, level + scale * predicted]), float(scale[0])


def _fit_recording_convergence(
    name: str, estimator: Regressor, x: FloatArray, y: FloatArray
) -> tuple[str, ...]:
    """Fit, turning a ConvergenceWarning into a note instead of a process-wide filter."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(x, y)
    notes: list[str] = []
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            notes.append(f"{name}: training stopped before converging")
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return tuple(notes)


class GradientBoostingForecaster(_WindowForecaster):
    """Histogram gradient boosting over the shared features: robust to odd features, fast to fit."""

    name = "gbm"

    def __init__(
        self,
        *,
        iterations: int = 75,
        learning_rate: float = 0.2,
        leaves: int = 15,
        **shared: Unpack[SharedSettings],
    ) -> None:
        super().__init__(**shared)
        self.iterations = iterations
        self.learning_rate = learning_rate
        self.leaves = leaves
        """Leaves per tree at most."""

    def _new_estimator(self, rows: int) -> Regressor:
        # no early stopping: a fixed number of rounds keeps the fit cost predictable, and the
        # held-out tail already measures the error. Half the rounds of scikit-learn's default
        # at twice its rate, with half its leaves, cost a third of a fit and were no less
        # accurate walk-forward (worldcup98 at 30 minutes, NASA at one minute): a few thousand
        # rows of one noisy series do not need deeper trees.
        estimator: Regressor = HistGradientBoostingRegressor(
            max_iter=self.iterations,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.leaves,
            early_stopping=False,
            random_state=self.seed,
        )
        return estimator


class MLPForecaster(_WindowForecaster):
    """A small MLP over the shared features: the learned sequence ("LSTM-style") model."""

    name = "mlp"
    # its matrix products are most of a fit: single precision costs 15-30 % less, and the
    # walk-forward error stayed within 1 % (worldcup98 at 30 minutes, NASA at one minute)
    features_dtype = np.float32

    def __init__(
        self,
        *,
        hidden: tuple[int, ...] = (32, 16),
        max_iter: int = 300,
        batch: int = 1000,
        learning_rate: float = 5e-3,
        **shared: Unpack[SharedSettings],
    ) -> None:
        super().__init__(**shared)
        self.hidden = hidden
        self.max_iter = max_iter
        self.batch = batch
        """Rows per gradient step at most (fewer when there are fewer training rows)."""
        self.learning_rate = learning_rate

    def _new_estimator(self, rows: int) -> Regressor:
        # early stopping on a seeded validation split ends training long before max_iter. Most of
        # an epoch's cost is scikit-learn's overhead per mini-batch, so a few large batches at a
        # higher rate, stopped once the validation score gains less than 0.1 % in ten epochs,
        # cost half a fit or less and were as accurate walk-forward as scikit-learn's 200 rows
        # at 1e-3 with a 0.01 % tolerance (worldcup98 at 30 minutes, NASA at one minute)
        trained = rows - math.ceil(_VALIDATION_SHARE * rows)
        estimator: Regressor = MLPRegressor(
            hidden_layer_sizes=self.hidden,
            alpha=1e-4,
            batch_size=max(1, min(self.batch, trained)),
            learning_rate_init=self.learning_rate,
            max_iter=self.max_iter,
            early_stopping=True,
            validation_fraction=_VALIDATION_SHARE,
            n_iter_no_change=10,
            tol=1e-3,
            random_state=self.seed,
        )
        return estimator
