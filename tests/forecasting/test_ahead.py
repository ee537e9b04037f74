"""Selections and refits made ahead of a walk: the walk reads every one of them, forecasts what it
would have forecast working in place, and works in place where the history differs."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial

import numpy as np
import pytest

from forecasting import ahead
from forecasting.ahead import InlineExecutor, Task, WalkAhead, workers_pool
from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.core import DAY_SECONDS, Model, Series
from forecasting.models.arima import Arima
from forecasting.pipeline import selection_moments
from forecasting.plan import Plan
from forecasting.replay.forecasts import WalkForwardForecasts
from forecasting.schedule import Schedule
from forecasting.selection import Selection

FACTORIES = {Persistence.name: Persistence, SeasonalNaive.name: SeasonalNaive, Arima.name: Arima}
SCHEDULE = Schedule(history_seconds=DAY_SECONDS, refit_every_seconds=3600.0, select_every_seconds=3 * 3600.0,
                    selection_lookback_seconds=6 * 3600.0, selection_origins=6)
STEP = 300.0


def rates(days: float) -> np.ndarray:
    minutes = np.arange(round(days * DAY_SECONDS / STEP)) * STEP / 60
    noise = np.random.default_rng(3).normal(0, 2, minutes.shape[0])
    return 50 + 20 * np.sin(2 * np.pi * minutes / 1440) + noise


def walk(pool: InlineExecutor | None) -> WalkForwardForecasts:
    return WalkForwardForecasts(rates(3), step_seconds=STEP, start=0.0, lead_seconds=600.0, window_seconds=300.0,
                                quantiles=(0.9,), schedule=SCHEDULE, factories=FACTORIES, pool=pool,
                                first_read=DAY_SECONDS)


class CountingExecutor(InlineExecutor):
    """Counts the fits submitted to it."""

    fits = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.fits += isinstance(fn, partial) and fn.func is ahead.fitted
        return super().submit(fn, *args, **kwargs)


def test_a_walk_reads_every_selection_and_scheduled_refit_made_ahead_and_forecasts_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pool = CountingExecutor()
    in_place, made_ahead = walk(None), walk(pool)
    times = np.arange(DAY_SECONDS, 3 * DAY_SECONDS, STEP)
    expected = [in_place.at(now) for now in times]
    fits: list[float] = []
    made = ahead.fitted

    def counted(factory: Callable[[], Model], recent: Series) -> Model:
        fits.append(recent.end)
        return made(factory, recent)

    def selected_in_place(*args: object) -> Selection:
        raise AssertionError("a selection was not read from those made ahead")

    monkeypatch.setattr(ahead, "select_for", selected_in_place)
    monkeypatch.setattr(ahead, "fitted", counted)
    assert [made_ahead.at(now) for now in times] == expected
    # only the refit at each selection is made in place (the walk needs it at once): the hourly
    # ones until the next selection were submitted when the walk read it
    selections = len(times) * STEP / SCHEDULE.select_every_seconds
    assert pool.fits > 0 and len(fits) - pool.fits <= selections + 1


def test_a_history_other_than_the_one_selected_ahead_is_selected_again(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = Plan(lead_steps=2, window_steps=1, schedule=SCHEDULE)
    series = Series(rates(1), STEP, 0.0)
    steps = [(series.end + STEP, lambda: series)]
    ((history, anchor, _),) = selection_moments(plan, steps)
    selector = WalkAhead(InlineExecutor(), plan, FACTORIES, steps).select
    calls: list[Series] = []

    def counted(plan: Plan, factories: object, history: Series) -> Selection:
        calls.append(history)
        return Selection("selected again", {}, {}, {})

    monkeypatch.setattr(ahead, "select_for", counted)
    assert selector(history, anchor).scores and not calls  # the one made ahead
    changed = Series(history.values + 1, STEP, history.start)
    assert selector(changed, anchor).name == "selected again" and calls == [changed]


def test_the_inline_pool_hands_an_error_to_the_future() -> None:
    with workers_pool(1) as pool:
        future = pool.submit(int, "not a number")
    with pytest.raises(ValueError):
        future.result()


class Holding(Executor):
    """A pool that never starts what it is given."""

    def __init__(self) -> None:
        self.futures: list[Future[object]] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        future: Future[object] = Future()
        self.futures.append(future)
        return future


def test_a_task_the_pool_has_not_started_is_run_by_whoever_needs_it() -> None:
    pool = Holding()
    assert Task(pool, lambda: 42).result() == 42
    assert pool.futures[0].cancelled()
