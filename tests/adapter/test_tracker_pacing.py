"""The tracker's pause after a pass: the time a pass takes comes out of the tick, so every series
still steps once a tick."""

from __future__ import annotations

import time
from typing import cast

import pytest

from adapter.settings.config import ForecastSettings
from adapter.sources.protocol import Source
from adapter.tracking.forecast_pool import ForecastPool
from adapter.tracking.tracker import ForecastTracker
from forecasting.schedule import Schedule

TICK = 60.0


def _tracker() -> ForecastTracker:
    return ForecastTracker(cast(Source, object()), ForecastPool(1), settings=ForecastSettings(),
                           schedule=Schedule(), clock=time.time, idle_after=600.0, tick_seconds=TICK)


@pytest.mark.parametrize(("elapsed", "pause"), [(0.0, TICK), (20.0, TICK - 20.0), (TICK, 0.0), (3 * TICK, 0.0)])
def test_a_pass_is_followed_by_the_rest_of_the_tick(elapsed: float, pause: float) -> None:
    assert _tracker().pause_after(elapsed) == pause
