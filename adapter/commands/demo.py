"""``foresight demo``: the adapter on the simulated fleet, plain HTTP on loopback (or HTTPS with
``serve``'s access control, when given ``--secure-port``).

The fleet's last 7 days are generated at start, its workloads' keys are tracked from the start
(so the status page has values at once), and ``--speed`` makes simulated time run faster.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from prometheus_client import CollectorRegistry

from adapter.access.control import AccessControl
from adapter.app.assembly import assemble
from adapter.commands.exit_codes import CommandFailed
from adapter.keda.serving import ScalerListener
from adapter.kubernetes.selectors import parse_selector
from adapter.settings.config import (
    CarbonIntensity,
    ForecastSettings,
    MetricRule,
    RefreshSettings,
    Settings,
    SignalSettings,
)
from adapter.settings.forecast_names import forecast_metric_names
from adapter.signals.presets import resolve_rules
from adapter.signals.rules import QueryScope
from adapter.sources.demo.fleet import NAMESPACE, DemoFleet, default_fleet
from adapter.sources.demo.source import DemoSource
from adapter.tracking.store import MetricStore, SeriesKey
from adapter.tracking.tracker import ForecastKey
from forecasting import Trace, read_trace

log = logging.getLogger(__name__)
HISTORY_SECONDS = 7 * 86400.0
REFRESH_SECONDS = 5.0
"""Real seconds between refreshes of every tracked key."""
STALENESS_REAL_SECONDS = 120.0
"""The oldest value served, in real seconds (``serve``'s default staleness bound)."""
IDLE_REAL_SECONDS = 600.0
"""How long a key nobody asks for is kept, in real seconds (``serve``'s default)."""
DEMO_SIGNALS = SignalSettings(
    gpu="dcgm", server="vllm", workload_labels="pod_labels", carbon=CarbonIntensity(grams_per_kwh=400.0)
)
FORECAST_SIGNALS = ForecastSettings().signals
"""Demand in requests and in tokens, each with its forecast."""
BANNER = (
    "DEMO: a simulated GPU inference fleet (namespace {namespace}: {workloads}), not a cluster. "
    "Every value below comes from the same PromQL rules Foresight sends to Prometheus."
)


class SimulatedClock:
    """Unix time that runs ``speed`` times faster than the wall clock from the moment it is made."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin = time.time()

    def __call__(self) -> float:
        return self._origin + (time.time() - self._origin) * self.speed


def demo_refresh(speed: float) -> RefreshSettings:
    """Refresh every few real seconds; staleness and idleness are real time, written in the
    simulated seconds the store's clock counts.

    The staleness bound stops an HPA from acting on a value its source stopped updating. The demo's
    source runs in this process and never goes away: it can only be slow, and how slow depends on
    the machine, not on the simulated fleet. A bound in simulated time shrinks with ``--speed``
    (at 10x, 150 simulated seconds were 15 real ones), so a busy machine whose refresh pass took a
    few seconds longer made a demo answer 503 while it was still refreshing. The bound is therefore
    the product's default of :data:`STALENESS_REAL_SECONDS` of real time at any speed: a demo that
    keeps refreshing keeps serving, and one whose source stopped answering turns to 503 (and
    ``/readyz`` fails) after as long as ``serve`` would wait. A key someone asked for likewise stays
    :data:`IDLE_REAL_SECONDS` of real time."""
    return RefreshSettings(
        interval=REFRESH_SECONDS,
        staleness=STALENESS_REAL_SECONDS * speed,
        idle_after=IDLE_REAL_SECONDS * max(1.0, speed),
    )


def pin_workloads(store: MetricStore, rules: Mapping[str, MetricRule], fleet: DemoFleet) -> list[str]:
    """Track every metric of every demo workload; returns their selectors."""
    selectors = [state.selector for state in fleet.current().values()]
    for text in selectors:
        selector = parse_selector(text)
        scope = QueryScope(NAMESPACE, selector)
        for name, rule in rules.items():
            store.pin(SeriesKey(name, "external", scope), rule)
            if rule.pods_query is not None:
                store.pin(SeriesKey(name, "pods", scope), rule)
    return selectors


def _instructions(
    server: str, rules: Mapping[str, MetricRule], selectors: list[str], banner: str, *, secure: bool,
    keda: ScalerListener | None,
) -> str:
    selector = quote(selectors[0])
    lines = [banner, f"Status page: {server}/"]
    if secure:
        lines.append(
            "Every request needs a client certificate from --client-ca-file or --requestheader-client-ca-file, "
            "or a bearer token the --kubeconfig cluster accepts; add --certificate-authority (or "
            "--insecure-skip-tls-verify for a generated certificate) and your credentials to these commands."
        )
    lines += [
        "Try:",
        f"  kubectl --server {server} get --raw /apis/external.metrics.k8s.io/v1beta1",
    ]
    lines += [
        f"  kubectl --server {server} get --raw '/apis/external.metrics.k8s.io/v1beta1/namespaces/{NAMESPACE}/{name}?labelSelector={selector}'"
        for name in rules
    ]
    lines += [
        f"  kubectl --server {server} get --raw '/apis/external.metrics.k8s.io/v1beta1/namespaces/{NAMESPACE}/{name}?labelSelector={selector}'"
        for signal in FORECAST_SIGNALS
        for name in forecast_metric_names(signal)
    ]
    lines.append(
        f"  kubectl --server {server} get --raw '/apis/custom.metrics.k8s.io/v1beta2/namespaces/{NAMESPACE}/pods/*/gpu_utilization?labelSelector={selector}'"
    )
    if keda is not None:
        lines.append(
            f"KEDA external scaler: {keda.host}:{keda.port} ({'TLS with a client certificate' if keda.tls else 'plaintext'}); "
            f"a trigger in namespace {NAMESPACE} with metadata metric: requests_per_second_planned, "
            f"selector: {selectors[0]}, target: '10'"
        )
    return "\n".join(lines)


def _fleet(now: float, trace: Trace | None) -> DemoFleet:
    """The simulated fleet, its demand played from ``trace`` where one is given; a trace it cannot
    play is a failure of the command."""
    if trace is None:
        return default_fleet(start=now - HISTORY_SECONDS)
    try:
        return default_fleet(start=now - HISTORY_SECONDS, trace=trace, trace_origin=now)
    except ValueError as error:  # such as a trace without requests
        raise CommandFailed(str(error)) from error


def run_demo(
    *,
    host: str,
    port: int,
    trace_path: Path | None,
    speed: float,
    ssl_context: ssl.SSLContext | None = None,
    access: AccessControl | None = None,
    serve: Callable[[web.Application, CollectorRegistry], None],
    keda: ScalerListener | None = None,
) -> int:
    clock = SimulatedClock(speed)
    now = clock()
    trace = read_trace(trace_path) if trace_path is not None else None
    fleet = _fleet(now, trace)
    source = DemoSource(fleet, clock=clock)
    started = time.perf_counter()
    source.advance(now)
    log.info("generated 7 days of fleet history in %.1fs", time.perf_counter() - started)
    rules = resolve_rules(Settings(signals=DEMO_SIGNALS), source="the demo's built-in config")
    workloads = ", ".join(state.selector for state in fleet.current().values())
    banner = BANNER.format(namespace=NAMESPACE, workloads=workloads)
    if trace is not None:
        banner += f" Demand plays the trace {trace.name} from now, at {speed:g}x"
        banner += ", with the prompt and output tokens it counts." if trace.tokens is not None else "."
    forecasts = ForecastSettings()
    adapter = assemble(
        rules=rules,
        source=source,
        refresh=demo_refresh(speed),
        forecasts=forecasts,
        clock=clock,
        banner=banner,
        forecast_tick_seconds=forecasts.step / speed,
        access=access,
        keda=keda,
        read_back_models=False,  # the demo's store holds the fleet's series, never the adapter's own
    )
    app = adapter.app
    selectors = pin_workloads(adapter.store, rules, fleet)
    assert adapter.tracker is not None
    for text in selectors:
        selector = parse_selector(text)
        for signal in forecasts.signals:
            key = ForecastKey(signal, NAMESPACE, str(selector))
            adapter.tracker.track(key, rules[signal], QueryScope(NAMESPACE, selector), pinned=True)
    scheme = "https" if ssl_context is not None else "http"
    server = f"{scheme}://{host}:{port}"
    print(_instructions(server, rules, selectors, banner, secure=access is not None, keda=keda), flush=True)
    serve(app, adapter.registry)
    return 0
