"""Supervised background tasks: a failing pass is retried with backoff and logged once with its
cause, and a task that stops making progress is reported, so ``/livez`` can fail.

Time is a fake clock moved by the supervisor's own sleeps: backoffs and stalls take no real time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapter.app.assembly import assemble
from adapter.runtime.supervision import BACKOFF_MAX_SECONDS, Supervisor
from adapter.settings.config import RefreshSettings
from tests.empty_source import EmptySource

INTERVAL = 15.0
STALL_AFTER = 300.0


class FakeTime:
    """A clock that only the supervisor's sleeps move; each sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def supervisor(fake_time: FakeTime) -> AsyncIterator[Supervisor]:
    supervisor = Supervisor(clock=fake_time.clock, sleep=fake_time.sleep)
    yield supervisor
    await supervisor.stop()


async def until(condition: Callable[[], bool]) -> None:
    """Let the supervised tasks run until ``condition`` holds; a task that died never gets there,
    so the number of turns is bounded (each pass and sleep takes a turn or two, not thousands)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the supervised tasks never got there")


def failing_times(failures: int, error: Callable[[], BaseException] = lambda: ValueError("no answer")) -> tuple[
    Callable[[], Awaitable[None]], list[int]
]:
    """A pass that raises ``failures`` times, then succeeds; the list counts its calls."""
    calls = [0]

    async def run_pass() -> None:
        calls[0] += 1
        if calls[0] <= failures:
            raise error()

    return run_pass, calls


def hung_pass() -> tuple[asyncio.Event, asyncio.Event, Callable[[], Awaitable[None]]]:
    """A pass that sets the first event once it runs, then waits for the second."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def hung() -> None:
        entered.set()
        await release.wait()

    return entered, release, hung


async def test_a_failing_pass_is_retried_with_growing_backoff_until_it_works(
    supervisor: Supervisor, fake_time: FakeTime
) -> None:
    run_pass, calls = failing_times(8)
    supervisor.add("refresher", run_pass, pause=lambda _: INTERVAL, stall_after=STALL_AFTER)
    supervisor.start()
    await until(lambda: calls[0] == 10)
    assert fake_time.sleeps[:11] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, BACKOFF_MAX_SECONDS, BACKOFF_MAX_SECONDS,
                                     INTERVAL, INTERVAL]


async def test_a_failure_is_logged_once_with_its_cause_then_briefly_then_its_recovery(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    run_pass, calls = failing_times(5)
    supervisor.add("refresher", run_pass, pause=lambda _: INTERVAL, stall_after=STALL_AFTER)
    with caplog.at_level(logging.INFO, logger="adapter.runtime.supervision"):
        supervisor.start()
        await until(lambda: calls[0] == 6)
    records = [record for record in caplog.records if record.name == "adapter.runtime.supervision"]
    assert [record.exc_info is not None for record in records] == [True, False, False, False]
    assert "'refresher' failed" in records[0].getMessage()
    assert "after 2 tries" in records[1].getMessage() and "after 4 tries" in records[2].getMessage()
    assert "works again after 5 failed tries" in records[3].getMessage()


async def test_a_cancelled_future_inside_a_pass_does_not_end_the_task(supervisor: Supervisor) -> None:
    def cancelled() -> BaseException:
        return asyncio.CancelledError()

    run_pass, calls = failing_times(2, cancelled)
    supervised = supervisor.add("forecaster", run_pass, pause=lambda _: INTERVAL, stall_after=STALL_AFTER)
    supervisor.start()
    await until(lambda: calls[0] == 4)
    assert supervised.task is not None and not supervised.task.done()
    assert supervisor.problems() == []


async def test_failing_for_longer_than_the_bound_is_a_problem(supervisor: Supervisor, fake_time: FakeTime) -> None:
    run_pass, calls = failing_times(1000)
    supervisor.add("refresher", run_pass, pause=lambda _: INTERVAL, stall_after=STALL_AFTER)
    supervisor.start()
    await until(lambda: calls[0] == 3)
    assert supervisor.problems() == [], "failing for 3 s is within the bound"
    await until(lambda: sum(fake_time.sleeps) > STALL_AFTER + BACKOFF_MAX_SECONDS)
    [problem] = supervisor.problems()
    assert problem.startswith("refresher: failing for ")


async def test_a_hung_pass_is_a_problem_until_its_work_reports_progress(
    supervisor: Supervisor, fake_time: FakeTime
) -> None:
    entered, release, hung = hung_pass()

    supervised = supervisor.add("forecaster", hung, pause=lambda _: INTERVAL, stall_after=STALL_AFTER)
    supervisor.start()
    await entered.wait()
    assert supervisor.problems() == []
    fake_time.now += STALL_AFTER + 1
    assert supervisor.problems() == ["forecaster: no progress for 301s"]
    supervised.progress()  # one series stepped inside the long pass
    assert supervisor.problems() == []
    release.set()


async def test_a_task_not_started_is_no_problem(fake_time: FakeTime) -> None:
    supervisor = Supervisor(clock=fake_time.clock, sleep=fake_time.sleep)
    run_pass, _ = failing_times(0)
    supervisor.add("refresher", run_pass, pause=lambda _: INTERVAL, stall_after=STALL_AFTER)
    fake_time.now += 10 * STALL_AFTER
    assert supervisor.problems() == []


async def test_livez_fails_while_a_task_is_stalled_and_healthz_stays_open(
    supervisor: Supervisor, fake_time: FakeTime
) -> None:
    entered, release, hung = hung_pass()

    watcher = supervisor.add("config watcher", hung, pause=lambda _: INTERVAL, stall_after=STALL_AFTER)
    supervisor.start()  # before the app adds its own tasks, which this test does not run
    adapter = assemble(rules={}, source=EmptySource(), refresh=RefreshSettings(), refresh_in_background=False,
                       supervisor=supervisor)
    async with TestClient(TestServer(adapter.app)) as client:
        await entered.wait()
        assert (await client.get("/livez")).status == 200
        fake_time.now += STALL_AFTER + 1
        response = await client.get("/livez")
        body = await response.json()
        assert response.status == 503 and body["kind"] == "Status" and body["reason"] == "ServiceUnavailable"
        assert "config watcher: no progress for 301s" in body["message"]
        assert (await client.get("/healthz")).status == 200
        watcher.progress()
        assert (await client.get("/livez")).status == 200
        release.set()
