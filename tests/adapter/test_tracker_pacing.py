"""The tracker's loop steps every series once a tick: the time a pass takes comes out of the tick.

No Prometheus or worker is involved: the pass itself is replaced, since only the pacing around it
is under test."""

from __future__ import annotations

import asyncio
import time
from typing import cast

import pytest

from adapter.config import ForecastSettings
from adapter.forecast_pool import ForecastPool
from adapter.source import Source
from adapter.tracker import ForecastTracker
from forecasting.schedule import Schedule

TICK = 60.0
PASS = 0.05


async def test_a_pass_is_followed_by_the_rest_of_the_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = ForecastTracker(cast(Source, object()), ForecastPool(1), settings=ForecastSettings(),
                              schedule=Schedule(), clock=time.time, idle_after=600.0, tick_seconds=TICK)
    passes = 0

    async def slow_pass() -> None:
        nonlocal passes
        passes += 1
        time.sleep(PASS)  # the pass holds this long at least

    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            raise asyncio.CancelledError

    monkeypatch.setattr(tracker, "refresh_now", slow_pass)
    monkeypatch.setattr(asyncio, "sleep", record_sleep)
    with pytest.raises(asyncio.CancelledError):
        await tracker.run()
    assert passes == 2
    assert all(0.0 <= seconds <= TICK - PASS for seconds in slept), slept
