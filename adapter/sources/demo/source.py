"""The demo fleet behind the :class:`~adapter.sources.protocol.Source` protocol.

Before each query the fleet is advanced to the query's time and its samples appended to an
in-memory TSDB; the query is then evaluated by the embedded PromQL subset. All of it runs on one
worker thread, started by :meth:`DemoSource.start`, which both keeps the event loop free and
serialises access to the TSDB.

That thread runs instant queries before range queries. A real Prometheus answers both at once,
so the values an HPA reads never wait for a forecast's backfill; one thread would otherwise
queue a refresh of every current value behind a 7-day range query, which takes seconds, and much
longer on a loaded machine. A range query also checks between its steps whether the source was
closed, so a shutdown never waits for a backfill to finish.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import numpy as np

from adapter.kubernetes.errors import SourceError
from adapter.sources.demo.fleet import DemoFleet
from adapter.sources.demo.promql import PromQLError, evaluate, parse
from adapter.sources.demo.tsdb import MemoryTSDB
from adapter.sources.protocol import RangeSeries, Sample

T = TypeVar("T")
log = logging.getLogger(__name__)
RETENTION_SECONDS = 8 * 86400.0
INSTANT, RANGE = 0, 1
"""Priorities on the worker thread: lower runs first."""
_STOP = -1


class SourceClosed(SourceError):
    """The source was closed while the query waited or ran."""


class _PriorityWorker:
    """One thread, from :meth:`start` on, that runs submitted calls, lowest priority number first,
    in order within one."""

    def __init__(self, name: str) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Future[Any] | None, Callable[[], Any] | None]] = (
            queue.PriorityQueue()
        )
        self._order = itertools.count()
        self._closing = threading.Lock()
        self.closed = threading.Event()
        self._name = name
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # A daemon: a source nobody closed must not keep the process alive; one that is closed
        # stops by itself within a step.
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def submit(self, priority: int, work: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._closing:  # a call is queued before the stop, or refused
            if self.closed.is_set():
                future.set_exception(SourceClosed("the demo source is closed"))
            elif self._thread is None:
                future.set_exception(SourceError("the demo source is not started"))
            else:
                self._queue.put((priority, next(self._order), future, work))
        return future

    def close(self) -> None:
        """Stop after the call that is running (a range query stops at its next step); calls still
        queued fail with :class:`SourceClosed`. Does not wait for the thread."""
        with self._closing:
            self.closed.set()
            self._queue.put((_STOP, next(self._order), None, None))

    def _run(self) -> None:
        while True:
            _, _, future, work = self._queue.get()
            if future is None or work is None:
                if self.closed.is_set():
                    break
                continue
            if not future.set_running_or_notify_cancel():
                continue
            if self.closed.is_set():
                future.set_exception(SourceClosed("the demo source is closed"))
                continue
            try:
                result = work()
            except BaseException as error:  # handed to the awaiting coroutine
                future.set_exception(error)
            else:
                future.set_result(result)
        while True:  # fail what is still queued
            try:
                _, _, future, _ = self._queue.get_nowait()
            except queue.Empty:
                return
            if future is not None and future.set_running_or_notify_cancel():
                future.set_exception(SourceClosed("the demo source is closed"))


class DemoSource:
    """Answers PromQL over the simulated fleet's series, up to the (possibly sped-up) clock's now."""

    def __init__(self, fleet: DemoFleet, *, clock: Callable[[], float]) -> None:
        self._fleet = fleet
        self._clock = clock
        self._db = MemoryTSDB(retention_seconds=RETENTION_SECONDS)
        self._worker = _PriorityWorker("demo-source")

    def advance(self, until: float) -> None:
        """Generate the fleet's samples up to ``until`` (blocking; start-up calls it directly)."""
        self._fleet.generate(until, self._db.append_many)

    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        when = self._clock() if at is None else at
        return await self._run(INSTANT, lambda: self._instant(query, when))

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        if step <= 0 or end < start:
            raise SourceError("a range query needs start <= end and a positive step")
        return await self._run(RANGE, lambda: self._range(query, start, end, step))

    async def start(self) -> None:
        """The worker thread queries run on."""
        self._worker.start()

    async def close(self) -> None:
        self._worker.close()

    def _instant(self, query: str, at: float) -> list[Sample]:
        self.advance(min(at, self._clock()))
        return [Sample(labels=labels, value=value) for labels, value in evaluate(parse(query), self._db, at)]

    def _range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
        self.advance(min(end, self._clock()))
        expression = parse(query)
        points: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[float], list[float]]] = {}
        for when in np.arange(start, end + step / 2, step):
            if self._worker.closed.is_set():
                raise SourceClosed("the demo source was closed during a range query")
            for labels, value in evaluate(expression, self._db, float(when)):
                key = tuple(sorted(labels.items()))
                entry = points.setdefault(key, (labels, [], []))
                entry[1].append(float(when))
                entry[2].append(value)
        return [RangeSeries(labels, tuple(times), tuple(values)) for labels, times, values in points.values()]

    async def _run(self, priority: int, work: Callable[[], T]) -> T:
        try:
            return await asyncio.wrap_future(self._worker.submit(priority, work))
        except SourceError:
            raise
        except PromQLError as error:
            raise SourceError(f"the demo source cannot evaluate this query: {error}") from error
        except Exception as error:  # the Source contract: only SourceError leaves a source
            log.exception("the demo source failed")
            raise SourceError("the demo source failed; see the adapter's log") from error
