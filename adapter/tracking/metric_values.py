"""External metric values, read the one way every API reads them.

A request for a metric in a namespace with a label selector is parsed and checked once into a
:class:`MetricRequest`; its value comes from the store, and for a forecast metric from the
forecast tracker too. The HTTP metrics API and the KEDA scaler both read through here, so they
share tracked keys and forecasts, and answer and fail alike.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from adapter.kubernetes.errors import BadRequest, NotFound
from adapter.kubernetes.selectors import parse_selector
from adapter.kubernetes.wire import CUSTOM_GROUP, EXTERNAL_GROUP
from adapter.settings.config import MetricRule
from adapter.settings.forecast_names import ForecastKind, parse_forecast_metric
from adapter.signals.rules import QueryScope
from adapter.tracking.store import Api, MetricStore, Reading, SeriesKey
from adapter.tracking.tracker import ForecastKey, ForecastTracker

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
FORECAST_STATE_LABEL = "foresight.io/state"
FORECAST_MODEL_LABEL = "foresight.io/model"
FORECAST_REASON_LABEL = "foresight.io/reason"


@dataclass(frozen=True)
class MetricRequest:
    """What a metric request asks for, parsed and validated once per distinct request."""

    name: str
    rule: MetricRule
    key: SeriesKey
    """The key of the signal itself (for a forecast metric: of the signal it forecasts)."""
    query: str
    """The key's PromQL, as the store reads it (see :meth:`MetricStore.query`)."""
    forecast: ForecastKey | None = None
    forecast_kind: ForecastKind = "forecast"
    """For a forecast metric: the bound alone, or the larger of it and the current value."""


@dataclass(frozen=True)
class ForecastValue:
    """A forecast metric's one value, its ``metricLabels`` and the window it covers."""

    value: float
    labels: Mapping[str, str]
    window: float


def check_namespace(namespace: str) -> None:
    """Raises ``BadRequest`` unless ``namespace`` is a valid namespace name."""
    if not DNS1123_LABEL.match(namespace):
        raise BadRequest(f"namespace {namespace!r} is not a valid namespace name")


class RefreshPasses:
    """Wakes whoever waits for the next refresh pass (of the store or the forecast tracker) to
    look at their values again, instead of polling on a timer of their own."""

    def __init__(self) -> None:
        self._next = asyncio.Event()

    def next(self) -> asyncio.Event:
        """Set when the next pass ends; take it before reading, so no pass goes unnoticed."""
        return self._next

    def ended(self) -> None:
        self._next.set()
        self._next = asyncio.Event()


class MetricValues:
    """The metrics served and the values read for them."""

    def __init__(
        self,
        *,
        rules: Mapping[str, MetricRule],
        store: MetricStore,
        tracker: ForecastTracker | None,
        forecast_signals: frozenset[str],
        passes: RefreshPasses,
    ) -> None:
        self._rules = rules  # replaced in place by a config reload
        self._store = store
        self._tracker = tracker
        self._forecast_signals = forecast_signals
        self.passes = passes

    def request(
        self, api: Api, *, namespace: str, name: str, selector: str = "", metric_selector: str = ""
    ) -> MetricRequest:
        """``name`` in ``namespace`` for the workload ``selector`` selects, checked; raises
        ``BadRequest`` or ``NotFound`` saying what is wrong."""
        check_namespace(namespace)
        if not self.serves(api, name):
            group = CUSTOM_GROUP if api == "pods" else EXTERNAL_GROUP
            raise NotFound(f'the server could not find the metric "{name}" in {group}')
        forecast_of = self._forecast_of(api, name)
        rule = self._rules[forecast_of[0] if forecast_of else name]
        workload = parse_selector(selector)
        metrics = parse_selector(metric_selector if api == "pods" else "")
        key = SeriesKey(rule.name, api, QueryScope(namespace, workload, metrics))
        forecast = ForecastKey(rule.name, namespace, str(workload)) if forecast_of else None
        # A selector the rule cannot express (BadRequest) is refused before it takes a tracked key.
        query = self._store.query(key, rule)
        return MetricRequest(name, rule, key, query, forecast, forecast_of[1] if forecast_of else "forecast")

    def serves(self, api: Api, name: str) -> bool:
        """Whether ``name`` is one of Foresight's metrics in ``api`` (else an upstream's, if any)."""
        forecast_of = self._forecast_of(api, name)
        rule = self._rules.get(forecast_of[0] if forecast_of else name)
        return rule is not None and (api != "pods" or rule.pods_query is not None)

    def _forecast_of(self, api: Api, name: str) -> tuple[str, ForecastKind] | None:
        forecast_of = parse_forecast_metric(name) if api == "external" else None
        if forecast_of is not None and forecast_of[0] not in self._forecast_signals:
            return None  # a metric of its own whose name only looks like a forecast's
        return forecast_of

    def planned(self, parsed: MetricRequest) -> MetricRequest:
        """The request for the larger of the signal's current value and its forecast bound, where
        the signal is forecast; otherwise ``parsed`` itself."""
        signal = parsed.rule.name
        if parsed.key.api != "external" or signal not in self._forecast_signals:
            return parsed
        forecast = ForecastKey(signal, parsed.key.namespace, parsed.key.selector)
        return replace(parsed, name=f"{signal}_planned", forecast=forecast, forecast_kind="planned")

    async def reading(self, parsed: MetricRequest, *, user: str | None) -> Reading:
        """The signal's freshest reading (see :meth:`MetricStore.read`)."""
        return await self._store.read(parsed.key, parsed.rule, parsed.query, user=user)

    async def forecast(self, parsed: MetricRequest, *, user: str | None) -> ForecastValue:
        """A forecast metric: the upper forecast bound over [now+L, now+L+H] when a forecast is
        ready (for ``_planned``, the larger of it and the signal's current value), else the signal's
        current value, marked. It answers an error only when the signal does: an HPA with a failing
        metric never scales down, so an erroring forecast would pin replicas high."""
        assert parsed.forecast is not None and self._tracker is not None
        reading = await self.reading(parsed, user=user)
        tracked = self._tracker.track(
            parsed.forecast, parsed.rule, parsed.key.scope, user=self._store.accountable(user)
        )
        view = self._tracker.view(parsed.forecast)
        labels: dict[str, str] = {FORECAST_STATE_LABEL: view.state}
        if not tracked:
            labels = {FORECAST_STATE_LABEL: "fallback", FORECAST_REASON_LABEL: "too-many-series"}
        current = sum(item_value for _, item_value in reading.values)
        if tracked and view.upper is not None and view.model is not None:
            value = max(view.upper, current) if parsed.forecast_kind == "planned" else view.upper
            labels[FORECAST_MODEL_LABEL] = view.model
        else:
            value = current
        _, window = self._tracker.lead_and_window(parsed.forecast.namespace, parsed.forecast.selector)
        return ForecastValue(value, labels, window)

    async def value(self, parsed: MetricRequest, *, user: str | None) -> float:
        """The request's one number: a forecast metric's value, or the sum of the signal's items
        (an HPA sums the items of an answer too)."""
        if parsed.forecast is not None:
            return (await self.forecast(parsed, user=user)).value
        reading = await self.reading(parsed, user=user)
        return sum(item_value for _, item_value in reading.values)
