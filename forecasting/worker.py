"""Code that runs inside the adapter's forecasting worker processes.

Each worker process owns one shard of the tracked series and keeps their fitted models here,
between calls: a refit is expensive, an update cheap, and a fitted model is too large to ship
back and forth every minute. The parent sends the whole recent series with every job, and the
series' known model, so a worker that was restarted (or a replica that was) only needs to refit.
Nothing here touches the network or the event loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from forecasting.core import Series
from forecasting.plan import Plan, StepOutcome

if TYPE_CHECKING:
    from forecasting.pipeline import SeriesForecaster

_FORECASTERS: dict[str, SeriesForecaster] = {}
"""This process's shard: the forecaster of every series it has been given, by key."""


@dataclass(frozen=True)
class Job:
    """One series' turn: its latest history and how to forecast it."""

    key: str
    values: np.ndarray
    step_seconds: float
    start: float
    now: float
    """The time the schedule's deadlines are judged at: a step after the last of ``values``, on the
    step grid, so the same on every replica."""
    plan: Plan
    known_model: str | None = None
    """The model last selected for the series (by this process, or read back from Prometheus);
    a new forecaster starts from it instead of selecting."""
    fit_by: float | None = None
    """Wall-clock time after which a known model's first fit is put off to the series' next step
    (seasonal naive serves once more): the pass that sent the job must end within its tick."""


def run_job(job: Job) -> StepOutcome:
    """Select, refit or update (whichever the schedule says is due) and forecast."""
    # The model libraries load in the workers only; the server process never needs them.
    from forecasting.pipeline import SeriesForecaster

    forecaster = _FORECASTERS.get(job.key)
    if forecaster is None or forecaster.plan != job.plan:
        forecaster = _FORECASTERS[job.key] = SeriesForecaster(job.plan, known=job.known_model)
    late = job.fit_by is not None and time.time() > job.fit_by
    return forecaster.step(Series(job.values, job.step_seconds, job.start), now=job.now, put_off_fit=late)


def warm_up_worker() -> None:
    """Load the model libraries (seconds of imports) before the first job needs them."""
    import forecasting.pipeline  # noqa: F401


def forget_series(keys: list[str]) -> None:
    """Drop the models of series no longer tracked."""
    for key in keys:
        _FORECASTERS.pop(key, None)
