"""``foresight report`` on a real trace: a day and a half of ServeGen's m-large LLM service (the
clone's copy of ``../shared/traces/servegen_language_m-large_10min.csv``, byte for byte), planned
half a day ahead. The command runs once, as a user runs it, and the tests read what it wrote: the figures of
``report.json`` recomputed here from its own forecast, the recommended HPA read back and replayed,
the HTML opened in a real headless Chromium. Bad input is refused before any fit."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapter.commands.cli import main
from adapter.settings.durations import parse_duration
from forecasting.hpa.manifest import hpa_from_manifest
from forecasting.replay import ReplaySettings, ServiceSettings
from forecasting.replay.simulation import Stage, simulate_hpa
from forecasting.replay.sweep import TableForecast, forecast_table
from forecasting.traces import read_trace

from ..browser import drawn_share, visit

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "tests" / "data" / "traces" / "servegen_language_m-large_10min.csv"
DAY_STEPS = 144
"""Ten-minute steps in a day."""
HISTORY_STEPS, HORIZON_STEPS = 3 * DAY_STEPS // 2, DAY_STEPS // 2
CAPACITY, GPUS, CARBON, PRICE = 10.0, 2, 300.0, 2.5
IDLE_WATTS, MAX_WATTS = 80.0, 650.0
FIGURES = ("forecast", "peaks", "backtest", "replay", "frontier")


def _slice(path: Path, steps: int) -> Path:
    """The trace's first ``steps`` rows, as a file of its own."""
    lines = TRACE.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0], *lines[1:1 + steps]]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report folder of a day and a half of the trace, half a day ahead."""
    directory = tmp_path_factory.mktemp("report")
    trace = _slice(directory / "history.csv", HISTORY_STEPS)
    out = directory / "out"
    result = subprocess.run(
        [sys.executable, "-m", "adapter.commands.cli", "report", "--trace", str(trace), "--capacity-per-replica", str(CAPACITY),
         "--gpus-per-replica", str(GPUS), "--horizon", "12h", "--carbon-intensity", str(CARBON),
         "--gpu-hour-price", str(PRICE), "--idle-watts", str(IDLE_WATTS), "--max-watts", str(MAX_WATTS),
         "--workers", "2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "report history:" in result.stderr  # progress is shown
    return out


def _json(report: Path) -> dict[str, Any]:
    return json.loads((report / "report.json").read_text(encoding="utf-8"))


def test_the_report_holds_html_markdown_with_its_images_and_json(report: Path) -> None:
    markdown = (report / "report.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert sorted(images) == sorted(f"1-{figure}.svg" for figure in FIGURES)
    assert sorted(path.name for path in report.iterdir()) == sorted([*images, "report.html", "report.md",
                                                                     "report.json"])
    page = (report / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/svg+xml;base64,') == len(FIGURES)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    document = _json(report)
    assert [row["workload"] for row in document["summary"]] == ["history"]
    assert "kind: HorizontalPodAutoscaler" in markdown and "kind: HorizontalPodAutoscaler" in page


def test_the_json_figures_are_what_its_forecast_gives(report: Path) -> None:
    """GPU-hours, kWh, carbon, cost and daily peaks, worked out here from the forecast in the file."""
    document = _json(report)
    workload = document["workloads"][0]
    forecast, target = workload["forecast"], workload["target_per_replica"]
    assert target == pytest.approx(workload["target_share"] * CAPACITY)
    assert len(forecast["mean"]) == HORIZON_STEPS and forecast["step_seconds"] == 600
    hours = forecast["step_seconds"] / 3600
    replicas = [max(1, math.ceil(mean / target - 1e-9)) for mean in forecast["mean"]]
    assert workload["replicas"] == replicas
    watts = [count * GPUS * (IDLE_WATTS + (MAX_WATTS - IDLE_WATTS) * min(mean / (count * CAPACITY), 1.0))
             for count, mean in zip(replicas, forecast["mean"], strict=True)]
    gpu_hours = sum(replicas) * GPUS * hours
    kwh = sum(watts) * hours / 1000
    totals = workload["totals"]
    assert totals["gpu_hours"] == pytest.approx(gpu_hours)
    assert totals["energy_kwh"] == pytest.approx(kwh)
    assert totals["carbon_kg"] == pytest.approx(kwh * CARBON / 1000)
    assert totals["cost"] == pytest.approx(gpu_hours * PRICE)
    [peak] = workload["daily_peaks"]  # half a day ahead
    top = max(range(HORIZON_STEPS), key=lambda step: forecast["upper"][step])
    assert peak["upper_requests_per_second"] == pytest.approx(forecast["upper"][top])
    assert peak["peak_time"] == forecast["start"] + top * forecast["step_seconds"]
    assert peak["replicas"] == math.ceil(forecast["upper"][top] / target)
    assert peak["gpus"] == GPUS * peak["replicas"]
    row = document["summary"][0]
    assert (row["gpu_hours"], row["peak_replicas"]) == (totals["gpu_hours"], peak["replicas"])
    models = {model["name"]: model for model in workload["backtest"]["models"]}
    assert models["persistence"]["ratio_to_persistence"] == 1.0
    assert models["seasonal_naive"]["ratio_to_seasonal_naive"] == 1.0
    assert workload["forecast"]["model"] == workload["backtest"]["selected"] or workload["forecast"]["fallback_reason"]


def test_the_recommended_yaml_is_an_hpa_that_replays_to_the_figures_shown(report: Path, tmp_path: Path) -> None:
    """The manifest, and for a predictive HPA the forecast its settings serve (fitted walk-forward as
    the sweep fits it), replayed on the same history: the GPU-hours and the share over the SLO the
    report shows."""
    recommendation = _json(report)["workloads"][0]["frontier"]["recommendation"]
    assert recommendation["meets_budget"], recommendation["reason"]
    manifest = yaml.safe_load(recommendation["hpa_yaml"])
    assert (manifest["apiVersion"], manifest["kind"]) == ("autoscaling/v2", "HorizontalPodAutoscaler")
    config = recommendation["config"]
    forecast = recommendation["forecast_settings"]
    served = {} if forecast is None else forecast["workloads"][0]
    assert served.get("lead", "3m") == "3m"  # the start-up: the lead run_replay forecasts at
    trace = read_trace(_slice(tmp_path / "history.csv", HISTORY_STEPS))
    settings = ReplaySettings(ServiceSettings(CAPACITY, 180.0, gpus_per_replica=GPUS, idle_watts=IDLE_WATTS,
                                              max_watts=MAX_WATTS),
                              span_seconds=trace.duration_seconds / 3)
    stage = Stage.of(trace, settings)
    forecast = None
    if served:
        window = parse_duration(served["window"])
        table = forecast_table(trace, settings, stage, [served["quantile"]], windows=[window])
        forecast = TableForecast(stage, table.served(served["quantile"], window))
    replayed = simulate_hpa(stage, hpa_from_manifest(manifest), config["target_share"] * CAPACITY, forecast)
    assert replayed.gpu_hours == pytest.approx(recommendation["gpu_hours"])
    assert replayed.slo_violation_share == pytest.approx(recommendation["slo_violation_share"])
    assert replayed.slo_violation_share <= recommendation["max_slo_violation_share"] == 0.01
    page = (report / "report.html").read_text(encoding="utf-8")
    assert f"{recommendation['gpu_hours']:.1f}" in page


@pytest.mark.integration
async def test_the_html_report_in_a_browser_shows_every_figure_and_fetches_nothing(report: Path,
                                                                                  tmp_path: Path) -> None:
    screenshot = tmp_path / "report.png"
    seen = await visit(report / "report.html", tmp_path, screenshot=screenshot)
    assert seen.console_errors == []
    assert seen.requests == []
    assert screenshot.stat().st_size > 10_000
    assert sorted(seen.figures) == sorted(f"1-{figure}" for figure in FIGURES)
    for name, image in seen.figures.items():
        assert image.width >= 600, name
        assert drawn_share(image) > 0.02, name  # axes alone draw about 1 %


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a refused command prints; it must exit non-zero without a traceback."""
    code = main(["report", *argv])
    error = capsys.readouterr().err
    assert code in (1, 2), error
    assert "Traceback" not in error
    lines = [line for line in error.splitlines() if line and "adapter.commands.progress" not in line]
    assert len(lines) == 1, error
    return lines[0]


@pytest.mark.parametrize(("rows", "problem"), [
    ("", "header"),
    ("0,10\n", "at least 2 rows"),
    ("0,10\n600,12\n900,11\n", "off the 600 s grid"),
    ("0,10\n600,-1\n", "negative"),
])
def test_a_malformed_trace_names_its_file_line_and_field(rows: str, problem: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "bad.csv"
    trace.write_text(("timestamp,requests\n" if rows else "") + rows, encoding="utf-8")
    line = _refused(["--trace", str(trace), "--capacity-per-replica", "10", "--out", str(tmp_path / "out")], capsys)
    assert str(trace) in line and problem in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("steps", "horizon", "problem"), [
    (DAY_STEPS // 2, "1h", "a report needs at least 24 h"),
    (2 * DAY_STEPS, "7d", "a horizon of 168 h is longer than the 48.0 h of history"),
])
def test_a_history_too_short_is_refused_before_any_fit(steps: int, horizon: str, problem: str,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = _slice(tmp_path / "short.csv", steps)
    line = _refused(["--trace", str(trace), "--capacity-per-replica", "10", "--horizon", horizon,
                     "--out", str(tmp_path / "out")], capsys)
    assert problem in line and "short" in line
    assert not (tmp_path / "out").exists()
    assert [path.name for path in tmp_path.iterdir()] == ["short.csv"]  # no temporary folder left


def test_a_trace_without_a_capacity_and_a_full_output_folder_are_refused(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    trace = _slice(tmp_path / "t.csv", 2 * DAY_STEPS)
    assert "--capacity-per-replica" in _refused(["--trace", str(trace), "--out", str(tmp_path / "out")], capsys)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine", encoding="utf-8")
    line = _refused(["--trace", str(trace), "--capacity-per-replica", "10", "--out", str(full)], capsys)
    assert str(full) in line and "not an empty folder" in line
    assert [path.name for path in full.iterdir()] == ["keep.txt"]


def test_a_prometheus_that_is_down_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Port 9 on loopback (discard) has no listener here: the connection is refused at once."""
    line = _refused(["--prometheus", "http://127.0.0.1:9", "--namespace", "inference", "--workload", "app=llama",
                     "--out", str(tmp_path / "out")], capsys)
    assert "http://127.0.0.1:9" in line and "unreachable" in line
    assert not (tmp_path / "out").exists()


def test_a_carbon_intensity_that_is_no_number_nor_series_is_refused(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    trace = _slice(tmp_path / "t.csv", 2 * DAY_STEPS)
    common = ["--trace", str(trace), "--capacity-per-replica", "10", "--out", str(tmp_path / "out")]
    assert "neither a number nor a CSV file" in _refused([*common, "--carbon-intensity", "lots"], capsys)
    grid = tmp_path / "grid.csv"
    grid.write_text("timestamp,requests\n0,300\n3600,250\n", encoding="utf-8")
    line = _refused([*common, "--carbon-intensity", str(grid)], capsys)
    assert f'{grid}:1: header: expected "timestamp,grams_per_kwh"' in line
    assert not (tmp_path / "out").exists()


def test_a_carbon_intensity_query_needs_prometheus_and_no_other_intensity(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    trace = _slice(tmp_path / "t.csv", 2 * DAY_STEPS)
    query = ["--carbon-intensity-query", "grid_carbon_intensity_grams_per_kwh"]
    line = _refused(["--trace", str(trace), "--capacity-per-replica", "10", "--out", str(tmp_path / "out"), *query],
                    capsys)
    assert "--carbon-intensity-query reads Prometheus" in line
    line = _refused(["--prometheus", "http://127.0.0.1:9", "--namespace", "inference", "--carbon-intensity", "300",
                     "--out", str(tmp_path / "out"), *query], capsys)
    assert "give one" in line
    assert not (tmp_path / "out").exists()
