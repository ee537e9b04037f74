"""Worker processes for model fitting, sharded by series so each keeps its own fitted models.

The event loop only submits jobs and awaits their results; it never waits on a fit. Each worker
is handed one job at a time, the most urgent waiting first (a series' cheap step before a catch-up
fit, that before a first selection), so after a restart every series has a forecast before the
costly fits start. A worker that dies is replaced at once and the jobs it held run again on its
successor, whose series refit their known models; a job that takes two workers down is given up
until its next step.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from forecasting import Job, StepOutcome, forget_series, one_thread_per_process, run_job, warm_up_worker

log = logging.getLogger(__name__)
TRIES_PER_JOB = 2
WORKER_NICENESS = 10
"""Added to each worker's nice value. Where the fits keep every core busy (a pod at its CPU limit, a
loaded node), the kernel then runs the server's event loop before them, so a request for a metric
waits on no fit; on an idle core a worker runs as fast as before."""


class WorkerLost(Exception):
    """The workers running a job died on every try; the death is already logged."""


class _Turns:
    """One worker's queue: whoever holds the turn has a job in the worker; the others wait in
    order of priority (lower first), then of arrival."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    async def take(self, priority: int) -> None:
        if not self._busy:
            self._busy = True
            return
        turn = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._arrivals), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give()  # handed the turn just as the waiter was cancelled: pass it on
            raise

    def give(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._busy = False


class ForecastPool:
    """``workers`` single-process executors; a series always goes to the same one. A worker
    process starts with its first job, so an adapter nobody asks for forecasts spawns none."""

    def __init__(self, workers: int, *, work: Callable[[Job], StepOutcome] = run_job,
                 niceness: int = WORKER_NICENESS) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._niceness = niceness
        self._executors: list[ProcessPoolExecutor | None] = [None] * workers
        self._turns = [_Turns() for _ in range(workers)]
        self._work = work
        """What a worker does with a job; tests give one that dies on purpose."""
        self._closed = False

    def _executor(self, index: int) -> ProcessPoolExecutor:
        """The shard's executor, started on first use.

        Workers inherit one BLAS/OpenMP thread each, unless the environment already says
        otherwise: two OpenMP threads per fit on a shared 2-core machine made one gradient-boosting
        fit take 30-40 s instead of 0.3 s.
        """
        executor = self._executors[index]
        if executor is None:
            one_thread_per_process()
            executor = self._executors[index] = ProcessPoolExecutor(
                max_workers=1, mp_context=self._context, initializer=os.nice, initargs=(self._niceness,))
        return executor

    def _shard(self, key: str) -> int:
        return zlib.crc32(key.encode()) % len(self._executors)

    async def run(self, job: Job, *, priority: int = 0) -> StepOutcome:
        """The job's outcome, once the jobs of its worker with a lower ``priority`` (and those of
        the same that came first) have run. A worker that dies under it is replaced and the job
        tried again; raises :class:`WorkerLost` when every try lost its worker."""
        index = self._shard(job.key)
        turns = self._turns[index]
        await turns.take(priority)
        try:
            return await self._run(index, job)
        finally:
            turns.give()

    async def _run(self, index: int, job: Job) -> StepOutcome:
        loop = asyncio.get_running_loop()
        for _ in range(TRIES_PER_JOB):
            if self._executors[index] is None and not self._closed:
                # The first submit spawns the process: a tenth of a second and more, not on the loop.
                await asyncio.to_thread(self._executor(index).submit, os.getpid)
            if self._closed:
                raise WorkerLost("the forecast workers are stopped")
            executor = self._executor(index)
            try:
                return await loop.run_in_executor(executor, self._work, job)
            except BrokenProcessPool:
                await self._replace(index, executor)
        raise WorkerLost(f"forecast worker {index} died {TRIES_PER_JOB} times running this series")

    async def _replace(self, index: int, broken: ProcessPoolExecutor) -> None:
        """Start the dead worker's successor now, its imports under way before the retried jobs
        arrive; the spawn (a tenth of a second and more) runs off the loop. Every job the dead
        worker held lands here; only the first replaces it and logs."""
        if self._executors[index] is not broken:
            return
        log.error("forecast worker %d died; a new one replaces it and its series refit their models", index)
        broken.shutdown(wait=False, cancel_futures=True)
        self._executors[index] = None
        if not self._closed:
            await asyncio.to_thread(self._executor(index).submit, warm_up_worker)

    def forget(self, keys: Iterable[str]) -> None:
        """Tell the owning workers to drop the models of ``keys`` (fire and forget)."""
        by_shard: dict[int, list[str]] = {}
        for key in keys:
            by_shard.setdefault(self._shard(key), []).append(key)
        for index, shard_keys in by_shard.items():
            executor = self._executors[index]
            if executor is not None:
                executor.submit(forget_series, shard_keys)

    def close(self) -> None:
        """Stop the workers now: terminate them and wait for them to exit, so none is left behind.

        A fit in progress is abandoned, not awaited: nobody reads its outcome after shutdown, and a
        worker's first selection (imports included) on a loaded machine took 15-30 s, longer than a
        pod's grace period."""
        self._closed = True
        for index, executor in enumerate(self._executors):
            if executor is not None:
                # ProcessPoolExecutor has no public way to stop a busy worker before Python 3.14.
                workers = list((executor._processes or {}).values())
                for worker in workers:
                    worker.terminate()
                executor.shutdown(wait=True, cancel_futures=True)
            self._executors[index] = None
