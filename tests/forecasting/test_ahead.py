"""Selections, refits and calibration walks made ahead of a walk: the walk reads every one of
them, forecasts what it would have forecast working in place, and works in place where the history
differs; the pool gets the work the walk needs soonest."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial
from typing import Any

import numpy as np
import pytest

from forecasting import ahead, pipeline
from forecasting.ahead import InlineExecutor, Task, WalkAhead, workers_pool
from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.core import DAY_SECONDS, Forecast, Model, Series
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
    """Runs each task when it is given, counting the fits (each with its calibration walk), and
    says whether a task is running."""

    fits = 0
    running = False

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.fits += isinstance(fn, partial) and fn.func in (ahead.fitted_and_walked, ahead.selected_and_fitted)
        self.running = True
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            self.running = False


def test_a_walk_reads_every_selection_refit_and_calibration_walk_made_ahead_and_forecasts_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With calibration, each refit walks the model over three days of origins: the walk made with
    the fit in the pool is read, and the calibrated bounds are those of a walk in place."""
    pool = CountingExecutor()
    times = np.arange(DAY_SECONDS, 3 * DAY_SECONDS, STEP)
    in_place_walk = walk(None)
    expected = [in_place_walk.at(now) for now in times]
    in_place: list[str] = []
    select, fit, walk_of = ahead.select_for, ahead.fitted, pipeline.walk_of

    def selected(*args: Any) -> Selection:
        in_place.extend([] if pool.running else ["selection"])
        return select(*args)

    def fitted(factory: Callable[[], Model], recent: Series) -> Model:
        in_place.extend([] if pool.running else ["fit"])
        return fit(factory, recent)

    def walked(*args: Any) -> pipeline.Walk:
        served_at = walk_of(*args)

        def counted(index: int) -> Forecast | None:
            in_place.extend([] if pool.running else ["walk"])
            return served_at(index)

        return counted

    monkeypatch.setattr(ahead, "select_for", selected)
    monkeypatch.setattr(ahead, "fitted", fitted)
    monkeypatch.setattr(pipeline, "walk_of", walked)
    made_ahead = walk(pool)
    assert [made_ahead.at(now) for now in times] == expected
    selections = len(times) * STEP / SCHEDULE.select_every_seconds
    assert pool.fits >= selections and not in_place


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


class Recording(Holding):
    """A pool that never starts what it is given, and keeps it."""

    def __init__(self) -> None:
        super().__init__()
        self.submitted: list[Callable[[], object]] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.submitted.append(fn)
        return super().submit(fn, *args, **kwargs)


def test_the_pool_is_given_the_work_needed_soonest_a_few_tasks_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every selection submitted at once queued each refit behind all the later selections, where
    the walk, waiting for it, took it back and worked it itself."""
    monkeypatch.setattr(ahead, "usable_cores", lambda: 1)
    pool, values = Recording(), rates(3)
    plan = Plan(lead_steps=2, window_steps=1, schedule=SCHEDULE)
    steps = [(float(now), partial(Series, values[: round(now / STEP)], STEP, 0.0))
             for now in np.arange(DAY_SECONDS, 3 * DAY_SECONDS, STEP)]
    walk_ahead = WalkAhead(pool, plan, FACTORIES, steps)
    limit = ahead.LOOKAHEAD_PER_CORE
    assert [work.func for work in pool.submitted] == [ahead.selected_and_fitted] * limit  # type: ignore[attr-defined]
    (history, anchor, _), *later = selection_moments(plan, steps)
    assert len(later) >= limit
    walk_ahead.select(history, anchor)  # taken back from the pool and worked here
    # its read freed one place: the first refit of its pick, needed before any later selection
    assert len(pool.submitted) == limit + 1
    assert pool.submitted[-1].func is ahead.fitted_and_walked  # type: ignore[attr-defined]
