"""Closing the forecast pool stops its workers at once, even one in the middle of a job.

A worker's first model selection (imports included) took 15-30 s on a loaded machine; shutdown
waited for it, past a pod's grace period. Here the job is a sleep of an hour: a close that waited
for it would not return."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool

import pytest

from adapter.forecast_pool import ForecastPool

HANG_GUARD_S = 120.0
"""Only tells a close that returns from one that waits out the hour-long job."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_close_stops_a_worker_in_the_middle_of_a_job() -> None:
    pool = ForecastPool(1)
    executor = pool._executor(0)
    pid = executor.submit(os.getpid).result(timeout=HANG_GUARD_S)
    endless = executor.submit(time.sleep, 3600)
    closing = threading.Thread(target=pool.close, daemon=True)
    closing.start()
    closing.join(timeout=HANG_GUARD_S)
    try:
        assert not closing.is_alive(), "close() waited for the job in progress"
        assert not _alive(pid), "the worker process outlived close()"
        with pytest.raises((BrokenProcessPool, CancelledError)):
            endless.result(timeout=0)
    finally:
        if _alive(pid):
            os.kill(pid, 9)
