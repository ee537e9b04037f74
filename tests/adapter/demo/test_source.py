"""The demo source's worker thread: current values never queue behind a backfill, and closing it
stops a range query between two of its steps instead of waiting for the rest."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

import adapter.sources.demo.source as demo_source
from adapter.sources.demo.fleet import default_fleet
from adapter.sources.demo.source import RANGE, DemoSource, SourceClosed

NOW = 1_700_000_000.0
HISTORY = 3600.0
QUERY = "sum(vllm:num_requests_waiting)"


@pytest.fixture
def source() -> Iterator[DemoSource]:
    demo = DemoSource(default_fleet(start=NOW - HISTORY, seed=1), clock=lambda: NOW)
    demo.advance(NOW)
    asyncio.run(demo.start())
    yield demo
    asyncio.run(demo.close())


async def test_an_instant_query_runs_before_a_range_query_queued_ahead_of_it(
    source: DemoSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluate = demo_source.evaluate
    evaluated_at: list[float] = []

    def recorded(expression: object, db: object, at: float) -> object:
        evaluated_at.append(at)
        return evaluate(expression, db, at)  # type: ignore[arg-type]

    monkeypatch.setattr(demo_source, "evaluate", recorded)
    gate = threading.Event()
    busy = asyncio.wrap_future(source._worker.submit(RANGE, gate.wait))  # the worker is taken
    backfill = asyncio.create_task(source.range(QUERY, start=NOW - HISTORY, end=NOW, step=60.0))
    await asyncio.sleep(0)  # the range query is queued first
    current = asyncio.create_task(source.instant(QUERY, at=NOW + 1))
    await asyncio.sleep(0)
    gate.set()
    assert await busy and len(await backfill) == 1 and len(await current) == 1
    assert evaluated_at[0] == NOW + 1  # the instant query, then the range's 61 steps
    assert evaluated_at[1:] == [NOW - HISTORY + 60.0 * step for step in range(61)]


async def test_close_stops_a_range_query_between_its_steps(
    source: DemoSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluate = demo_source.evaluate
    first_step, carry_on = threading.Event(), threading.Event()
    steps = 0

    def one_step(*args: object) -> object:
        nonlocal steps
        steps += 1
        first_step.set()
        carry_on.wait()
        return evaluate(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(demo_source, "evaluate", one_step)
    backfill = asyncio.create_task(source.range(QUERY, start=NOW - HISTORY, end=NOW, step=60.0))
    await asyncio.to_thread(first_step.wait)  # the range query is running
    queued = asyncio.create_task(source.instant(QUERY))
    await asyncio.sleep(0)
    await source.close()
    carry_on.set()
    with pytest.raises(SourceClosed):
        await backfill
    with pytest.raises(SourceClosed):
        await queued
    assert steps == 1  # of 61
