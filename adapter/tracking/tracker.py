"""The forecast tracker: history per tracked series, and its forecasts.

A series (signal, namespace, selector) is tracked from the first request for its forecast
metric, or from the config. The model selected for it before a restart is read back from
Prometheus (``adapter.tracking.known_models``, one query for every new series of a pass); its history is
backfilled from the source with one range query, then extended every step with the points since,
each point once it has settled (a step after its time, when every scrape it sums has landed);
each step the series goes to its forecasting worker, which selects, refits or only updates its
model as the schedule says. A series with a model steps before one that catches up on the fit of
its known model, and both before a first selection. Requests read the latest outcome and never
wait for any of it. Each pass first measures the leads of ``auto``
workloads that are due (``adapter.tracking.startup_leads``), so a new series' first forecast already
looks as far ahead as its pods take to start, and a changed lead reaches the next step's plan
with the history kept.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from adapter.kubernetes.errors import AdapterError
from adapter.settings.config import DEFAULT_LEAD_SECONDS, MEAN_QUANTILE, ForecastSettings, MetricRule
from adapter.signals.rules import QueryScope, render
from adapter.sources.protocol import RangeSeries, Source
from adapter.tracking.forecast_pool import ForecastPool, WorkerLost
from adapter.tracking.known_models import read_known_models
from adapter.tracking.startup_leads import Lead, StartupLeads
from forecasting import Job, Plan, Schedule, StepOutcome, phase_for, steps_for

log = logging.getLogger(__name__)
State = Literal["warming", "ready", "fallback"]
STALE_AFTER_STEPS = 5
"""An outcome older than this many steps is not served: the worker has fallen behind."""
HORIZON_SLACK_STEPS = 5
"""Extra forecast steps, so an outcome still covers [now+L, now+L+H] until the next one lands."""
SETTLE_STEPS = 1
"""A point joins the history this many steps after its time: read sooner, a scrape it sums may
not have landed yet, and the point would be kept short (and differ from another replica's)."""
CATCH_UP_SHARE = 0.8
"""Share of a tick, from the start of a pass, in which the fit of a known model may start; later
ones are put off to the series' next step, so a pass after a restart still ends within its tick
and every series' forecast stays fresh while the fits catch up."""
STEADY, CATCH_UP, FIRST_SELECTION = 0, 1, 2
"""Priorities of a series' step in its worker: an update (or a restarted series' first, cheap
step), the fit of a known model, a selection of every candidate."""
FITTED_FOR_MEAN = 0.9
"""The quantile a series that serves its mean is fitted for: the models need an upper one, and
the mean is the same whichever it is."""


@dataclass(frozen=True)
class ForecastKey:
    signal: str
    namespace: str
    selector: str


@dataclass(frozen=True, kw_only=True)
class ForecastView:
    """What a request for a forecast metric can serve right now."""

    state: State
    model: str | None = None
    """The model whose forecast is served."""
    upper: float | None = None
    """Max of the upper bound over [now+L, now+L+H]; None unless ready or fallback."""
    mean: float | None = None
    made_at: float | None = None
    """When the outcome behind the view was made; None before the first."""
    reason: str | None = None
    selected: str | None = None
    """The series' selected model: ``model`` differs while seasonal naive stands in for it after a
    restart, or replaces a forecast it failed."""


@dataclass
class _Config:
    """What a series is and how it is served: a reload or a measured lead changes it."""

    rule: MetricRule
    scope: QueryScope
    lead: Lead
    window: float
    quantile: float


@dataclass
class _History:
    """A series' points on the step grid, and the forecasts waiting to be scored against them."""

    start: float | None = None
    values: np.ndarray | None = None
    predictions: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=2000))
    """(target time, forecast mean at the lead) pairs waiting for their actual value."""
    abs_errors: deque[float] = field(default_factory=lambda: deque(maxlen=60))


@dataclass
class _Latest:
    """What a series' steps have come to so far."""

    outcome: StepOutcome | None = None
    at: float | None = None
    """When ``outcome`` was made."""
    problem: str | None = None
    """Why the latest step ended without an outcome, if it did."""
    known: str | None = None
    """The model selected for the series, read back at start or from its latest outcome."""
    looked_up: bool = False
    """Whether its published selection was asked for (once, when it is first stepped)."""


@dataclass(kw_only=True)
class _Tracked:
    """One tracked series: its config, history and latest outcome, who holds it, and its step in
    flight."""

    config: _Config
    pinned: bool
    last_requested: float
    user: str | None = None
    """The untrusted user whose share the series takes; None for everyone else."""
    history: _History = field(default_factory=_History)
    latest: _Latest = field(default_factory=_Latest)
    inflight: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TrackedView:
    """A tracked series for /metrics and the status page."""

    key: ForecastKey
    view: ForecastView
    recent_mae: float | None
    backtest_mae: float | None
    """The served model's error at the lead when it was selected: what ``recent_mae`` is judged by."""
    history_points: int
    lead: Lead


class ForecastTracker:
    """Tracked series, their history and latest forecasts."""

    def __init__(
        self,
        source: Source,
        pool: ForecastPool,
        *,
        settings: ForecastSettings,
        schedule: Schedule,
        clock: Callable[[], float],
        idle_after: float,
        tick_seconds: float | None = None,
        max_concurrent_queries: int = 4,
        read_back_models: bool = True,
    ) -> None:
        """``read_back_models=False`` where the source never holds the adapter's own series (the
        demo's): every new series selects, without asking for what it cannot have."""
        self._source = source
        self._read_back_models = read_back_models
        self._idle_after = idle_after
        self._tick = settings.step if tick_seconds is None else tick_seconds
        self.pool = pool
        """The worker processes; started and closed by the application's lifecycle."""
        self._settings = settings
        self._schedule = schedule
        self.clock = clock
        """The tracker's time (a sped-up demo's, or the wall clock)."""
        self._tracked: dict[ForecastKey, _Tracked] = {}
        self._per_user: Counter[str] = Counter()
        self._queries = asyncio.Semaphore(max_concurrent_queries)
        self._leads = StartupLeads(source, step=settings.step, clock=clock)
        self.progress: Callable[[], None] = lambda: None
        """Called as each series' step ends: a pass over many series still shows progress."""
        self.refreshed: Callable[[], None] = lambda: None
        """Called as each pass of :meth:`refresh_now` ends: readers that push changes look again."""
        self.fallbacks: Counter[str] = Counter()
        """Forecasts replaced by the seasonal-naive baseline, by reason."""
        self.refits = 0
        self.selections = 0
        """Model selections across all series: none for a series whose known model was read back."""

    def lead_and_window(self, namespace: str, selector: str) -> tuple[float, float]:
        """The workload's lead and window: its config entry's, else the defaults; an ``auto`` lead
        as last measured."""
        lead, window = self._lead_and_window(namespace, selector)
        return lead.seconds, window

    def _lead_and_window(self, namespace: str, selector: str) -> tuple[Lead, float]:
        lead, window = self._configured(namespace, selector)
        if isinstance(lead, str):
            return self._leads.lead((namespace, selector), fallback=self._auto_fallback()), window
        return Lead(lead, "configured"), window

    def _configured(self, namespace: str, selector: str) -> tuple[float | str, float]:
        for workload in self._settings.workloads:
            if workload.namespace == namespace and workload.selector == selector:
                return workload.lead or self._settings.lead, workload.window or self._settings.window
        return self._settings.lead, self._settings.window

    def _quantile(self, namespace: str, selector: str) -> float:
        """The workload's served quantile: its config entry's, else ``forecasts.quantile``."""
        for workload in self._settings.workloads:
            if workload.namespace == namespace and workload.selector == selector and workload.quantile is not None:
                return workload.quantile
        return self._settings.quantile

    def _auto_fallback(self) -> float:
        """The lead of an ``auto`` workload with no measured start-up: ``forecasts.lead``, unless
        that is ``auto`` too."""
        return self._settings.lead if isinstance(self._settings.lead, float) else DEFAULT_LEAD_SECONDS

    async def measure_leads(self) -> None:
        """Measure the start-up of every tracked ``auto`` workload that is due, and give each series
        its workload's lead."""
        auto = [key for key in self._tracked if isinstance(self._configured(key.namespace, key.selector)[0], str)]
        fallback = self._auto_fallback()
        await self._leads.measure_due({(key.namespace, key.selector): fallback for key in auto})
        for key, entry in self._tracked.items():
            entry.config.lead, entry.config.window = self._lead_and_window(key.namespace, key.selector)

    def reconfigure(self, settings: ForecastSettings, rules: Mapping[str, MetricRule]) -> None:
        """Apply a reloaded config: leads, windows, quantile and caps; series of a signal that is
        gone stop being tracked. (``step``, ``history``, ``signals`` and ``workers`` are fixed at
        start.)"""
        self._settings = settings
        self._untrack([key for key in self._tracked if key.signal not in rules])
        for key, entry in self._tracked.items():
            config = entry.config
            config.rule = rules[key.signal]
            config.lead, config.window = self._lead_and_window(key.namespace, key.selector)
            config.quantile = self._quantile(key.namespace, key.selector)

    def _untrack(self, keys: list[ForecastKey]) -> None:
        for key in keys:
            entry = self._tracked.pop(key)
            if entry.inflight is not None:
                entry.inflight.cancel()
            if entry.user is not None:
                self._count_user(entry.user, -1)
        if keys:
            self.pool.forget(_worker_key(key) for key in keys)

    def track(
        self, key: ForecastKey, rule: MetricRule, scope: QueryScope, *, pinned: bool = False, user: str | None = None
    ) -> bool:
        """Start tracking ``key`` (idempotent); False when the cap on tracked series, or on the
        series of ``user`` (an untrusted requester), is reached."""
        entry = self._tracked.get(key)
        now = self.clock()
        if entry is not None:
            entry.last_requested = now
            if entry.user is not None and user is None:
                self._count_user(entry.user, -1)  # a trusted requester's series now
                entry.user = None
            return True
        if not pinned and (
            len(self._tracked) >= self._settings.max_series
            or (user is not None and self._per_user[user] >= self._settings.max_series_per_user)
        ):
            return False
        lead, window = self._lead_and_window(key.namespace, key.selector)
        config = _Config(rule, scope, lead, window, self._quantile(key.namespace, key.selector))
        self._tracked[key] = _Tracked(config=config, pinned=pinned, last_requested=now, user=None if pinned else user)
        if user is not None and not pinned:
            self._count_user(user, 1)
        return True

    def _count_user(self, user: str, change: int) -> None:
        self._per_user[user] += change
        if not self._per_user[user]:
            del self._per_user[user]

    def view(self, key: ForecastKey) -> ForecastView:
        entry = self._tracked.get(key)
        now = self.clock()
        if entry is None or entry.latest.outcome is None or entry.latest.at is None:
            return ForecastView(state="warming", reason=entry.latest.problem if entry else None)
        outcome, made_at, config = entry.latest.outcome, entry.latest.at, entry.config
        if now - made_at > STALE_AFTER_STEPS * self._settings.step:
            return ForecastView(state="fallback", model=outcome.model, made_at=made_at, reason="forecast is stale",
                                selected=outcome.chosen)
        if outcome.forecast is None:
            return ForecastView(state="warming", made_at=made_at, reason=outcome.reason)
        begin, end = now + config.lead.seconds, now + config.lead.seconds + config.window
        forecast = outcome.forecast
        times = forecast.times()
        inside = (times >= begin) & (times <= end)
        mean = float(forecast.mean[inside].max()) if inside.any() else float(forecast.mean[-1])
        upper = mean if config.quantile == MEAN_QUANTILE else forecast.upper_over(begin, end)
        state: State = "fallback" if outcome.fallback_reason else "ready"
        reason = outcome.fallback_reason or (f"{outcome.model} serves until {outcome.chosen} is refit after a restart"
                                             if outcome.standing_in else None)
        return ForecastView(state=state, model=outcome.model, upper=max(upper, 0.0), mean=max(mean, 0.0),
                            made_at=made_at, reason=reason, selected=outcome.chosen)

    def views(self) -> Iterator[TrackedView]:
        for key, entry in sorted(self._tracked.items(), key=lambda item: repr(item[0])):
            history, outcome = entry.history, entry.latest.outcome
            mae = float(np.mean(history.abs_errors)) if history.abs_errors else None
            points = 0 if history.values is None else int(np.isfinite(history.values).sum())
            backtest = outcome.backtest_mae if outcome is not None else None
            yield TrackedView(key, self.view(key), mae, backtest, points, entry.config.lead)

    async def refresh_now(self) -> None:
        """Drop idle series, measure the leads that are due, then bring every tracked series one
        step forward."""
        now = self.clock()
        idle = [
            key for key, entry in self._tracked.items()
            if not entry.pinned and now - entry.last_requested > self._idle_after
        ]
        self._untrack(idle)
        await self._look_up_known_models()
        await self.measure_leads()
        fit_by = time.time() + CATCH_UP_SHARE * self._tick  # the workers' clock: a tick is real seconds
        # a series a request began tracking while this pass waited has no known model yet: it steps
        # in the next pass, after its look-up, rather than select a model of its own
        tasks = [self._start(key, entry, fit_by) for key, entry in self._tracked.items() if entry.latest.looked_up]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.refreshed()

    async def _look_up_known_models(self) -> None:
        """Give every series not yet looked up the model published for it, in one query."""
        new = [(key, entry.latest) for key, entry in self._tracked.items() if not entry.latest.looked_up]
        if not new:
            return
        known = (await read_known_models(self._source, self._settings.published_labels)
                 if self._read_back_models else {})
        for key, latest in new:
            latest.looked_up = True
            latest.known = latest.known or known.get((key.signal, key.namespace, key.selector))

    @property
    def tick(self) -> float:
        """Seconds between passes: a step of wall-clock time, shorter in a sped-up demo."""
        return self._tick

    def pause_after(self, elapsed: float) -> float:
        """The pause after a pass that took ``elapsed`` seconds: what is left of its tick, not a
        whole tick, so a pass of selections and refits that takes 20 s does not stretch every
        series' step to 80 s."""
        return max(0.0, self._tick - elapsed)

    def _start(self, key: ForecastKey, entry: _Tracked, fit_by: float) -> asyncio.Task[None]:
        if entry.inflight is None or entry.inflight.done():
            entry.inflight = asyncio.create_task(self._advance(key, entry, fit_by), name=f"forecast {key}")
        return entry.inflight

    async def _advance(self, key: ForecastKey, entry: _Tracked, fit_by: float) -> None:
        try:
            await self._step(key, entry, fit_by)
        finally:
            self.progress()

    async def _step(self, key: ForecastKey, entry: _Tracked, fit_by: float) -> None:
        """One step of the series; ``fit_by`` (wall-clock) is when its pass stops starting the fits
        of known models."""
        step = self._settings.step
        now = self.clock()
        settled = (math.floor(now / step) - SETTLE_STEPS) * step
        config, history, latest = entry.config, entry.history, entry.latest
        try:
            await self._extend(config, history, settled)
        except AdapterError as error:
            latest.problem = f"history: {error.message}"
            return
        assert history.values is not None and history.start is not None
        self._score(history)
        plan = Plan(
            lead_steps=steps_for(config.lead.seconds, step),
            window_steps=steps_for(config.window, step),
            slack_steps=HORIZON_SLACK_STEPS,
            quantile=FITTED_FOR_MEAN if config.quantile == MEAN_QUANTILE else config.quantile,
            under_weight=self._settings.under_forecast_weight,
            schedule=self._schedule,
            phase_seconds=phase_for(_worker_key(key), self._schedule),
            calibration=self._settings.calibration,
        )
        job = Job(_worker_key(key), history.values, step, history.start, settled + step, plan, latest.known, fit_by)
        try:
            outcome = await self.pool.run(job, priority=_priority(latest))
        except WorkerLost as error:  # the pool has logged the death once, for all its series
            latest.problem = f"forecast failed: {error}"
            return
        except Exception as error:  # a bug in a model must not stop the others
            log.exception("forecasting %s failed", key)
            latest.problem = f"forecast failed: {type(error).__name__}"
            return
        if outcome.fallback_reason:
            self.fallbacks[outcome.fallback_reason] += 1
        self.refits += int(outcome.refitted)
        self.selections += int(outcome.selected)
        latest.outcome, latest.at, latest.problem = outcome, now, None
        latest.known = outcome.chosen or latest.known
        if outcome.forecast is not None:
            target = outcome.forecast.start + (plan.lead_steps - 1) * step
            index = plan.lead_steps - 1
            history.predictions.append((target, float(outcome.forecast.mean[index])))

    async def _extend(self, config: _Config, history: _History, grid_now: float) -> None:
        """Backfill the history on first use, then add the points since the last one. It is kept a
        selection period longer than models see, so a series started between two deadlines can be
        fit and select on the history as it was at the last one."""
        step = self._settings.step
        length = round((self._settings.history + self._schedule.select_every_seconds) / step)
        if history.values is None or history.start is None:
            first = grid_now - (length - 1) * step
            points = await self._range(config, first, grid_now)
            history.start, history.values = first, _on_grid(points, first, length, step)
            return
        last = history.start + (len(history.values) - 1) * step
        missing = round((grid_now - last) / step)
        if missing <= 0:
            return
        begin = last + step
        points = await self._range(config, begin, grid_now)
        values = np.concatenate([history.values, _on_grid(points, begin, missing, step)])[-length:]
        history.start, history.values = grid_now - (len(values) - 1) * step, values

    async def _range(self, config: _Config, start: float, end: float) -> list[RangeSeries]:
        query = render(config.rule.query, config.rule, config.scope)
        async with self._queries:
            return await self._source.range(query, start=start, end=end, step=self._settings.step)

    def _score(self, history: _History) -> None:
        """Compare past forecasts with the actual values that have since arrived."""
        assert history.values is not None and history.start is not None
        step = self._settings.step
        end = history.start + (len(history.values) - 1) * step
        while history.predictions and history.predictions[0][0] <= end:
            target, predicted = history.predictions.popleft()
            index = round((target - history.start) / step)
            if 0 <= index < len(history.values) and math.isfinite(history.values[index]):
                history.abs_errors.append(abs(float(history.values[index]) - predicted))


def _priority(latest: _Latest) -> int:
    """How soon the series' step runs in its worker (see :data:`STEADY`)."""
    if latest.outcome is None or latest.outcome.chosen is None:
        return STEADY if latest.known is not None else FIRST_SELECTION
    return CATCH_UP if latest.outcome.standing_in else STEADY


def _worker_key(key: ForecastKey) -> str:
    return f"{key.signal}|{key.namespace}|{key.selector}"


def _on_grid(series: list[RangeSeries], start: float, length: int, step: float) -> np.ndarray:
    """Range results laid on the step grid: NaN where no point came back; several series are
    summed (the HPA sums the items of an answer too)."""
    values = np.full(length, np.nan)
    for item in series:
        for timestamp, value in zip(item.timestamps, item.values, strict=True):
            index = round((timestamp - start) / step)
            if 0 <= index < length and math.isfinite(value):
                values[index] = value if math.isnan(values[index]) else values[index] + value
    return values
