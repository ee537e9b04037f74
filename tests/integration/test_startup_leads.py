"""Leads measured from kube-state-metrics against a real Prometheus: the p90 of the start-ups of a
workload's pods seen in the last day, clamped and rounded up to the step; the configured lead where
there is none; and a changed lead reaching the next forecast's plan with the history kept.

kube-state-metrics needs a cluster, so its series are written into this Prometheus as history
(``promtool tsdb create-blocks-from openmetrics``): pods created, ready and gone at known times,
laid out as kube-state-metrics exports them.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapter.settings.config import Settings
from adapter.signals.presets import resolve_rules
from adapter.tracking.startup_leads import MAX_LEAD_SECONDS, MIN_LEAD_SECONDS

from .adapter_client import RunningAdapter, adapter_settings, running_adapter
from .prometheus import PrometheusServer
from .recorded_jobs import record_jobs

pytestmark = pytest.mark.integration
HOUR = 3600
SAMPLE_EVERY_S = 60
STEP_S = 5
"""The tracker's step in most tests: fine enough that clamping to 15 s shows."""
CONFIGURED_LEAD_S = 120.0


@dataclass(frozen=True)
class StartedPod:
    """A pod as kube-state-metrics saw it: created, ready ``startup_s`` later (never, if None),
    and gone ``gone_ago_s`` before the history ends (0: still there)."""

    namespace: str
    name: str
    app: str
    created_ago_s: int
    startup_s: float | None
    gone_ago_s: int = 0

    @property
    def seen_in_the_last_day(self) -> bool:
        return self.gone_ago_s < 24 * HOUR


PODS = (
    StartedPod("inference", "llama-a", "llama", 20 * HOUR, 60.0),
    StartedPod("inference", "llama-b", "llama", 16 * HOUR, 100.0),
    StartedPod("inference", "llama-c", "llama", 10 * HOUR, 130.0),
    StartedPod("inference", "llama-d", "llama", 5 * HOUR, 200.0),
    StartedPod("inference", "llama-e", "llama", 3 * HOUR, 410.0, gone_ago_s=HOUR),  # a scale-up's pod, gone
    StartedPod("inference", "llama-old", "llama", 40 * HOUR, 3000.0, gone_ago_s=30 * HOUR),  # gone before the day
    StartedPod("inference", "llama-pending", "llama", 600, None),  # not ready yet
    StartedPod("inference", "mistral-a", "mistral", 12 * HOUR, 2 * HOUR),  # absurdly slow
    StartedPod("inference", "mistral-b", "mistral", 9 * HOUR, 3 * HOUR),
    StartedPod("inference", "phi-a", "phi", 8 * HOUR, 1.0),  # absurdly fast
    StartedPod("inference", "phi-b", "phi", 7 * HOUR, 3.0),
    StartedPod("inference", "idle-a", "idle", 6 * HOUR, None),  # never ready: nothing to measure
    StartedPod("other", "llama-a", "llama", 4 * HOUR, 5000.0),  # the same app elsewhere
)


def llama_startups() -> list[float]:
    return [
        pod.startup_s for pod in PODS
        if (pod.namespace, pod.app) == ("inference", "llama") and pod.startup_s is not None and pod.seen_in_the_last_day
    ]


def kube_state_metrics_history(end: int) -> str:
    """:data:`PODS` as OpenMetrics samples every minute until ``end``, for promtool."""
    lines = []
    for when in range(end - 41 * HOUR, end + 1, SAMPLE_EVERY_S):
        for pod in PODS:
            created = end - pod.created_ago_s
            if not created <= when <= end - pod.gone_ago_s:
                continue
            labels = f'namespace="{pod.namespace}",pod="{pod.name}",uid="{uuid.uuid5(uuid.NAMESPACE_URL, pod.name)}"'
            lines.append(f'kube_pod_labels{{{labels},label_app="{pod.app}"}} 1 {when}')
            lines.append(f"kube_pod_created{{{labels}}} {created} {when}")
            if pod.startup_s is not None and when >= created + pod.startup_s:
                lines.append(f"kube_pod_status_ready_time{{{labels}}} {created + pod.startup_s} {when}")
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def kube_state_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A Prometheus of its own holding only the kube-state-metrics history (nothing to scrape)."""
    server = PrometheusServer(
        tmp_path_factory.mktemp("prometheus-kube-state"),
        [],
        backfill=kube_state_metrics_history(math.floor(time.time())),
        ready_probe=lambda: bool(server.query("kube_pod_created")),
    )
    with server:
        yield server


def auto_settings(prometheus: PrometheusServer, apps: list[str]) -> Settings:
    """Forecasts of ``apps``' demand tracked from start-up, each with an ``auto`` lead, at a 5 s step."""
    workloads = [
        {"namespace": "inference", "selector": f"app={app}", "lead": "auto", "track": ["requests_per_second_planned"]}
        for app in apps
    ]
    forecasts = {"step": f"{STEP_S}s", "lead": f"{CONFIGURED_LEAD_S:g}s", "workers": 1, "workloads": workloads}
    return adapter_settings(prometheus.url, {"forecasts": forecasts})


async def leads_on_metrics(adapter: RunningAdapter) -> dict[str, tuple[float, str]]:
    """``foresight_forecast_lead_seconds`` by the workload's selector: (lead, source)."""
    text = await (await adapter.client.get("/metrics")).text()
    [family] = [family for family in text_string_to_metric_families(text) if family.name == "foresight_forecast_lead_seconds"]
    return {sample.labels["selector"]: (sample.value, sample.labels["source"]) for sample in family.samples}


async def test_lead_is_the_p90_startup_of_the_pods_seen_in_the_last_day(kube_state_prometheus: PrometheusServer) -> None:
    async with running_adapter(auto_settings(kube_state_prometheus, ["llama"])) as adapter:
        assert adapter.tracker is not None
        assert await leads_on_metrics(adapter) == {"app=llama": (CONFIGURED_LEAD_S, "configured")}  # not yet measured
        await adapter.tracker.measure_leads()

        p90 = float(np.quantile(llama_startups(), 0.9))  # Prometheus's quantile() interpolates the same way
        expected = math.ceil(p90 / STEP_S) * STEP_S
        assert (p90, expected) == (326.0, 330)  # neither the slowest pod nor one long gone
        assert adapter.tracker.lead_and_window("inference", "app=llama") == (expected, 300.0)
        assert await leads_on_metrics(adapter) == {"app=llama": (expected, "measured")}


async def test_absurd_startups_are_clamped(kube_state_prometheus: PrometheusServer) -> None:
    async with running_adapter(auto_settings(kube_state_prometheus, ["mistral", "phi"])) as adapter:
        assert adapter.tracker is not None
        await adapter.tracker.measure_leads()
        assert await leads_on_metrics(adapter) == {
            "app=mistral": (MAX_LEAD_SECONDS, "measured"),
            "app=phi": (MIN_LEAD_SECONDS, "measured"),
        }


async def test_no_startup_keeps_the_configured_lead_and_says_so_once(
    kube_state_prometheus: PrometheusServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_adapter(auto_settings(kube_state_prometheus, ["idle"])) as adapter:
        assert adapter.tracker is not None
        with caplog.at_level(logging.INFO, logger="adapter.tracking.startup_leads"):
            await adapter.tracker.measure_leads()
            adapter.clock.offset = HOUR  # due again: measured again, and still nothing
            await adapter.tracker.measure_leads()
        assert adapter.sample("foresight_source_queries_total", kind="instant") == 2
        assert adapter.tracker.lead_and_window("inference", "app=idle") == (CONFIGURED_LEAD_S, 300.0)
        assert await leads_on_metrics(adapter) == {"app=idle": (CONFIGURED_LEAD_S, "configured")}
        [line] = [record.getMessage() for record in caplog.records]
        assert "no pod start-up of namespace 'inference' selector 'app=idle'" in line and "120s" in line


async def test_auto_default_lead_measures_every_workload_and_falls_back_to_three_minutes(
    kube_state_prometheus: PrometheusServer,
) -> None:
    workloads = [
        {"namespace": "inference", "selector": f"app={app}", "track": ["requests_per_second_forecast"]}
        for app in ("llama", "idle")
    ]
    settings = adapter_settings(
        kube_state_prometheus.url, {"forecasts": {"lead": "auto", "step": f"{STEP_S}s", "workloads": workloads}}
    )
    async with running_adapter(settings) as adapter:
        assert adapter.tracker is not None
        await adapter.tracker.measure_leads()
        assert adapter.tracker.lead_and_window("inference", "app=llama")[0] == 330
        assert adapter.tracker.lead_and_window("inference", "app=idle")[0] == 180


async def test_a_measured_lead_reaches_the_next_plan_with_the_history_kept(
    kube_state_prometheus: PrometheusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The series counts the workload's pods, which this Prometheus holds an hour of."""
    pods = {"name": "pods", "workload_selector": "pod_labels", "query": "sum(kube_pod_labels{<<.PodLabelMatchers>>})"}
    workload = {"namespace": "inference", "selector": "app=llama", "lead": "2m", "track": ["pods_forecast"]}
    forecasts = {"signals": ["pods"], "history": "1h", "workers": 1, "workloads": [workload]}
    settings = adapter_settings(kube_state_prometheus.url, {"metrics": [pods], "forecasts": forecasts})
    async with running_adapter(settings) as adapter:
        tracker = adapter.tracker
        assert tracker is not None
        jobs = record_jobs(tracker, monkeypatch)
        await tracker.refresh_now()
        auto = adapter_settings(
            kube_state_prometheus.url,
            {"metrics": [pods], "forecasts": forecasts | {"workloads": [workload | {"lead": "auto"}]}},
        )
        tracker.reconfigure(auto.forecasts, resolve_rules(auto, source="test config"))
        adapter.clock.offset = 60  # a step later
        await tracker.refresh_now()

        first, second = jobs
        assert (first.plan.lead_steps, second.plan.lead_steps) == (2, 6)  # 2m, then the p90 of 326 s in minutes
        assert np.isfinite(first.values).sum() >= 30
        moved = round((second.start - first.start) / 60)  # a step, or two if a minute began in between
        assert len(second.values) == len(first.values) and moved in (1, 2)
        np.testing.assert_array_equal(second.values[:-moved], first.values[moved:])  # the history, moved on
