"""Split-conformal calibration of the served upper bound, per series, from walk-forward residuals
of the model it serves, so that the bound served at quantile ``q`` holds a share ``q`` of the time.

What is calibrated is what the adapter serves: the max over ``[t + L, t + L + H]`` of the upper
bound. For an origin ``t``, the forecast's centre over that window (the max of its mean) is scored
against the window's realised max once it has passed, and the scores of the last span are kept in
a ring. The bound served at ``q`` is then the mean shifted by the scores' finite-sample
``q``-quantile (rank ``ceil((n + 1) q)``), for every quantile from the same scores.

The ring is a function of the series' history, not of what one process happened to serve, so two
replicas (or a restarted one) serve the same bound. Whenever a series' model is fitted (at the
schedule's anchored deadlines, see :mod:`forecasting.pipeline`, and at a new forecaster's first
step) the ring is filled afresh by a walk of that model over the last span: at each origin a copy
of the model is only updated with the history up to it (the cheap re-filtering every model offers;
no refit) and asked for the forecast it would have served, guarded as a served one is. Until the
next fit, each step scores the window it served, the forecast the walk would have made at that
origin, and a step that came late walks the origins it missed. A replica started between two
deadlines fits the same model on the same anchored history and walks it over the same origins, so
its ring holds the same scores as one that has run all along, to the bit. This rests on ``update``
being a function of the series it is given, as every model's is.

Cost bounds the walk: a step per origin would cost thousands of updates per fit. The ring scores
the windows of origins on a coarser grid of absolute time instead, about :data:`WINDOWS` of them
over the span (every 30 minutes at a 1-minute step): windows of eight minutes taken every minute
overlap and tell little more than every 30 minutes. On a week of 1-minute data the walk then costs
40-90 ms whatever the model (ARIMA 51 ms beside a 27 ms fit, Holt-Winters 60 beside 6, the MLP 40
beside 113, gradient boosting 88 beside 106), a small share of a worker's hour; the commands make
it in their workers with the fit (see :mod:`forecasting.ahead`). Origins before the fit's anchor
are forecast by a model fitted on data that includes their windows, so their scores are somewhat
optimistic; the statistical models' few parameters hardly learn a window, and the windows after the
anchor are out of sample. Measured with ``foresight backtest --lead 3m --window 5m`` (two days of
windows scored), the conformal bound held at p80, p90 and p95 in 75.1, 85.6 and 92.2 % of windows
on nasa (76.0, 88.8 and 95.1 % when each process scored the windows it served) and in 92.6, 97.6
and 98.9 % on worldcup (89.9, 95.6 and 98.4 %). Twice the windows moved nasa's p95 to 93.4 % only,
at twice the cost.

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
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from forecasting.core import DAY_SECONDS, Forecast, Series

MIN_RESIDUALS = 30
"""Fewer scored windows than this and the model's own bound is served."""
SPAN_SECONDS = 3 * DAY_SECONDS
"""Scores are kept this long: every hour of the daily cycle is seen three times, and a change in
the series' character is learnt within days. A shorter history than twice the span shortens it to
half the history, so that the walk's earliest origins still have half of it to update on."""
WINDOWS = 144
"""About this many windows are scored over the span, whatever the step: the grid's spacing."""


class ConformalBound:
    """The scores of one series' windows, and the bound they calibrate: plain data, so the state
    pickles with its forecaster."""

    def __init__(self, lead_steps: int, window_steps: int, *, history_seconds: float = 2 * SPAN_SECONDS) -> None:
        self._lead = lead_steps
        self._window = window_steps
        self.span_seconds = min(SPAN_SECONDS, history_seconds / 2)
        """Scores of windows served from origins this recent are kept."""
        self._pending: deque[tuple[float, float]] = deque()
        """``(origin, centre)`` of each window on the grid not yet passed, oldest first."""
        self._scores: deque[tuple[float, float]] = deque()
        """``(origin, score)`` of each passed window of the span, oldest first."""
        self._through: float | None = None
        """The latest origin whose window is remembered or was passed over (off the grid)."""

    @property
    def residuals(self) -> int:
        """Scores known."""
        return len(self._scores)

    def on_grid(self, origin: float, step_seconds: float) -> bool:
        """Whether the window served from ``origin`` is scored: the first origin at or after each
        multiple of the grid's spacing, so every replica scores the same ones."""
        spacing = self.spacing_steps(step_seconds) * step_seconds
        return math.floor(origin / spacing) != math.floor((origin - step_seconds) / spacing)

    def spacing_steps(self, step_seconds: float) -> int:
        """Steps between two scored origins."""
        return max(1, round(self.span_seconds / step_seconds) // WINDOWS)

    def observe(self, series: Series) -> None:
        """Score every remembered window that ``series`` has now seen to its end, and forget the
        scores older than the span."""
        while self._pending:
            origin, centre = self._pending[0]
            first = round((origin - series.start) / series.step_seconds) + self._lead
            end = first + self._window + 1
            if end > len(series):
                break  # later windows end later still
            self._pending.popleft()
            if first < 0:
                continue  # the window is no longer in the history
            seen = series.values[first:end]
            known = seen[np.isfinite(seen)]
            if known.size:
                self._scores.append((origin, float(known.max()) - centre))
        while self._scores and self._scores[0][0] <= series.end - self.span_seconds:
            self._scores.popleft()

    def record(self, forecast: Forecast, origin: float) -> None:
        """Remember the window served from ``forecast``, made at ``origin`` (the time of the last
        value it saw), where the origin is on the grid; a second forecast made at the same moment
        is not counted twice."""
        if self._through is not None and self._through >= origin:
            return
        self._through = origin
        if self.on_grid(origin, forecast.step_seconds):
            self._pending.append((origin, float(forecast.mean[self._lead - 1 : self._lead + self._window].max())))

    def extend(self, series: Series, served_at: Callable[[int], Forecast | None]) -> None:
        """Remember the windows of the forecasts ``served_at(index)`` makes from the values up to
        each index on the grid of the span that is later than any remembered, the latest included
        (None where none would have been served), and score those passed. A step that was late, and
        missed an origin, remembers it here as the walk would have."""
        step = series.step_seconds
        spacing = self.spacing_steps(step)
        latest = len(series) - 1
        oldest = max(0, latest - round(self.span_seconds / step) + 1)
        if self._through is not None:
            oldest = max(oldest, round((self._through - series.start) / step) + 1)
        first = next((index for index in range(oldest, min(oldest + spacing, latest + 1))
                      if self.on_grid(series.start + index * step, step)), None)
        for index in range(latest + 1 if first is None else first, latest + 1, spacing):
            forecast = served_at(index)
            if forecast is not None:
                self.record(forecast, series.start + index * step)
        self._through = series.end if self._through is None else max(self._through, series.end)
        self.observe(series)

    def fill(self, series: Series, served_at: Callable[[int], Forecast | None]) -> None:
        """Replace every score and remembered window by those of the forecasts ``served_at(index)``
        makes over the span (see :meth:`extend`): the walk of a model just fitted."""
        self._pending.clear()
        self._scores.clear()
        self._through = None
        self.extend(series, served_at)

    def adjusted(self, forecast: Forecast, *, quantile: float) -> Forecast:
        """``forecast`` with its upper bound calibrated at ``quantile``; unchanged while fewer than
        :data:`MIN_RESIDUALS` scores are known, or too few for the rank ``quantile`` needs.

        The bound never goes below the mean (a forecast's invariant): a model that over-forecasts
        that much has its mean served.
        """
        count = len(self._scores)
        rank = math.ceil((count + 1) * quantile)
        if count < MIN_RESIDUALS or rank > count:
            return forecast
        scores = np.fromiter((score for _, score in self._scores), dtype=np.float64, count=count)
        score = float(np.partition(scores, rank - 1)[rank - 1])
        upper = np.maximum(forecast.mean + score, forecast.mean)
        return replace(forecast, upper=upper, notes=(*forecast.notes, f"conformal bound from {count} windows"))
