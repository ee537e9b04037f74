"""Split-conformal calibration of the served upper bound, per series, from its own walk-forward
residuals, so that the bound served at quantile ``q`` holds a share ``q`` of the time.

What is calibrated is what the adapter serves: the max over ``[t + L, t + L + H]`` of the upper
bound. At each step the forecast's centre over that window (the max of its mean) is remembered;
once the window has passed, its realised max is scored against that centre, and the last few days
of scores are kept in a ring. The bound served at ``q`` is then the mean shifted by the scores'
finite-sample ``q``-quantile (rank ``ceil((n + 1) q)``), for every quantile from the same scores.

Scores are additive, in the series' unit. Errors of demand with a daily cycle do grow with its
level, but slower than it (the noise of a count spreads like the square root of its level), so
scores scaled by the forecast's level let the quiet hours' relatively large errors set the margin at
the peak. Measured walk-forward on the public traces (nasa, worldcup, twitter, alibaba, servegen
m-mid, one day each at p80, p90 and p95), both held within about two points of the quantile on
average; the additive bound served less headroom on four of the five (1-42 % less; 1-3 % more on
worldcup) and fell short of its quantile less often. Additive scores calibrate the peak, where a
short bound costs the SLO; the night gets more margin than it needs, where it costs little.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace

import numpy as np

from forecasting.core import DAY_SECONDS, FloatArray, Forecast, Series

MIN_RESIDUALS = 30
"""Fewer scored windows than this and the model's own bound is served."""
SPAN_SECONDS = 3 * DAY_SECONDS
"""Scores are kept this long (the ring holds this many steps): every hour of the daily cycle is seen
three times, and a change in the series' character is learnt within days."""


class ConformalBound:
    """The scores of one series' served windows, and the bound they calibrate: plain data, so the
    state pickles with its forecaster."""

    def __init__(self, lead_steps: int, window_steps: int) -> None:
        self._lead = lead_steps
        self._window = window_steps
        self._pending: deque[tuple[float, float]] = deque(maxlen=lead_steps + window_steps + 1)
        """``(origin, centre)`` of each served window not yet passed, oldest first."""
        self._scores: FloatArray | None = None
        """The ring, sized from the series' step at the first score."""
        self._next = 0
        self._count = 0

    @property
    def residuals(self) -> int:
        """Scores known: at most the ring's size."""
        return self._count

    def observe(self, series: Series) -> None:
        """Score every remembered window that ``series`` has now seen to its end."""
        while self._pending:
            origin, centre = self._pending[0]
            first = round((origin - series.start) / series.step_seconds) + self._lead
            end = first + self._window + 1
            if end > len(series):
                return  # later windows end later still
            self._pending.popleft()
            if first < 0:
                continue  # the window is no longer in the history
            seen = series.values[first:end]
            known = seen[np.isfinite(seen)]
            if known.size:
                self._push(float(known.max()) - centre, series)

    def record(self, forecast: Forecast, origin: float) -> None:
        """Remember the window served from ``forecast``, made at ``origin`` (the time of the last
        value it saw); a second forecast made at the same moment is not counted twice."""
        if self._pending and self._pending[-1][0] >= origin:
            return
        self._pending.append((origin, float(forecast.mean[self._lead - 1 : self._lead + self._window].max())))

    def adjusted(self, forecast: Forecast, *, quantile: float) -> Forecast:
        """``forecast`` with its upper bound calibrated at ``quantile``; unchanged while fewer than
        :data:`MIN_RESIDUALS` scores are known, or too few for the rank ``quantile`` needs.

        The bound never goes below the mean (a forecast's invariant): a model that over-forecasts
        that much has its mean served.
        """
        rank = math.ceil((self._count + 1) * quantile)
        if self._count < MIN_RESIDUALS or rank > self._count or self._scores is None:
            return forecast
        score = float(np.partition(self._scores[: self._count], rank - 1)[rank - 1])
        upper = np.maximum(forecast.mean + score, forecast.mean)
        return replace(forecast, upper=upper, notes=(*forecast.notes, f"conformal bound from {self._count} windows"))

    def _push(self, score: float, series: Series) -> None:
        if self._scores is None:
            self._scores = np.empty(series.steps_per(SPAN_SECONDS))
        self._scores[self._next] = score
        self._next = (self._next + 1) % self._scores.shape[0]
        self._count = min(self._count + 1, self._scores.shape[0])
