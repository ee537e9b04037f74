"""A forecast worker that dies is replaced at once: the jobs it held run again on its successor,
the death is logged in one line, and a job that takes every try's worker down is given up.
Closing the pool stops its workers at once, even one in the middle of a job: a worker's first
model selection (imports included) took 15-30 s on a loaded machine, past a pod's grace period."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from adapter.kubernetes.selectors import parse_selector
from adapter.settings.config import ForecastSettings, MetricRule
from adapter.signals.rules import QueryScope
from adapter.sources.protocol import RangeSeries, Sample, Source
from adapter.tracking.forecast_pool import WORKER_NICENESS, ForecastPool, WorkerLost
from adapter.tracking.tracker import CATCH_UP, FIRST_SELECTION, STEADY, ForecastKey, ForecastTracker
from forecasting.plan import Plan, StepOutcome
from forecasting.schedule import Schedule
from forecasting.worker import Job

from .dying_work import always_dies, dies_once
from .echo_work import echo_calibration, echo_niceness


def job(key: str) -> Job:
    return Job(key, np.ones(60), 60.0, 0.0, 3600.0, Plan(lead_steps=3, window_steps=5))


@pytest.fixture
def pool_of() -> Iterator[Callable[[Callable[[Job], StepOutcome]], ForecastPool]]:
    pools: list[ForecastPool] = []

    def make(work: Callable[[Job], StepOutcome]) -> ForecastPool:
        pools.append(ForecastPool(1, work=work))
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


def deaths(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if "died" in record.getMessage()]


async def test_jobs_held_by_a_worker_that_dies_run_again_on_its_successor(
    pool_of: Callable[[Callable[[Job], StepOutcome]], ForecastPool], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pool = pool_of(dies_once)
    marker = tmp_path / "died"
    with caplog.at_level(logging.INFO, logger="adapter.tracking.forecast_pool"):
        outcomes = await asyncio.gather(*(pool.run(job(f"{marker}|series-{n}")) for n in range(3)))
    assert marker.exists(), "the first worker died"
    assert len({outcome.reason for outcome in outcomes}) == 1, "all three ran on the one successor"
    [death] = deaths(caplog)
    assert death.levelno == logging.ERROR and death.exc_info is None
    assert not [record for record in caplog.records if record.exc_info]


async def test_a_job_that_takes_every_worker_down_is_given_up_and_a_successor_is_already_starting(
    pool_of: Callable[[Callable[[Job], StepOutcome]], ForecastPool], caplog: pytest.LogCaptureFixture
) -> None:
    pool = pool_of(always_dies)
    with caplog.at_level(logging.INFO, logger="adapter.tracking.forecast_pool"), pytest.raises(WorkerLost):
        await pool.run(job("poison"))
    assert len(deaths(caplog)) == 2
    assert [process for process in multiprocessing.active_children() if process.is_alive()], (
        "the next worker starts now, not with the next job"
    )


async def test_the_successor_of_a_dead_worker_is_spawned_off_the_event_loop(
    pool_of: Callable[[Callable[[Job], StepOutcome]], ForecastPool], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spawning a process takes a tenth of a second and more: on the loop, every request would wait."""
    submitted_on: dict[str, threading.Thread] = {}
    submit = ProcessPoolExecutor.submit

    def recorded(executor: ProcessPoolExecutor, fn: Callable[..., object], /, *args: object) -> Future[object]:
        submitted_on.setdefault(getattr(fn, "__name__", ""), threading.current_thread())
        return submit(executor, fn, *args)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", recorded)
    pool = pool_of(dies_once)
    await pool.run(job(f"{tmp_path / 'died'}|series-0"))
    assert submitted_on["warm_up_worker"] is not threading.main_thread()


class OneSeriesSource:
    """A range answer of one flat series, enough for a job to be sent; no model published before."""

    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        return []

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        times = np.arange(start, end + step, step)
        return [RangeSeries({}, tuple(times), tuple(np.ones(len(times))))]


async def test_the_tracker_records_a_lost_worker_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    pool = ForecastPool(1, work=always_dies)
    tracker = ForecastTracker(cast(Source, OneSeriesSource()), pool, settings=ForecastSettings(history="1h"),
                              schedule=Schedule(history_seconds=3600.0), clock=time.time, idle_after=600.0)
    key = ForecastKey("requests_per_second", "default", "app=llama")
    rule = MetricRule(name="requests_per_second", query="sum(rate(requests_total{<<.LabelMatchers>>}[1m]))")
    tracker.track(key, rule, QueryScope("default", parse_selector("app=llama")))
    try:
        with caplog.at_level(logging.INFO):
            await tracker.refresh_now()
    finally:
        pool.close()
    [view] = list(tracker.views())
    assert view.view.state == "warming" and "died 2 times" in (view.view.reason or "")
    assert not [record for record in caplog.records if record.exc_info], "no traceback for a lost worker"


@pytest.mark.parametrize(("configured", "expected"), [({}, "conformal"), ({"calibration": "none"}, "none")])
async def test_the_worker_calibrates_as_the_config_says(configured: dict[str, str], expected: str) -> None:
    pool = ForecastPool(1, work=echo_calibration)
    tracker = ForecastTracker(cast(Source, OneSeriesSource()), pool,
                              settings=ForecastSettings(history="1h", **configured),  # type: ignore[arg-type]
                              schedule=Schedule(history_seconds=3600.0), clock=time.time, idle_after=600.0)
    key = ForecastKey("requests_per_second", "default", "app=llama")
    rule = MetricRule(name="requests_per_second", query="sum(rate(requests_total{<<.LabelMatchers>>}[1m]))")
    tracker.track(key, rule, QueryScope("default", parse_selector("app=llama")))
    try:
        await tracker.refresh_now()
    finally:
        pool.close()
    [view] = list(tracker.views())
    assert view.view.reason == f"calibration {expected}"


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


async def test_a_worker_runs_waiting_steps_of_series_with_a_model_before_first_selections(
    pool_of: Callable[[Callable[[Job], StepOutcome]], ForecastPool],
) -> None:
    """The first job takes the idle worker; the others wait and run by priority (steady steps,
    then catch-up fits, then first selections), in arrival order within one."""
    pool = pool_of(echo_calibration)
    finished: list[str] = []

    async def run(key: str, priority: int) -> None:
        await pool.run(job(key), priority=priority)
        finished.append(key)

    jobs = [("first", FIRST_SELECTION), ("select", FIRST_SELECTION), ("catch-up", CATCH_UP),
            ("steady", STEADY), ("steady-too", STEADY)]
    await asyncio.gather(*(run(key, priority) for key, priority in jobs))
    assert finished == ["first", "steady", "steady-too", "catch-up", "select"]


async def test_workers_run_at_a_lower_priority_than_the_server(
    pool_of: Callable[[Callable[[Job], StepOutcome]], ForecastPool],
) -> None:
    """Fits that keep every core busy must not keep the event loop from answering: the kernel runs
    the server's process before its workers."""
    outcome = await pool_of(echo_niceness).run(job("niceness"))
    assert outcome.reason == f"niceness {min(os.nice(0) + WORKER_NICENESS, 19)}"
    assert os.nice(0) < 19
