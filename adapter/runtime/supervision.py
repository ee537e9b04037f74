"""Long-lived background work that survives its own failures and says when it has stalled.

Each task repeats a *pass* with a pause between: the refresher's refresh of every key, the
tracker's step of every series, the config watcher's check, the access reloader's reload. A pass
that raises is logged with its cause the first time, in one line while it keeps failing, and
tried again after a growing backoff: nothing a pass meets can end its task. A task makes progress
when a pass completes or when its work reports some (:meth:`Supervised.progress`, e.g. one key
evaluated within a long refresh). ``/livez`` fails when a task has made none within its bound, or
has failed for that long, so the kubelet restarts a replica that cannot heal itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0


@dataclass
class Supervised:
    """One supervised task and what is known of its health."""

    name: str
    run_pass: Callable[[], Awaitable[object]]
    pause: Callable[[float], float]
    """Seconds to wait after a pass that took the given seconds."""
    stall_after: float
    """No progress for this long (or failures for this long) makes the replica unhealthy."""
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    initial_delay: float = 0.0
    last_progress: float = 0.0
    failing_since: float | None = None
    failures: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def progress(self) -> None:
        """Record that the work moved on, also in the middle of a long pass."""
        self.last_progress = self.clock()

    def problem(self) -> str | None:
        """Why this task counts as unhealthy now, or None (also before it starts)."""
        if self.task is None:
            return None
        if self.task.done():
            return f"{self.name}: stopped"
        now = self.clock()
        if self.failing_since is not None and now - self.failing_since > self.stall_after:
            return f"{self.name}: failing for {now - self.failing_since:.0f}s ({self.failures} tries)"
        if now - self.last_progress > self.stall_after:
            return f"{self.name}: no progress for {now - self.last_progress:.0f}s"
        return None

    async def run(self) -> None:
        self.progress()
        await self.sleep(self.initial_delay)
        while True:
            began = self.clock()
            try:
                await self.run_pass()
            except asyncio.CancelledError as error:
                if _being_cancelled():
                    raise
                delay = self._failed(error)  # a cancelled future awaited inside the pass
            except Exception as error:  # noqa: BLE001 - the point: no failure ends the task
                delay = self._failed(error)
            else:
                self._succeeded()
                delay = self.pause(self.clock() - began)
            await self.sleep(max(0.0, delay))

    def _failed(self, error: BaseException) -> float:
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = self.clock()
            log.error("background task %r failed; retrying with backoff", self.name, exc_info=error)
        elif self.failures & (self.failures - 1) == 0:  # 2, 4, 8, ... tries: a line, not a flood
            log.error("background task %r still failing after %d tries: %r", self.name, self.failures, error)
        return min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2.0 ** (self.failures - 1))

    def _succeeded(self) -> None:
        if self.failing_since is not None:
            log.info("background task %r works again after %d failed tries", self.name, self.failures)
        self.failures, self.failing_since = 0, None
        self.progress()


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Supervisor:
    """The application's background tasks: added before start, started and stopped together.
    Tests give a clock and a sleep of their own, so backoff and stalls take no real time."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._tasks: list[Supervised] = []

    def add(
        self,
        name: str,
        run_pass: Callable[[], Awaitable[object]],
        *,
        pause: Callable[[float], float],
        stall_after: float,
        initial_delay: float = 0.0,
    ) -> Supervised:
        supervised = Supervised(name, run_pass, pause, stall_after, self._clock, self._sleep, initial_delay)
        supervised.progress()
        self._tasks.append(supervised)
        return supervised

    def start(self) -> None:
        for supervised in self._tasks:
            if supervised.task is None:
                supervised.task = asyncio.create_task(supervised.run(), name=supervised.name)

    async def stop(self) -> None:
        tasks = [supervised.task for supervised in self._tasks if supervised.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def problems(self) -> list[str]:
        """One line per unhealthy task; empty when every task is making progress."""
        return [problem for supervised in self._tasks if (problem := supervised.problem()) is not None]
