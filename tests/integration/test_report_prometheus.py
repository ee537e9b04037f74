"""``foresight report`` from a real Prometheus: thirty hours of two synthetic workloads whose
capacity per replica is known (:mod:`.capacity_history`), backfilled with promtool into a
Prometheus that also scrapes the suite's workload exporter. The report finds both workloads of
the namespace, measures each capacity from its latency and throughput history, and is checked
against the ground truth; a selector that matches nothing and a Prometheus that does not answer
are refused in one line, with no report."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..browser import drawn_share, visit
from .capacity_history import SLO_SECONDS, CapacityWorkload, openmetrics
from .local import REPOSITORY, foresight_command, foresight_environment
from .prometheus import PrometheusServer
from .workload_exporter import WorkloadExporter

pytestmark = pytest.mark.integration

NAMESPACE = "capacity"
WORKLOADS = [CapacityWorkload(NAMESPACE, "llama", 12.0), CapacityWorkload(NAMESPACE, "mistral", 5.0, phase_hours=7.0)]
HISTORY_MINUTES = 30 * 60
TOLERANCE = 0.03
"""The measurement's error bound: the p99 is linear in the load, so interpolating between two
bins' medians is exact up to the rates' own rounding."""


@pytest.fixture(scope="module")
def capacity_prometheus(workload_exporter: WorkloadExporter,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A Prometheus holding the workloads' past thirty hours, up to the start of this minute."""
    import time

    end = int(time.time()) // 60 * 60
    server = PrometheusServer(tmp_path_factory.mktemp("capacity-prometheus"), [workload_exporter.target],
                              backfill=openmetrics(WORKLOADS, end=end, minutes=HISTORY_MINUTES))
    with server:
        yield server


def _report(prometheus: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        foresight_command("report", "--prometheus", prometheus, "--namespace", NAMESPACE, "--history", "30h",
                          "--history-step", "10m", "--horizon", "6h", "--slo-latency", f"{SLO_SECONDS * 1000:g}ms",
                          "--workers", "2", "--out", str(out), *extra),
        cwd=REPOSITORY, env=foresight_environment(), capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def report(capacity_prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("capacity-report") / "out"
    result = _report(capacity_prometheus.url, out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _workloads(report: Path) -> dict[str, Any]:
    document = json.loads((report / "report.json").read_text(encoding="utf-8"))
    return {workload["name"]: workload for workload in document["workloads"]}


def test_every_workload_of_the_namespace_is_reported_with_a_summary_first(report: Path) -> None:
    document = json.loads((report / "report.json").read_text(encoding="utf-8"))
    names = [f"{NAMESPACE}/app={workload.app}" for workload in WORKLOADS]
    assert [row["workload"] for row in document["summary"]] == names
    page = (report / "report.html").read_text(encoding="utf-8")
    assert page.index("Summary") < page.index(f"1. {names[0]}") < page.index(f"2. {names[1]}")
    for workload in WORKLOADS:  # the manifests name the app and namespace the history came from
        hpa = _workloads(report)[f"{NAMESPACE}/app={workload.app}"]["frontier"]["recommendation"]["hpa_yaml"]
        assert f"name: {workload.app}\n" in hpa and f"namespace: {NAMESPACE}\n" in hpa


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda workload: workload.app)
def test_the_measured_capacity_is_where_the_p99_crosses_the_slo(report: Path, workload: CapacityWorkload) -> None:
    capacity = _workloads(report)[f"{NAMESPACE}/app={workload.app}"]["capacity"]
    assert capacity["source"] == "measured"
    assert capacity["requests_per_second_per_replica"] == pytest.approx(workload.capacity_per_replica,
                                                                        rel=TOLERANCE)
    measurement = capacity["measurement"]
    assert measurement["slo_latency_seconds"] == SLO_SECONDS
    assert measurement["samples"] >= 150  # thirty hours at ten minutes, the gaps at the ends aside
    bins = measurement["bins"]
    assert sum(b["samples"] for b in bins) <= measurement["samples"]
    under = [b for b in bins if b["high"] <= workload.capacity_per_replica]
    over = [b for b in bins if b["low"] >= workload.capacity_per_replica]
    assert under and over
    assert all(b["median_p99_seconds"] <= SLO_SECONDS for b in under)
    assert all(b["median_p99_seconds"] > SLO_SECONDS for b in over)


async def test_the_capacity_figure_is_drawn_in_a_browser(report: Path, tmp_path: Path) -> None:
    seen = await visit(report / "report.html", tmp_path, screenshot=tmp_path / "report.png")
    assert seen.console_errors == [] and seen.requests == []
    for index in (1, 2):
        assert drawn_share(seen.figures[f"{index}-capacity"]) > 0.02


def test_a_selector_that_matches_nothing_is_one_line_and_no_report(capacity_prometheus: PrometheusServer,
                                                                   tmp_path: Path) -> None:
    result = _report(capacity_prometheus.url, tmp_path / "out", "--workload", "app=nothing")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"foresight report: {NAMESPACE}/app=nothing: the selector matches no series in namespace {NAMESPACE} "
        f"over the last 1.25 days")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_prometheus_that_does_not_answer_is_one_line_and_no_report(tmp_path: Path) -> None:
    """A listening socket that never accepts: connections complete in the kernel's backlog and no
    answer ever comes, as from a Prometheus stuck on a heavy query; the config's timeout ends it."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        config = tmp_path / "config.yaml"
        config.write_text(f"prometheus:\n  url: {url}\n  timeout: 1s\nsignals:\n  server: vllm\n", encoding="utf-8")
        result = subprocess.run(
            foresight_command("report", "--config", str(config), "--namespace", NAMESPACE, "--workload", "app=llama",
                              "--out", str(tmp_path / "out")),
            cwd=REPOSITORY, env=foresight_environment(), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"foresight report: {config}: Prometheus did not answer within 1s"]
    assert not (tmp_path / "out").exists()


def test_a_history_whose_p99_never_crosses_the_slo_is_refused_before_any_fit(capacity_prometheus: PrometheusServer,
                                                                             tmp_path: Path) -> None:
    """At a one-second SLO no step was slow, so the history does not show the capacity: the report
    says which workload and what to give instead, and writes nothing."""
    result = _report(capacity_prometheus.url, tmp_path / "out", "--slo-latency", "1s")
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    match = re.fullmatch(
        rf"foresight report: {NAMESPACE}/app=llama: the p99 latency stayed within the SLO of 1000 ms up to "
        r"([\d.]+) requests/s per replica, so the history does not show the capacity; give --capacity-per-replica",
        line)
    assert match is not None, line
    # the most a replica served: 1.45 times its capacity at the five-hour swing's top, give or take a step
    assert float(match[1]) == pytest.approx(1.45 * WORKLOADS[0].capacity_per_replica, rel=0.01)
    assert not (tmp_path / "out").exists()
