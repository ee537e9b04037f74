"""Whether the series Foresight's presets read are visible from the configured Prometheus: a
deployment that installs cleanly but finds no data answers every HPA with an error."""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapter.kubernetes.errors import SourceError
from adapter.kubernetes.selectors import parse_selector
from adapter.settings.config import Settings
from adapter.signals.presets import demand_series
from adapter.sources.prometheus import PrometheusSource

DEFAULT_WORKLOAD_LABEL = "app"
"""The label the example HPAs select on, checked where the config names no workload."""


class PrometheusUnreachable(Exception):
    """The configured Prometheus did not answer a trivial query."""


@dataclass(frozen=True)
class Visibility:
    what: str
    query: str
    found: bool
    needed_for: str


def kube_state_label(key: str) -> str:
    """The label kube-state-metrics gives pod label ``key`` on ``kube_pod_labels``."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


def _checks(settings: Settings) -> list[tuple[str, str, str]]:
    """(what, query, needed for) for each series the config's signals read."""
    signals = settings.signals
    checks = []
    if signals.gpu == "dcgm" or signals.workload_labels == "pod_labels":
        checks.append(("kube-state-metrics", "count(kube_pod_labels)", "selecting a workload's pods"))
        keys = {requirement.key for workload in settings.forecasts.workloads
                for requirement in parse_selector(workload.selector).requirements} or {DEFAULT_WORKLOAD_LABEL}
        for key in sorted(keys):
            label = kube_state_label(key)
            checks.append((
                f"pod label {key} on kube_pod_labels (--metric-labels-allowlist=pods=[{key},...])",
                f'count(kube_pod_labels{{{label}!=""}})', f"HPA selectors on {key}",
            ))
    if signals.gpu == "dcgm":
        checks.append(("dcgm-exporter or the NVML exporter", "count(DCGM_FI_DEV_GPU_UTIL)", "the GPU signals"))
    demand = demand_series(signals)
    if demand is not None:
        checks.append((f"{signals.server} series", f'count({{__name__="{demand}"}})', "demand, latency and queue"))
    return checks


async def visible_series(settings: Settings) -> list[Visibility]:
    """Each series check against ``settings.prometheus``; :class:`PrometheusUnreachable` when it
    does not answer at all."""
    assert settings.prometheus is not None
    source = PrometheusSource.open(settings.prometheus, max_concurrency=2)
    try:
        await source.start()
        try:
            await source.instant("vector(1)")
        except SourceError as error:
            raise PrometheusUnreachable(f"{settings.prometheus.base_url}: {error.message}") from None
        found = []
        for what, query, needed_for in _checks(settings):
            try:
                samples = await source.instant(query)
            except SourceError:
                samples = []
            found.append(Visibility(what, query, any(sample.value > 0 for sample in samples), needed_for))
        return found
    finally:
        await source.close()
