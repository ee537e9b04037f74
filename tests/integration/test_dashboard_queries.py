"""Every query of every dashboard, panels and template variables, answers without error and with
data for the test workload, on a real Prometheus that evaluates manifests/rules/ and scrapes the
synthetic GPU-inference workload, kube-state-metrics' HPA series, the NVML exporter's collector and
a running adapter with a tracked forecast. The recording rules' values are held to the workload's
ground truth, as the adapter serves it.

Grafana cannot run here: :func:`grafana_expression` stands in for its templating, replacing each
variable with the value a user would pick and ``$__rate_interval`` with what Grafana derives for a
one-minute scrape."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from dashboards.catalogue import DASHBOARDS, DIRECTORY

from .adapter_client import adapter_settings, running_adapter
from .cluster_exporter import ClusterExporter
from .conftest import HISTORY_S, JOB
from .prometheus import PrometheusServer
from .workload_exporter import TIMESTAMP_SERIES, WorkloadExporter, ground_truth

pytestmark = pytest.mark.integration
RULES_DIRECTORY = Path(__file__).resolve().parents[2] / "manifests" / "rules"
RULES = sorted(RULES_DIRECTORY.glob("*.rules.yaml"))
FORECAST = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/requests_per_second_forecast?labelSelector=app%3Dllama"
DISCOVERY = "/apis/external.metrics.k8s.io/v1beta1"
GRAFANA_VALUES = {"$__rate_interval": "4m", "$namespace": "inference", "$workload": "llama", "$hpa": "llama", "$lead": "3m"}
HISTORY_STEP_S = 60
NO_DATA_HERE = {
    "foresight_rejected_keys_total": "no key is refused under the default caps",
    "foresight_forecast_fallbacks_total": "no forecast falls back on flat demand",
    "foresight_non_finite_results_total": "every signal of the test workload is finite",
    "foresight_source_query_errors_total": "every query to the test Prometheus succeeds",
}
"""Series a healthy adapter exports no sample of: their queries must parse, and may be empty."""
JOINS_RECORDED_WITHIN_S = 120.0
"""How long the recording rules' joins may take to cover a whole rate window after Prometheus starts."""


def grafana_expression(expr: str) -> str:
    for variable, value in GRAFANA_VALUES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr.replace("$1", ""), f"a variable the test does not know: {expr}"
    return expr


def _label_values(definition: str) -> str:
    """``label_values(selector, label)``, Grafana's own syntax, as the PromQL Grafana answers it with."""
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", definition)
    assert match, definition
    return f"count by ({match[2]}) ({match[1]})"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _openmetrics(text: str, target_labels: Mapping[str, str], *, seconds: int) -> Iterator[str]:
    """A scrape's samples as history: the same values every step over the last ``seconds``."""
    end = int(time.time()) // HISTORY_STEP_S * HISTORY_STEP_S
    samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    for when in range(end - seconds, end, HISTORY_STEP_S):
        for sample in samples:
            labels = {**sample.labels, **target_labels}
            escaped = ",".join(f'{name}="{_escape(value)}"' for name, value in sorted(labels.items()))
            yield f"{sample.name}{{{escaped}}} {floatToGoString(sample.value)} {when}"


@dataclass(frozen=True)
class Stand:
    prometheus: PrometheusServer

    async def query(self, promql: str, *, at: float | None = None) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.prometheus.query, promql, at=at)


@pytest.fixture
async def stand(prometheus: PrometheusServer, workload_exporter: WorkloadExporter, tmp_path: Path) -> AsyncIterator[Stand]:
    """The adapter on the shared test Prometheus with one forecast made, and a second Prometheus
    with the rules, scraping it beside the exporters. The adapter's and the cluster's series are
    backfilled from one scrape of each, so that queries over the past (``offset $lead``) find them."""
    settings = adapter_settings(prometheus.url, {"forecasts": {"workers": 1}})
    async with running_adapter(settings) as adapter:
        adapter.clock.offset = -480  # eight minutes back (within the idle bound), so that what the first forecasts were for has happened by now
        await adapter.get_json(FORECAST)
        await adapter.get_json(DISCOVERY)  # a request for no metric, as an HPA controller's discovery makes
        assert adapter.tracker is not None
        await adapter.tracker.refresh_now()
        adapter.clock.offset = 0  # now: the forecasts are scored against what happened since
        await adapter.tracker.refresh_now()
        metrics = await (await adapter.client.get("/metrics")).text()
        with ClusterExporter() as cluster:
            adapter_target = f"{adapter.client.server.host}:{adapter.client.server.port}"
            history = [
                workload_exporter.history(HISTORY_S, {"job": JOB, "instance": workload_exporter.target}).removesuffix("# EOF\n").rstrip("\n"),
                *_openmetrics(metrics, {"job": JOB, "instance": adapter_target}, seconds=HISTORY_S),
                *_openmetrics(cluster.text(), {"job": JOB, "instance": cluster.target}, seconds=HISTORY_S),
                "# EOF",
                "",
            ]
            server = PrometheusServer(
                tmp_path,
                [workload_exporter.target, cluster.target, adapter_target],
                job=JOB,
                backfill="\n".join(history),
                rule_files=RULES,
                ready_queries=["namespace_workload:requests:rate1m", "namespace_workload:gpu_power_watts:sum"],
            )
            await asyncio.to_thread(server.start)  # the adapter answers scrapes meanwhile
            try:
                yield Stand(server)
            finally:
                server.stop()


def _targets() -> list[tuple[str, str, str]]:
    found = []
    for name in DASHBOARDS:
        board = json.loads((DIRECTORY / name).read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                found.append((name, f"{panel['title']} ({target['refId']})", target["expr"]))
    return found


async def test_every_panel_query_answers_with_data_for_the_test_workload(stand: Stand) -> None:
    targets = _targets()
    assert len({name for name, _, _ in targets}) == len(DASHBOARDS)
    empty = []
    for name, panel, expr in targets:
        result = await stand.query(grafana_expression(expr))  # raises where Prometheus rejects it
        if not result and not any(series in expr for series in NO_DATA_HERE):
            empty.append(f"{name}: {panel}: {expr}")
    assert not empty, "\n".join(empty)


async def test_every_variable_offers_the_test_workload(stand: Stand) -> None:
    expected = {"namespace": "inference", "workload": "llama", "hpa": "llama"}
    for name in DASHBOARDS:
        board = json.loads((DIRECTORY / name).read_text(encoding="utf-8"))
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            promql = grafana_expression(_label_values(variable["query"]))
            label = promql.split("(")[1].split(")")[0]
            values = {series["metric"].get(label) for series in await stand.query(promql)}
            assert expected[variable["name"]] in values, f"{name}: ${variable['name']} offers {values}"


def _recording_rules() -> dict[str, str]:
    [group] = yaml.safe_load((RULES_DIRECTORY / "workload.rules.yaml").read_text(encoding="utf-8"))["groups"]
    return {rule["record"]: rule["expr"] for rule in group["rules"]}


async def test_recording_rules_compute_what_the_adapter_serves(stand: Stand) -> None:
    """Each rule's expression, evaluated where its one-minute rate window starts and ends on a scrape
    (PrometheusServer.whole_window_time): on a loaded machine a scrape that times out inside the
    window of a rule's own evaluation makes that recorded rate come out low. The joins the rules
    build on are recorded only from Prometheus' start, not over the backfilled history, so the
    window is taken again until they cover it."""
    truth = ground_truth("inference", "llama")
    rules = _recording_rules()
    recorded = {
        "namespace_workload:requests:rate1m": truth.requests_per_second,
        "namespace_workload:gpu_utilization_percent:avg": truth.gpu_utilization,
        "namespace_workload:requests_waiting:sum": truth.queue_depth,
        "namespace_workload:gpu_power_watts:sum": truth.gpu_power_watts,
        "namespace_workload:request_latency_seconds:p99_rate1m": truth.latency_p99_seconds,
    }
    deadline = time.monotonic() + JOINS_RECORDED_WITHIN_S
    while True:
        at = await asyncio.to_thread(stand.prometheus.whole_window_time, TIMESTAMP_SERIES, 60)
        samples = {series: [item for item in await stand.query(rules[series], at=at)
                            if item["metric"] == {"namespace": "inference", "workload": "llama"}]
                   for series in recorded}
        if all(samples.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    for series, value in recorded.items():
        assert samples[series], f"{series}: no sample for the workload at {at} after {JOINS_RECORDED_WITHIN_S:g} s"
        [sample] = samples[series]
        assert float(sample["value"][1]) == pytest.approx(value, rel=0.05), series
