"""Requests read, background tasks work: the store of tracked keys and their latest readings.

The first request for a (metric, API, namespace, selector) registers it and waits for one live
evaluation; :meth:`MetricStore.refresh_now` (run by the refresher every interval) re-evaluates
every key and drops keys nobody asked for within ``idle_after``. Concurrent readers of a key share
one in-flight query, so the source's load follows the number of keys, not the request rate.

Keys are capped in total, per namespace and per user. A key whose selector matches no series
holds no place for long: it is dropped after ``NO_DATA_IDLE_SECONDS`` unasked, and a new key at
a cap takes the place of the least recently asked such key. Each user but the trusted ones (the
HPA controller) may register at most ``max_keys_per_user`` keys, so one principal allowed to read
in many namespaces cannot take the places the HPA controller's keys need.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from adapter.kubernetes.errors import (
    AdapterError,
    InternalError,
    NotFound,
    ServiceUnavailable,
    SourceError,
    TooManyRequests,
)
from adapter.observability.telemetry import Telemetry
from adapter.settings.config import MetricRule, RefreshSettings
from adapter.signals.rules import QueryScope, render
from adapter.sources.protocol import Sample, Source

log = logging.getLogger(__name__)
Api = Literal["external", "pods"]
NO_DATA_IDLE_SECONDS = 60.0
"""A key with no data is dropped after this long unasked (keys with data: ``idle_after``)."""


@dataclass(frozen=True)
class SeriesKey:
    """What one tracked value is: the metric, its API and the parsed scope. Parsed selectors are
    kept in canonical order, so equal requests share a key."""

    metric: str
    api: Api
    scope: QueryScope

    @property
    def namespace(self) -> str:
        return self.scope.namespace

    @property
    def selector(self) -> str:
        """The workload's selector in its canonical text."""
        return str(self.scope.selector)

    @property
    def metric_selector(self) -> str:
        return str(self.scope.metric_selector)

    def __str__(self) -> str:
        return f"{self.metric} ({self.api}) in {self.namespace!r} for {self.selector!r}"


@dataclass(frozen=True)
class Reading:
    """One successful evaluation: finite values by label set, and when they were read. Each
    evaluation makes a new reading and never changes one, so a reader can tell a new one by
    identity."""

    values: tuple[tuple[Mapping[str, str], float], ...]
    timestamp: float


@dataclass
class _Entry:
    rule: MetricRule
    query: str
    """The key's PromQL, rendered from ``rule`` once, when the key was registered or the rule changed."""
    last_requested: float
    pinned: bool
    user: str | None = None
    """Whose place the key takes: the untrusted user who registered it, None for everyone else."""
    reading: Reading | None = None
    error: AdapterError | None = None
    inflight: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class KeyView:
    """A read-only view of one key, for the status page."""

    key: SeriesKey
    rule: MetricRule
    reading: Reading | None
    error: str | None


class MetricStore:
    """Tracked keys, their readings, and the policies for NaN, Inf and empty results."""

    def __init__(
        self, source: Source, *, settings: RefreshSettings, telemetry: Telemetry, clock: Callable[[], float]
    ) -> None:
        self._source = source
        self._settings = settings
        self._telemetry = telemetry
        self._clock = clock
        self._entries: dict[SeriesKey, _Entry] = {}
        self._per_namespace: Counter[str] = Counter()
        self._per_user: Counter[str] = Counter()
        self._limit = asyncio.Semaphore(settings.concurrency)
        self.last_success: float | None = None
        """When the source last answered a query; readiness is judged from it."""
        self.progress: Callable[[], None] = lambda: None
        """Called as each evaluation ends, however it ended: a long refresh still shows progress."""
        self.refreshed: Callable[[], None] = lambda: None
        """Called as each pass of :meth:`refresh_now` ends: readers that push changes look again."""

    def accountable(self, user: str | None) -> str | None:
        """``user``, whose keys take a share of their own; None for a trusted user (or none)."""
        return None if user in self._settings.trusted_users else user

    def query(self, key: SeriesKey, rule: MetricRule) -> str:
        """The PromQL ``key`` is read with: a tracked key's own, else rendered from ``rule`` now.
        Raises ``BadRequest`` for a selector the rule cannot express."""
        entry = self._entries.get(key)
        return entry.query if entry is not None else _render(key, rule)

    async def read(self, key: SeriesKey, rule: MetricRule, query: str, *, user: str | None = None) -> Reading:
        """The freshest reading of ``key``, registering it with ``query`` (see :meth:`query`) and
        evaluating it once if it is new. ``user`` is the requester, where requests are authenticated."""
        user = self.accountable(user)
        entry = self._entries.get(key) or self._register(key, rule, query, pinned=False, user=user)
        if entry.user is not None and user is None:
            self._count_user(entry.user, -1)  # a trusted requester's key now: it holds no user's place
            entry.user = None
        now = entry.last_requested = self._clock()
        reading = entry.reading
        if reading is not None and now - reading.timestamp <= self._settings.staleness:
            self._telemetry.hot_path.lookup("hit")
            return reading
        if reading is None and entry.error is None:
            self._telemetry.hot_path.lookup("miss")
            await asyncio.shield(self._start(key, entry))
        else:
            self._telemetry.hot_path.lookup("stale")
        return self._serve(key, entry)

    def reconfigure(self, settings: RefreshSettings, rules: Mapping[str, MetricRule]) -> None:
        """Apply a reloaded config: new intervals and caps; keys whose metric is gone are dropped,
        and keys whose rule changed are evaluated afresh rather than serve the old definition's
        value, with their queries rendered from the new rule; a key the new rule no longer serves
        is dropped, as its next request is refused. (``concurrency`` is fixed at start.)"""
        self._settings = settings
        for key, entry in list(self._entries.items()):
            rule = rules.get(key.metric)
            if rule == entry.rule:
                continue
            query = _reloaded_query(key, rule)
            if rule is None or query is None:
                self._forget(key)
            else:
                entry.rule, entry.query, entry.reading, entry.error = rule, query, None, None

    def pin(self, key: SeriesKey, rule: MetricRule) -> None:
        """Track ``key`` without a request and never drop it (the demo's and config's keys)."""
        if key not in self._entries:
            self._register(key, rule, _render(key, rule), pinned=True)

    async def refresh_now(self) -> None:
        """Drop idle keys, then re-evaluate every remaining key (bounded concurrency)."""
        now = self._clock()
        for key, entry in list(self._entries.items()):
            idle_after = NO_DATA_IDLE_SECONDS if _no_data(entry) else self._settings.idle_after
            if not entry.pinned and now - entry.last_requested > idle_after:
                self._forget(key)
        tasks = [self._start(key, entry) for key, entry in list(self._entries.items())]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        else:
            await self._probe()
        self.refreshed()

    def ready(self) -> bool:
        """Whether the source answered within the staleness bound: current values can be served."""
        return self.last_success is not None and self._clock() - self.last_success <= self._settings.staleness

    async def _probe(self) -> None:
        """With no keys to refresh, a trivial query still tells whether the source is reachable."""
        try:
            await self._source.instant("vector(1)")
        except SourceError:
            return
        self.last_success = self._clock()

    def pause_after(self, elapsed: float) -> float:
        """The refresher's pause after a pass: the configured interval, which a reload may change."""
        return self._settings.interval

    def views(self) -> Iterator[KeyView]:
        for key, entry in sorted(self._entries.items(), key=lambda item: _order(item[0])):
            yield KeyView(key, entry.rule, entry.reading, entry.error.message if entry.error else None)

    def _register(
        self, key: SeriesKey, rule: MetricRule, query: str, *, pinned: bool, user: str | None = None
    ) -> _Entry:
        if not pinned:
            self._make_room(key, user)
        entry = _Entry(rule=rule, query=query, last_requested=self._clock(), pinned=pinned, user=user)
        self._entries[key] = entry
        self._per_namespace[key.namespace] += 1
        if user is not None:
            self._count_user(user, 1)
        self._telemetry.tracked_keys.set(len(self._entries))
        return entry

    def _make_room(self, key: SeriesKey, user: str | None) -> None:
        """Make a place for a new key under every cap, taking it from a key with no data where one
        holds it; raises ``TooManyRequests`` where none can be taken."""
        caps: list[tuple[str, Callable[[SeriesKey], bool], Callable[[], int], int, str]] = [
            ("total", lambda other: True, lambda: len(self._entries), self._settings.max_keys,
             f"the adapter already tracks {self._settings.max_keys} metric keys (refresh.max_keys)"),
            ("namespace", lambda other: other.namespace == key.namespace, lambda: self._per_namespace[key.namespace],
             self._settings.max_keys_per_namespace,
             f"namespace {key.namespace!r} already has {self._settings.max_keys_per_namespace} tracked metric keys "
             "(refresh.max_keys_per_namespace)"),
        ]
        if user is not None:
            caps.append(
                ("user", lambda other: self._entries[other].user == user, lambda: self._per_user[user],
                 self._settings.max_keys_per_user,
                 f"user {user!r} already has {self._settings.max_keys_per_user} tracked metric keys "
                 "(refresh.max_keys_per_user)")
            )
        for scope_name, holds, count, cap, message in caps:
            if count() < cap:
                continue
            victim = self._least_recent_without_data(holds)
            if victim is None:
                self._telemetry.rejected_keys.labels(scope_name).inc()
                raise TooManyRequests(message)
            self._forget(victim)

    def _least_recent_without_data(self, holds: Callable[[SeriesKey], bool]) -> SeriesKey | None:
        candidates = [
            (entry.last_requested, key) for key, entry in self._entries.items()
            if not entry.pinned and _no_data(entry) and holds(key)
        ]
        return min(candidates, key=lambda candidate: candidate[0])[1] if candidates else None

    def _count_user(self, user: str, change: int) -> None:
        self._per_user[user] += change
        if not self._per_user[user]:
            del self._per_user[user]

    def _forget(self, key: SeriesKey) -> None:
        entry = self._entries.pop(key)
        if entry.inflight is not None:
            entry.inflight.cancel()
        self._per_namespace[key.namespace] -= 1
        if not self._per_namespace[key.namespace]:
            del self._per_namespace[key.namespace]
        if entry.user is not None:
            self._count_user(entry.user, -1)
        self._telemetry.tracked_keys.set(len(self._entries))

    def _start(self, key: SeriesKey, entry: _Entry) -> asyncio.Task[None]:
        """The key's in-flight evaluation, started if none is running."""
        if entry.inflight is None or entry.inflight.done():
            entry.inflight = asyncio.create_task(self._evaluate(key, entry), name=f"evaluate {key}")
        return entry.inflight

    async def _evaluate(self, key: SeriesKey, entry: _Entry) -> None:
        started = self._clock()
        try:
            async with self._limit:
                samples = await self._source.instant(entry.query)
            self.last_success = self._clock()
            entry.reading = self._apply_policies(key, entry, samples, timestamp=math.floor(started))
            entry.error = None
        except SourceError as error:
            entry.error = error
        except AdapterError as error:
            entry.error = error
            entry.reading = None
        except Exception:
            log.exception("evaluating %s failed", key)
            entry.error = InternalError(f"evaluating metric {key.metric!r} failed; see the adapter's log")
        finally:
            self.progress()

    def _apply_policies(self, key: SeriesKey, entry: _Entry, samples: list[Sample], *, timestamp: float) -> Reading:
        rule = entry.rule
        if not samples:
            self._telemetry.non_finite.labels(rule.name, "empty", rule.on_empty).inc()
            if rule.on_empty == "zero":
                return Reading(values=(({}, 0.0),), timestamp=timestamp)
            raise NotFound(
                f"no data for metric {rule.name!r} in namespace {key.namespace!r} "
                f"with selector {key.selector or '(empty)'!r}"
            )
        values: list[tuple[Mapping[str, str], float]] = []
        problems: list[AdapterError] = []
        for sample in samples:
            try:
                values.append((sample.labels, self._finite(key, entry, sample)))
            except AdapterError as error:
                problems.append(error)
        if problems and (key.api == "external" or not values):
            raise problems[0]
        if entry.reading is not None and any(
            not math.isfinite(sample.value) and self._policy(entry.rule, sample.value) == "last_good" for sample in samples
        ):
            # A value carried over keeps its age, so it still goes stale on time.
            timestamp = min(timestamp, entry.reading.timestamp)
        return Reading(values=tuple(values), timestamp=timestamp)

    @staticmethod
    def _policy(rule: MetricRule, value: float) -> str:
        return rule.on_nan if math.isnan(value) else rule.on_inf

    def _finite(self, key: SeriesKey, entry: _Entry, sample: Sample) -> float:
        if math.isfinite(sample.value):
            return sample.value
        kind = "nan" if math.isnan(sample.value) else "inf"
        policy = self._policy(entry.rule, sample.value)
        self._telemetry.non_finite.labels(entry.rule.name, kind, policy).inc()
        if policy == "zero":
            return 0.0
        if policy == "last_good" and entry.reading is not None and self._fresh(entry.reading):
            for labels, value in entry.reading.values:
                if labels == sample.labels:
                    return value
        raise ServiceUnavailable(
            f"metric {entry.rule.name!r} is {'NaN' if kind == 'nan' else 'infinite'} in namespace "
            f"{key.namespace!r} and no recent value can be served (policy on_{kind}: {policy})"
        )

    def _fresh(self, reading: Reading | None) -> bool:
        return reading is not None and self._clock() - reading.timestamp <= self._settings.staleness

    def _serve(self, key: SeriesKey, entry: _Entry) -> Reading:
        if entry.reading is not None and self._fresh(entry.reading):
            return entry.reading
        if entry.error is not None:
            if isinstance(entry.error, SourceError) and entry.reading is not None:
                raise ServiceUnavailable(
                    f"no fresh data for metric {key.metric!r}: {entry.error.message}; the last value is "
                    f"older than {self._settings.staleness:g}s"
                )
            raise entry.error
        raise ServiceUnavailable(f"no fresh data for metric {key.metric!r} in namespace {key.namespace!r}")


def _render(key: SeriesKey, rule: MetricRule) -> str:
    """The PromQL of ``key`` under ``rule``; raises ``BadRequest`` for a selector it cannot express."""
    template = rule.pods_query if key.api == "pods" else rule.query
    assert template is not None  # the server routes only rules that have one
    return render(template, rule, key.scope)


def _reloaded_query(key: SeriesKey, rule: MetricRule | None) -> str | None:
    """The PromQL of ``key`` under a reloaded ``rule``; None where the rule no longer serves the key:
    it is gone, has no per-pod query, or cannot express the key's selector."""
    if rule is None or (key.api == "pods" and rule.pods_query is None):
        return None
    try:
        return _render(key, rule)
    except AdapterError:
        return None


def _order(key: SeriesKey) -> tuple[str, ...]:
    """Keys in the order the status page lists them."""
    return key.metric, key.api, key.namespace, key.selector, key.metric_selector


def _no_data(entry: _Entry) -> bool:
    """Evaluated, and no series matched: the key holds nothing worth its place."""
    return entry.reading is None and isinstance(entry.error, NotFound)
