"""The histories a capacity report reads from Prometheus: for each workload (a namespace and a
label selector) its demand, p99 latency, replica count, GPU utilisation and GPU power, from range
queries of the adapter's own rules (the presets, or the config's), so a report measures what the
HPA is served. GPU series are read where the config's GPU preset is on (``signals.gpu: dcgm``).
The grid's carbon intensity, given as PromQL, is read over the same history as its daily profile.

A workload is given by its selector, or found: every ``app`` label of the namespace's pods in
kube-state-metrics' ``kube_pod_labels``. A range query is split into pieces of at most
:data:`MAX_POINTS` steps, under Prometheus' limit of 11,000 points per series.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adapter.kubernetes.selectors import parse_selector, promql_string
from adapter.settings.config import MetricRule, PrometheusSettings, Settings, load_settings, settings_from_mapping
from adapter.signals.presets import gpu_watts_query, resolve_rules
from adapter.signals.rules import QueryScope, render
from adapter.sources.prometheus import PrometheusSource
from adapter.sources.protocol import Source
from forecasting import DAY_SECONDS, HOURS_PER_DAY, CarbonIntensity, ReportError, Trace, Workload, WorkloadHistory

MAX_POINTS = 10_000
APP_LABEL = "label_app"
REPLICAS = MetricRule(
    name="replicas", workload_selector="pod_labels",
    query='sum(kube_pod_status_ready{condition="true"} and on(namespace, pod) kube_pod_labels{<<.PodLabelMatchers>>})')
"""The workload's ready pods as kube-state-metrics sees them, joined the way the presets join: the
replicas that serve, which starting ones do not."""
GPU_WATTS = MetricRule(name="gpu_watts", workload_selector="pod_labels", query=gpu_watts_query())
"""The workload's GPU power, as the preset's energy per request divides it."""


@dataclass(frozen=True)
class HistoryQuery:
    namespace: str
    selectors: tuple[str, ...]
    """Label selectors, one per workload; empty: every ``app`` of the namespace."""
    history_seconds: float
    step_seconds: float
    carbon_query: str | None = None
    """PromQL of the grid's carbon intensity (``--carbon-intensity-query``); None: the config's
    ``signals.carbon``, if any."""


async def read_histories(query: HistoryQuery, *, url: str | None, config: Path | None
                         ) -> tuple[list[WorkloadHistory], list[Workload], CarbonIntensity | None]:
    """Each workload's history, what its manifests name, and the grid's carbon intensity (the
    query's daily profile, the config's constant, or None); raises ReportError for a selector or a
    carbon query that matches nothing, SourceError when Prometheus fails."""
    settings = load_settings(config) if config is not None else settings_from_mapping(
        {"prometheus": {"url": url}}, source="--prometheus")
    prometheus = _prometheus(settings, config)
    rules = resolve_rules(settings, source=str(config or "--prometheus"))
    for needed in ("requests_per_second", "latency_p99_seconds"):
        if needed not in rules:
            raise ReportError(f"{config or '--prometheus'}: no {needed} rule: the report needs a server preset "
                              f"(signals.server) or a rule of that name")
    source = PrometheusSource.open(prometheus, max_concurrency=4)
    try:
        await source.start()
        end = math.floor(time.time() / query.step_seconds) * query.step_seconds
        selectors = query.selectors or await _apps(source, query.namespace)
        if settings.signals.gpu == "dcgm":
            rules = {**rules, GPU_WATTS.name: GPU_WATTS}
        histories = [await _history(source, rules, query, selector, end) for selector in selectors]
        carbon = await _carbon(source, settings, query, end, config)
    finally:
        await source.close()
    return histories, [_workload(query.namespace, selector) for selector in selectors], carbon


async def _carbon(source: Source, settings: Settings, query: HistoryQuery, end: float,
                  config: Path | None) -> CarbonIntensity | None:
    """The option's query, else the config's ``signals.carbon``: a query as its daily profile."""
    configured = settings.signals.carbon
    if query.carbon_query is not None:
        promql, label = query.carbon_query, "--carbon-intensity-query"
    elif configured is not None and configured.query is not None:
        promql, label = configured.query, f"{config}: signals.carbon.query"
    elif configured is not None and configured.grams_per_kwh is not None:
        return CarbonIntensity(constant=configured.grams_per_kwh)
    else:
        return None
    start = end - query.history_seconds
    steps = round(query.history_seconds / query.step_seconds) + 1
    # the preset reads the max of the query's series; so does the report
    values = await _series(source, f"max({promql})", start, steps, query.step_seconds)
    known = np.isfinite(values)
    if not known.any():
        raise ReportError(f"{label}: {promql} returned no data over the last {query.history_seconds / 86400:g} days")
    hours = np.floor(np.mod(start + np.flatnonzero(known) * query.step_seconds, DAY_SECONDS) / 3600).astype(int)
    missing = HOURS_PER_DAY - np.unique(hours).size
    if missing:
        raise ReportError(f"{label}: {promql} has no data in {missing} of the day's {HOURS_PER_DAY} hours; its "
                          f"daily profile needs every hour")
    return CarbonIntensity(daily_profile=tuple(float(values[known][hours == hour].mean())
                                               for hour in range(HOURS_PER_DAY)))


def _prometheus(settings: Settings, config: Path | None) -> PrometheusSettings:
    if settings.prometheus is None:
        raise ReportError(f"{config}: prometheus.url: required, the report reads its history from Prometheus")
    return settings.prometheus


async def _apps(source: Source, namespace: str) -> tuple[str, ...]:
    found = await source.instant(f"count by ({APP_LABEL}) (kube_pod_labels{{namespace={promql_string(namespace)}}})")
    apps = sorted({sample.labels[APP_LABEL] for sample in found if sample.labels.get(APP_LABEL)})
    if not apps:
        raise ReportError(f"--namespace {namespace}: no pod with an app label in kube_pod_labels; name the "
                          f"workloads with --workload")
    return tuple(f"app={app}" for app in apps)


async def _history(source: Source, rules: dict[str, MetricRule], query: HistoryQuery, selector: str,
                   end: float) -> WorkloadHistory:
    scope = QueryScope(query.namespace, parse_selector(selector))
    name = f"{query.namespace}/{selector}"
    start = end - query.history_seconds
    steps = round(query.history_seconds / query.step_seconds) + 1
    demand = await _series(source, render(rules["requests_per_second"].query, rules["requests_per_second"], scope),
                           start, steps, query.step_seconds)
    known = np.flatnonzero(np.isfinite(demand))
    if known.size == 0:
        raise ReportError(f"{name}: the selector matches no series in namespace {query.namespace} over the last "
                          f"{query.history_seconds / 86400:g} days")
    kept = slice(int(known[0]), int(known[-1]) + 1)  # from the first value to the last: no gap at either end
    read: dict[str, np.ndarray] = {}
    for label, rule in (("latency", rules["latency_p99_seconds"]), ("replicas", REPLICAS),
                        ("utilisation", rules.get("gpu_utilization")), ("watts", rules.get(GPU_WATTS.name))):
        if rule is not None:
            read[label] = (await _series(source, render(rule.query, rule, scope), start, steps,
                                         query.step_seconds))[kept]
    trace = Trace(name=name, step_seconds=query.step_seconds, start=start + kept.start * query.step_seconds,
                  wall_clock=True, requests=demand[kept] * query.step_seconds)
    return WorkloadHistory(name, trace, read["latency"], read["replicas"], _some(read.get("utilisation")),
                           _some(read.get("watts")))


def _some(values: np.ndarray | None) -> np.ndarray | None:
    """``values``, or None when the series had no value at all (no GPU exporter)."""
    return values if values is not None and np.isfinite(values).any() else None


async def _series(source: Source, promql: str, start: float, steps: int, step: float) -> np.ndarray:
    """``promql`` at each of ``steps`` steps from ``start``; NaN where it has no value."""
    values = np.full(steps, np.nan)
    for offset in range(0, steps, MAX_POINTS):
        piece_start = start + offset * step
        piece_end = start + (min(steps, offset + MAX_POINTS) - 1) * step
        for series in await source.range(promql, start=piece_start, end=piece_end, step=step):
            for timestamp, value in zip(series.timestamps, series.values, strict=True):
                index = round((timestamp - start) / step)
                if 0 <= index < steps:
                    values[index] = value
    return values


def _workload(namespace: str, selector: str) -> Workload:
    """What the manifests name: the app of an ``app=NAME`` selector, else the default name."""
    key, _, value = selector.partition("=")
    return Workload(value if key.strip() == "app" and value and "," not in value else "inference", namespace)
