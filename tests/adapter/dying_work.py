"""Work for forecast workers that kills its own process, so tests can make a worker die on cue.

Module-level functions, because a spawned worker imports what it runs by name."""

from __future__ import annotations

import os
from pathlib import Path

from forecasting.plan import StepOutcome
from forecasting.worker import Job


def dies_once(job: Job) -> StepOutcome:
    """Kills its worker the first time any job names the marker file before the ``|`` in its key."""
    marker = Path(job.key.split("|")[0])
    if not marker.exists():
        marker.touch()
        os._exit(3)
    return StepOutcome(model=None, forecast=None, reason=f"answered by worker {os.getpid()}")


def always_dies(job: Job) -> StepOutcome:
    os._exit(3)

