"""Tiny deterministic models for the selection and backtest tests: every future step is one
rule applied to the values seen so far, so expected losses can be worked out by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

import numpy as np

from forecasting.core import FloatArray, Forecast, Model, NotFitted, Series, filled


class Rule:
    """A tiny model: every future step is ``rule(values seen so far)``."""

    def __init__(self, name: str, rule: Callable[[FloatArray], float], *, upper_factor: float = 1.0) -> None:
        self.name, self._rule, self._upper_factor = name, rule, upper_factor
        self._series: Series | None = None

    def fit(self, series: Series) -> Self:
        self._series = series
        return self

    def update(self, series: Series) -> Self:
        if self._series is None:
            raise NotFitted(self.name)
        self._series = series
        return self

    def predict(self, horizon: int, *, quantile: float = 0.9) -> Forecast:
        if self._series is None:
            raise NotFitted(self.name)
        mean = np.full(horizon, self._rule(filled(self._series.values)))
        return Forecast(self.name, self._series.end + self._series.step_seconds, self._series.step_seconds,
                        mean, mean, mean * self._upper_factor, quantile)


def rule(name: str, function: Callable[[FloatArray], float]) -> Callable[[], Model]:
    return lambda: Rule(name, function)
