"""The forecast jobs a tracker hands its worker pool, recorded as they pass, so a test can check
the plan each series was stepped with."""

from __future__ import annotations

import pytest

from adapter.tracking.tracker import ForecastTracker
from forecasting.plan import StepOutcome
from forecasting.worker import Job


def record_jobs(tracker: ForecastTracker, monkeypatch: pytest.MonkeyPatch) -> list[Job]:
    """A list that fills with every job ``tracker`` runs from now on; the jobs still run."""
    jobs: list[Job] = []
    run = tracker.pool.run

    async def recorded(job: Job, *, priority: int = 0) -> StepOutcome:
        jobs.append(job)
        return await run(job, priority=priority)

    monkeypatch.setattr(tracker.pool, "run", recorded)
    return jobs
