"""Work for forecast workers that answers with the calibration its job's plan asks for, so tests can
see the plan the tracker built in the worker that receives it.

Module-level, because a spawned worker imports what it runs by name."""

from __future__ import annotations

import os

from forecasting.plan import StepOutcome
from forecasting.worker import Job


def echo_calibration(job: Job) -> StepOutcome:
    return StepOutcome(model=None, forecast=None, reason=f"calibration {job.plan.calibration}")


def echo_niceness(job: Job) -> StepOutcome:
    """Answers with the worker's nice value."""
    return StepOutcome(model=None, forecast=None, reason=f"niceness {os.nice(0)}")
