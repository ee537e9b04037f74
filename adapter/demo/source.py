"""The demo fleet behind the :class:`~adapter.source.Source` protocol.

Before each query the fleet is advanced to the query's time and its samples appended to an
in-memory TSDB; the query is then evaluated by the embedded PromQL subset. All of it runs on one
worker thread, which both keeps the event loop free and serialises access to the TSDB.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from adapter.demo.fleet import DemoFleet
from adapter.demo.promql import PromQLError, evaluate, parse
from adapter.demo.tsdb import MemoryTSDB
from adapter.errors import SourceError
from adapter.source import RangeSeries, Sample

T = TypeVar("T")
log = logging.getLogger(__name__)
RETENTION_SECONDS = 8 * 86400.0


class DemoSource:
    """Answers PromQL over the simulated fleet's series, up to the (possibly sped-up) clock's now."""

    def __init__(self, fleet: DemoFleet, *, clock: Callable[[], float]) -> None:
        self._fleet = fleet
        self._clock = clock
        self._db = MemoryTSDB(retention_seconds=RETENTION_SECONDS)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-source")

    def advance(self, until: float) -> None:
        """Generate the fleet's samples up to ``until`` (blocking; start-up calls it directly)."""
        self._fleet.generate(until, self._db.append_many)

    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        when = self._clock() if at is None else at
        return await self._run(lambda: self._instant(query, when))

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        if step <= 0 or end < start:
            raise SourceError("a range query needs start <= end and a positive step")
        return await self._run(lambda: self._range(query, start, end, step))

    async def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _instant(self, query: str, at: float) -> list[Sample]:
        self.advance(min(at, self._clock()))
        return [Sample(labels=labels, value=value) for labels, value in evaluate(parse(query), self._db, at)]

    def _range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
        self.advance(min(end, self._clock()))
        expression = parse(query)
        points: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[float], list[float]]] = {}
        for when in np.arange(start, end + step / 2, step):
            for labels, value in evaluate(expression, self._db, float(when)):
                key = tuple(sorted(labels.items()))
                entry = points.setdefault(key, (labels, [], []))
                entry[1].append(float(when))
                entry[2].append(value)
        return [RangeSeries(labels, tuple(times), tuple(values)) for labels, times, values in points.values()]

    async def _run(self, work: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._worker, work)
        except PromQLError as error:
            raise SourceError(f"the demo source cannot evaluate this query: {error}") from error
        except Exception as error:  # the Source contract: only SourceError leaves a source
            log.exception("the demo source failed")
            raise SourceError("the demo source failed; see the adapter's log") from error
