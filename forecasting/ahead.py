"""Work a walk-forward command will need, done ahead in worker processes.

A walk steps one forecaster along a series, and each step depends on the last, so the walk
itself runs in one process. What it will ask for is known in advance, though: every selection
(one fit of every candidate) and every scheduled refit runs on the history at a moment the
schedule fixes, so the fits are the bulk of a walk's cost and can be made in other processes
before the walk reaches them (:class:`WalkAhead`): each once per moment. A selection or a model
read from the pool is the one the walk would have made itself: the same function on the same
history, checked before it is used.

Workers are started with ``spawn``; the caller sets the single-thread BLAS variables before (as
the commands do), so that the workers inherit them. With one worker everything runs in the
calling process, in order.
"""

from __future__ import annotations

import math
import multiprocessing
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from itertools import pairwise
from typing import Generic, ParamSpec, TypeVar

import numpy as np

from forecasting.core import Model, Series
from forecasting.pipeline import anchor_for, history_until, select_for, selection_moments
from forecasting.plan import Plan
from forecasting.selection import Selection

P = ParamSpec("P")
T = TypeVar("T")


class InlineExecutor(Executor):
    """Runs each task when it is submitted, in the calling process: the serial form of a pool."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - handed to whoever reads the future, as a pool does
            future.set_exception(error)
        return future


@contextmanager
def workers_pool(workers: int) -> Iterator[Executor]:
    """``workers`` processes, or the calling process alone when ``workers`` is 1. On the way out,
    work not started is dropped: nobody reads it any more."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if workers == 1:
        yield InlineExecutor()
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


class Task(Generic[T]):
    """Work submitted to a pool, done by whoever needs it first: a task the pool has not started
    when its result is asked for is taken back and run by the caller, which would otherwise idle."""

    def __init__(self, pool: Executor, work: Callable[[], T]) -> None:
        self._work = work
        self._future = pool.submit(work)

    def result(self) -> T:
        return self._work() if self._future.cancel() else self._future.result()


class WalkAhead:
    """The selections and refits of a forecaster with ``plan`` stepped at each of ``steps`` (a
    time and the series then), made ahead in ``pool``: :meth:`select` is its
    :data:`~forecasting.pipeline.Selector` and :meth:`fit` its :data:`~forecasting.pipeline.Fitter`,
    both keyed by the deadline's anchor.

    Every selection is submitted at once. When the walk reads one, the refits its pick will need
    until the next selection (at each refit deadline of the schedule) are submitted. Each is a
    :class:`Task`, so the walk never idles behind the queue; an anchor or a history the walk reaches
    otherwise (a step skipped, a refit after the guard replaced a forecast) is worked in place.
    """

    def __init__(self, pool: Executor, plan: Plan, factories: Mapping[str, Callable[[], Model]],
                 steps: Iterable[tuple[float, Callable[[], Series]]]) -> None:
        self._pool, self._plan, self._factories = pool, plan, factories
        self._steps = list(steps)
        self._times = [now for now, _ in self._steps]
        moments = list(selection_moments(plan, self._steps))
        self._selections: dict[float, tuple[Series, Task[Selection]]] = {
            anchor: (history, Task(pool, partial(select_for, plan, factories, history)))
            for history, anchor, _ in moments}
        self._spans = dict(zip((anchor for _, anchor, _ in moments),
                               pairwise([*(now for _, _, now in moments), math.inf]), strict=True))
        """The step at which each selection is made, and that of the next."""
        self._planned: set[float] = set()
        self._fits: dict[tuple[str, float], tuple[Series, Task[Model]]] = {}

    def select(self, history: Series, anchor: float) -> Selection:
        # kept after reading: a forecaster forked by the guard selects at the same anchors
        ahead = self._selections.get(anchor)
        if ahead is None or not _same(ahead[0], history):
            return select_for(self._plan, self._factories, history)
        selection = ahead[1].result()
        self._fit_ahead(selection.name, anchor)
        return selection

    def fit(self, name: str, history: Series, anchor: float) -> Model:
        # handed out once: each forecaster updates its own model
        ahead = self._fits.pop((name, anchor), None)
        if ahead is None or not _same(ahead[0], history):
            return fitted(self._factories[name], history)
        return ahead[1].result()

    def _fit_ahead(self, name: str, selected: float) -> None:
        """Submit the refits of ``name`` at the refit anchors after the step of the selection
        anchored at ``selected`` and before the next selection's (the refit at that step itself is
        needed at once)."""
        if selected in self._planned:
            return
        self._planned.add(selected)
        begin, end = self._spans[selected]
        every = self._plan.schedule.refit_every_seconds
        last: float | None = None
        for index in range(bisect_left(self._times, begin), len(self._times)):
            now, made = self._steps[index]
            if now >= end:
                break
            series = made()
            anchor = anchor_for(self._plan, series, now, every)
            if last is not None and anchor != last:
                history = history_until(self._plan, series, anchor)
                self._fits[(name, anchor)] = (history, Task(self._pool, partial(fitted, self._factories[name], history)))
            last = anchor


def fitted(factory: Callable[[], Model], recent: Series) -> Model:
    """A new model from ``factory`` fitted on ``recent``."""
    return factory().fit(recent)


def _same(first: Series, second: Series) -> bool:
    return (first.start, first.step_seconds) == (second.start, second.step_seconds) and np.array_equal(
        first.values, second.values, equal_nan=True)
