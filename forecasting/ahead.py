"""Work a walk-forward command will need, done ahead in worker processes.

A walk steps one forecaster along a series, and each step depends on the last, so the walk
itself runs in one process. What it will ask for is known in advance, though: every selection
(one fit of every candidate) and every scheduled refit runs on the history at a moment the
schedule fixes, and so does the calibration walk of each fit over the series of the step that
first serves it. Those are the bulk of a walk's cost and can be made in other processes before
the walk reaches them (:class:`WalkAhead`): each once per moment. A selection, a model or a
calibration walk read from the pool is the one the walk would have made itself: the same function
on the same history, checked before it is used.

Workers are started with ``spawn``; the caller sets the single-thread BLAS variables before (as
the commands do), so that the workers inherit them. With one worker everything runs in the
calling process, in order.
"""

from __future__ import annotations

import heapq
import math
import multiprocessing
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import count, pairwise
from typing import Any, Generic, ParamSpec, TypeVar

import numpy as np

from forecasting.core import Model, Series
from forecasting.cores import usable_cores
from forecasting.pipeline import (
    Walked,
    anchor_for,
    history_until,
    refit_every,
    select_for,
    selection_moments,
    walked_windows,
)
from forecasting.plan import Plan
from forecasting.selection import Selection

P = ParamSpec("P")
T = TypeVar("T")
LOOKAHEAD_PER_CORE = 2
"""Tasks a walk keeps submitted and not yet read, per core: enough that no worker idles between two
of the walk's reads, few enough that the pool works in the order the walk needs them (a refit
queued behind every later selection is taken back and worked by the walk itself, one process
doing what the pool should) and that few fitted models wait in memory."""


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

    def done(self) -> bool:
        """Whether the pool has finished it (reading it then does not wait)."""
        return self._future.done()

    def cancel(self) -> None:
        """Drop it from the pool's queue, if the pool has not started it: nobody will read it."""
        self._future.cancel()


@dataclass(frozen=True)
class FitAhead:
    """A model fitted ahead, and its calibration walk over the series of the step that first
    serves it (:func:`~forecasting.pipeline.walked_windows`); None where the walk raised, so that
    the walk runs in place and raises there, as it would have."""

    model: Model
    walked: Walked | None


@dataclass(order=True)
class _Planned(Generic[T]):
    """Work the walk needs at the step of index ``needed``, submitted when its turn comes, read
    once or more (a forecaster forked by the guard reads its selections again)."""

    needed: int
    order: int
    work: Callable[[], T] = field(compare=False)
    task: Task[T] | None = field(default=None, compare=False)
    read: bool = field(default=False, compare=False)
    outcome: tuple[T] | Exception | None = field(default=None, compare=False)

    def done(self) -> bool:
        """Whether reading it would not wait."""
        return self.outcome is not None or (self.task is not None and self.task.done())

    def result(self) -> T:
        """Its result, worked in place when it was never submitted; what it raised, raised again."""
        if self.outcome is None:
            try:
                self.outcome = (self.work() if self.task is None else self.task.result(),)
            except Exception as error:  # noqa: BLE001 - raised again to each reader
                self.outcome = error
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome[0]


class WalkAhead:
    """The selections and refits of a forecaster with ``plan`` stepped at each of ``steps`` (a
    time and the series then), and each fit's calibration walk, made ahead in ``pool``:
    :meth:`select` is its :data:`~forecasting.pipeline.Selector`, :meth:`fit` its
    :data:`~forecasting.pipeline.Fitter` and :meth:`walked` its :data:`~forecasting.pipeline.Walker`,
    keyed by the deadline's anchor.

    A selection's task also fits the model it picks on the history of that step's refit anchor.
    Once a selection is known, the refits its pick will need until the next selection (at each
    refit deadline of the schedule) are planned. Planned work is submitted soonest needed first,
    and only :data:`LOOKAHEAD_PER_CORE` tasks a core are submitted and unread at a time. Each is a
    :class:`Task`, so the walk never idles behind the queue; an anchor or a history the walk reaches
    otherwise (a step skipped, a refit after the guard replaced a forecast) is worked in place.
    """

    def __init__(self, pool: Executor, plan: Plan, factories: Mapping[str, Callable[[], Model]],
                 steps: Iterable[tuple[float, Callable[[], Series]]]) -> None:
        self._pool, self._plan, self._factories = pool, plan, factories
        self._steps = list(steps)
        self._times = [now for now, _ in self._steps]
        self._limit = LOOKAHEAD_PER_CORE * usable_cores()
        self._orders = count()
        self._waiting: list[_Planned[Any]] = []
        """Planned work not yet submitted, as a heap: soonest needed first."""
        self._unread: list[_Planned[Any]] = []
        """Submitted work the walk has not read yet."""
        moments = list(selection_moments(plan, self._steps))
        self._selections: dict[float, tuple[Series, _Planned[tuple[Selection, FitAhead | None]]]] = {
            anchor: (history, self._planned(bisect_left(self._times, now), self._selected_and_fitted(history, now)))
            for history, anchor, now in moments}
        self._spans = dict(zip((anchor for _, anchor, _ in moments),
                               pairwise([*(now for _, _, now in moments), math.inf]), strict=True))
        """The step at which each selection is made, and that of the next."""
        self._refits_planned: set[float] = set()
        self._fits: dict[tuple[str, float], tuple[Series, _Planned[FitAhead]]] = {}
        self._walks: dict[tuple[str, float], tuple[Series, Walked]] = {}
        self._submit(0)

    def select(self, history: Series, anchor: float) -> Selection:
        ahead = self._selections.get(anchor)
        if ahead is None or not _same(ahead[0], history):
            return select_for(self._plan, self._factories, history)
        selection, _ = self._read(ahead[1])
        return selection

    def fit(self, name: str, history: Series, anchor: float) -> Model:
        # handed out once: each forecaster updates its own model
        ahead = self._fits.pop((name, anchor), None)
        if ahead is None or not _same(ahead[0], history):
            return fitted(self._factories[name], history)
        made = self._read(ahead[1])
        if made.walked is not None:
            self._walks[(name, anchor)] = (self._series_at(ahead[1].needed), made.walked)
        return made.model

    def walked(self, name: str, anchor: float, series: Series, quantile: float) -> Walked | None:
        """The calibration walk made with the fit of ``name`` at ``anchor`` just handed out, where
        that walked ``series`` at ``quantile``."""
        ahead = self._walks.pop((name, anchor), None)
        if ahead is None or quantile != self._plan.quantile or not _same(ahead[0], series):
            return None
        return ahead[1]

    def _series_at(self, index: int) -> Series:
        return self._steps[index][1]()

    def _selected_and_fitted(self, history: Series, now: float) -> Callable[[], tuple[Selection, FitAhead | None]]:
        return partial(selected_and_fitted, self._plan, self._factories, history, now,
                       self._series_at(bisect_left(self._times, now)))

    def _planned(self, needed: int, work: Callable[[], T]) -> _Planned[T]:
        planned = _Planned(needed, next(self._orders), work)
        heapq.heappush(self._waiting, planned)
        return planned

    def _read(self, planned: _Planned[T]) -> T:
        """The result of ``planned``, worked in place if it was never submitted; then the place it
        held goes to the work needed soonest, which may be the refits of the selection just read.
        Work submitted for earlier steps and not read by now never will be: it leaves the pool's
        queue."""
        planned.read = True
        for other in self._unread:
            if other.needed < planned.needed and not other.read and other.task is not None:
                other.task.cancel()
        self._unread = [other for other in self._unread if not other.read and other.needed >= planned.needed]
        try:
            return planned.result()
        finally:
            self._submit(planned.needed)

    def _submit(self, reached: int) -> None:
        """Plan the refits of each selection the pool has finished, then submit waiting work needed
        at step ``reached`` or later, soonest needed first, while fewer than the limit are unread."""
        for anchor, (_, planned) in self._selections.items():
            if anchor not in self._refits_planned and planned.done():
                self._plan_refits(anchor)
        while self._waiting and len(self._unread) < self._limit:
            planned = heapq.heappop(self._waiting)
            if planned.read or planned.needed < reached:
                continue
            planned.task = Task(self._pool, planned.work)
            self._unread.append(planned)

    def _plan_refits(self, selected: float) -> None:
        """Plan the refits of the pick of the selection anchored at ``selected``: the one its task
        made at its step, and one with its walk at each refit anchor after that step and before the
        next selection's."""
        if selected in self._refits_planned:
            return
        self._refits_planned.add(selected)
        planned = self._selections[selected][1]
        try:
            selection, made = planned.result()
        except Exception:  # noqa: BLE001 - the walk meets the same error when it selects
            return
        factory, plan = self._factories[selection.name], self._plan
        every = refit_every(plan.schedule, selection.name)
        begin, end = self._spans[selected]
        first = bisect_left(self._times, begin)
        last = anchor_for(plan, self._series_at(first), self._times[first], every)
        if made is not None:
            known = _Planned(first, next(self._orders), partial(_given, made))
            self._fits[(selection.name, last)] = (history_until(plan, self._series_at(first), last), known)
        for index in range(first + 1, bisect_left(self._times, end)):
            series = self._series_at(index)
            anchor = anchor_for(plan, series, self._times[index], every)
            if anchor != last:
                history = history_until(plan, series, anchor)
                self._fits[(selection.name, anchor)] = (
                    history, self._planned(index, partial(fitted_and_walked, factory, history, plan, series)))
            last = anchor


def selected_and_fitted(plan: Plan, factories: Mapping[str, Callable[[], Model]], history: Series, now: float,
                        series: Series) -> tuple[Selection, FitAhead | None]:
    """The selection on ``history``, made at ``now`` when the series is ``series``, and its pick
    fitted at its refit anchor then and walked over ``series`` (None where that raised: the walk
    fits in place and meets the error there)."""
    selection = select_for(plan, factories, history)
    anchor = anchor_for(plan, series, now, refit_every(plan.schedule, selection.name))
    try:
        return selection, fitted_and_walked(factories[selection.name], history_until(plan, series, anchor), plan,
                                            series)
    except Exception:  # noqa: BLE001 - met again in place
        return selection, None


def fitted_and_walked(factory: Callable[[], Model], history: Series, plan: Plan, series: Series) -> FitAhead:
    """A new model from ``factory`` fitted on ``history``, and its calibration walk over
    ``series``."""
    model = fitted(factory, history)
    try:
        walked: Walked | None = walked_windows(plan, series, model, history.start)
    except Exception:  # noqa: BLE001 - met again in place
        walked = None
    return FitAhead(model, walked)


def fitted(factory: Callable[[], Model], recent: Series) -> Model:
    """A new model from ``factory`` fitted on ``recent``."""
    return factory().fit(recent)


def _given(value: T) -> T:
    return value


def _same(first: Series, second: Series) -> bool:
    return (first.start, first.step_seconds) == (second.start, second.step_seconds) and np.array_equal(
        first.values, second.values, equal_nan=True)
