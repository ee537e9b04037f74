"""Leads measured, not assumed: how long a workload's pods took to become ready, from
kube-state-metrics, for the workloads whose lead is ``auto``.

A pod's start-up is ``kube_pod_status_ready_time - kube_pod_created`` (both Unix seconds, labels
``namespace``, ``pod``, ``uid``); the workload's pods are picked by the ``kube_pod_labels`` join the
presets use. The lead is the 90th percentile over the pods seen in the last day, gone ones
included (a scale-up's pods are what a lead is for), clamped to [15 s, 1 h] and rounded up to the
tracker's step. Each workload is measured when it first needs a lead and again hourly; where
kube-state-metrics has nothing for it, its configured lead stands, said once in the log.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from adapter.kubernetes.errors import AdapterError
from adapter.kubernetes.selectors import parse_selector
from adapter.settings.config import MetricRule
from adapter.signals.rules import QueryScope, render
from adapter.sources.protocol import Source

log = logging.getLogger(__name__)
Workload = tuple[str, str]
"""A namespace and a canonical label selector."""
LeadSource = Literal["measured", "configured"]
STARTUP_QUANTILE = 0.9
LOOKBACK_SECONDS = 86400.0
"""Pods seen this recently count: a day holds the scale-ups of a daily peak."""
REMEASURE_SECONDS = 3600.0
MIN_LEAD_SECONDS = 15.0
MAX_LEAD_SECONDS = 3600.0
"""Start-ups outside these are not start-ups (a clock off, a pod that turned ready again days
later): the measured lead is clamped to them."""
MAX_CONCURRENT_QUERIES = 4

# Duplicate series from several kube-state-metrics replicas collapse by pod before the join; a
# pod's first readiness within the lookback is its start-up.
_STARTUP = MetricRule(
    name="pod_startup_seconds",
    workload_selector="pod_labels",
    window=LOOKBACK_SECONDS,
    query=(
        f"quantile({STARTUP_QUANTILE}, "
        "min by (namespace, pod, uid) (min_over_time(kube_pod_status_ready_time{<<.LabelMatchers>>}[<<.Window>>]))"
        " - on(namespace, pod, uid) "
        "max by (namespace, pod, uid) (max_over_time(kube_pod_created{<<.LabelMatchers>>}[<<.Window>>]))"
        " and on(namespace, pod) max_over_time(kube_pod_labels{<<.PodLabelMatchers>>}[<<.Window>>]))"
    ),
)


@dataclass(frozen=True)
class Lead:
    """The lead a workload's forecasts use, and where it came from."""

    seconds: float
    source: LeadSource


@dataclass
class _Measurement:
    at: float
    lead: float | None
    """None: kube-state-metrics had no start-up for the workload."""


def lead_from_startup(seconds: float, *, step: float) -> float:
    """A measured start-up as a lead: clamped to sane bounds, then rounded up to whole steps."""
    clamped = min(max(seconds, MIN_LEAD_SECONDS), MAX_LEAD_SECONDS)
    return math.ceil(clamped / step - 1e-9) * step


def startup_query(namespace: str, selector: str) -> str:
    """The PromQL of a workload's start-up quantile; selector values are escaped as in every rule."""
    return render(_STARTUP.query, _STARTUP, QueryScope(namespace, parse_selector(selector)))


class StartupLeads:
    """Measured leads by workload, each re-measured when it is an hour old."""

    def __init__(self, source: Source, *, step: float, clock: Callable[[], float]) -> None:
        self._source = source
        self._step = step
        self._clock = clock
        self._measured: dict[Workload, _Measurement] = {}
        self._failing: set[Workload] = set()
        self._queries = asyncio.Semaphore(MAX_CONCURRENT_QUERIES)

    def lead(self, workload: Workload, *, fallback: float) -> Lead:
        """The workload's measured lead, or ``fallback`` where none is known."""
        measurement = self._measured.get(workload)
        if measurement is None or measurement.lead is None:
            return Lead(fallback, "configured")
        return Lead(measurement.lead, "measured")

    async def measure_due(self, fallbacks: Mapping[Workload, float]) -> None:
        """Measure each of ``fallbacks``' workloads not measured within the hour (the value is the
        lead it uses without a measurement, for the log); forget workloads no longer listed."""
        for workload in self._measured.keys() - fallbacks.keys():
            del self._measured[workload]
        self._failing &= fallbacks.keys()
        now = self._clock()
        due = [
            workload for workload in fallbacks
            if workload not in self._measured or now - self._measured[workload].at >= REMEASURE_SECONDS
        ]
        await asyncio.gather(*(self._measure(workload, fallbacks[workload]) for workload in due))

    async def _measure(self, workload: Workload, fallback: float) -> None:
        namespace, selector = workload
        try:
            async with self._queries:
                samples = await self._source.instant(startup_query(namespace, selector))
        except AdapterError as error:  # the previous lead stands; tried again at the next pass
            if workload not in self._failing:
                log.warning("could not measure the pod start-up of %s: %s", _describe(workload), error.message)
            self._failing.add(workload)
            return
        self._failing.discard(workload)
        values = [sample.value for sample in samples if math.isfinite(sample.value)]
        lead = lead_from_startup(values[0], step=self._step) if values else None
        previous = self._measured.get(workload)
        self._measured[workload] = _Measurement(self._clock(), lead)
        if previous is not None and previous.lead == lead:
            return
        if lead is None:
            log.info(
                "no pod start-up of %s in kube-state-metrics (kube_pod_status_ready_time, kube_pod_created); "
                "its forecasts keep the configured lead of %gs", _describe(workload), fallback,
            )
        else:
            log.info("forecasts of %s look %gs ahead: the p%g of its pods' measured start-up (%.1fs)",
                     _describe(workload), lead, STARTUP_QUANTILE * 100, values[0])


def _describe(workload: Workload) -> str:
    namespace, selector = workload
    return f"namespace {namespace!r} selector {selector or '(all)'!r}"
