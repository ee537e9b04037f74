"""Work a walk-forward command will need, done ahead in worker processes.

A walk steps one forecaster along a series, and each step depends on the last, so the walk
itself runs in one process. What it will ask for is known in advance, though: every selection
(one fit of every candidate, the bulk of a walk's cost) runs on the history at a moment the
schedule fixes. So the selections are submitted to a pool before the walk starts and read by
the walk as it reaches them (:class:`SelectionsAhead`), while the other cores compute the next
ones. A selection read from the pool is the one the walk would have computed itself: the same
function on the same history, checked before it is used.

Workers are started with ``spawn``; the caller sets the single-thread BLAS variables before (as
the commands do), so that the workers inherit them. With one worker everything runs in the
calling process, in order.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import numpy as np

from forecasting.core import Model, Series
from forecasting.pipeline import select_for, selection_moments
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
    """``workers`` processes, or the calling process alone when ``workers`` is 1."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if workers == 1:
        yield InlineExecutor()
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


class SelectionsAhead:
    """A :data:`~forecasting.pipeline.Selector` reading selections submitted to ``pool`` for every
    moment a forecaster with ``plan``, stepped at each of ``steps``, selects. A moment the walk
    reaches otherwise (a step skipped, so the deadline falls on a later one) is computed in place."""

    def __init__(self, pool: Executor, plan: Plan, factories: Mapping[str, Callable[[], Model]],
                 steps: Iterable[tuple[float, Callable[[], Series]]]) -> None:
        self._plan, self._factories = plan, factories
        self._ahead: dict[float, tuple[Series, Future[Selection]]] = {
            now: (recent, pool.submit(select_for, plan, factories, recent))
            for recent, now in selection_moments(plan, steps)}

    def __call__(self, recent: Series, now: float) -> Selection:
        # kept after reading: a forecaster forked by the guard selects at the same moments
        ahead = self._ahead.get(now)
        if ahead is not None and _same(ahead[0], recent):
            return ahead[1].result()
        return select_for(self._plan, self._factories, recent)


def _same(first: Series, second: Series) -> bool:
    return (first.start, first.step_seconds) == (second.start, second.step_seconds) and np.array_equal(
        first.values, second.values, equal_nan=True)
