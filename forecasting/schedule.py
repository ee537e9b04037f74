"""When models are refit and selection re-run: one schedule shared by the adapter and the backtest,
so that what the backtest scores is what the adapter would have served.

Every deadline is a wall-clock multiple of its period (see :func:`due`), so replicas that see the
same data refit and select at the same moments and serve the same values.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

from forecasting.core import DAY_SECONDS, WEEK_SECONDS

HOUR_SECONDS = 3600.0


@dataclass(frozen=True)
class Schedule:
    """How much history models see, and how often they are refit and compared."""

    history_seconds: float = WEEK_SECONDS
    """History a model is fit on: the tracker keeps this much, enough for a daily cycle seen seven
    times and the start of a weekly one."""
    refit_every_seconds: float = HOUR_SECONDS
    """The statistical models' parameters are re-estimated this often; between refits models are
    only ``update``d with the newer data, which is cheap. An hour keeps fits a small share of a
    worker's time."""
    learned_refit_every_seconds: float = 6 * HOUR_SECONDS
    """The learned models' (gradient boosting, the MLP) are re-estimated this often. They learn from
    a week of windows, each normalised by its own level, which five more hours hardly change, and
    one of their fits costs four of ARIMA's: refit hourly, they were most of a walk's fitting. On
    NASA's last 14 days the predictive HPA's slow requests fell from 0.35 to 0.25 % and its
    GPU-hours by 0.3 %, with a third less fitting."""
    select_every_seconds: float = 6 * HOUR_SECONDS
    """Selection re-runs this often: a series' character changes over days, not minutes, and a
    selection costs one fit of every candidate."""
    selection_lookback_seconds: float = DAY_SECONDS
    """Selection scores origins over this span at the end of the history: a day, so every hour of
    the daily cycle counts once."""
    selection_origins: int = 48
    """At most this many origins, evenly spaced over the look-back, so a selection costs one fit
    plus this many updates per candidate whatever the step."""

    def __post_init__(self) -> None:
        for name in ("history_seconds", "refit_every_seconds", "learned_refit_every_seconds", "select_every_seconds",
                     "selection_lookback_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if self.selection_origins < 1:
            raise ValueError(f"selection_origins must be at least 1, not {self.selection_origins!r}")


DEFAULT_SCHEDULE = Schedule()


def due(last: float | None, now: float, every: float) -> bool:
    """Whether a wall-clock multiple of ``every`` lies in ``(last, now]``; always when ``last`` is
    None (never run). Aligning to multiples rather than to ``last + every`` keeps replicas that
    started at different moments on the same deadlines."""
    if not every > 0:
        raise ValueError(f"every must be positive, not {every!r}")
    if last is None:
        return True
    return math.floor(now / every) > math.floor(last / every)


def phase_for(key: str, schedule: Schedule) -> float:
    """Offset of a series' selection and refit deadlines within their periods, from its key: spread
    evenly over a thousand series, so they do not all select in the same minute, and the same on
    every replica."""
    return float(zlib.crc32(key.encode()) % int(schedule.select_every_seconds))
