"""``foresight replay`` through its two entry points: the table and the JSON object, the plot,
an HPA manifest, and exit codes with one-line messages for bad input."""

from __future__ import annotations

import argparse
import importlib.util
import json
import xml.etree.ElementTree as ElementTree
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest
import yaml

import forecasting
from adapter.commands import replay as replay_command

SVG = "{http://www.w3.org/2000/svg}"
TRACE = Path(__file__).resolve().parents[1] / "data" / "traces" / "servegen_reason_deepseek-r1_10min.csv"
METRICS = {"slo_violation_share", "underprovisioned_minutes", "peak_queue", "replica_hours", "gpu_hours",
           "energy_kwh", "energy_per_request_joules", "scale_events"}


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="foresight replay")
    replay_command.add_arguments(parser)
    return replay_command.run(parser.parse_args(list(argv)))


def basic(*extra: str) -> tuple[str, ...]:
    # one process unless a test asks for more: starting a pool costs more than these short replays
    workers = () if "--workers" in extra else ("--workers", "1")
    return ("--trace", str(TRACE), *workers, "--capacity-per-replica", "4", "--startup", "3m", *extra)


def test_json_has_every_controller_and_metric(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*basic("--json")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trace"] == "servegen_reason_deepseek-r1_10min"
    assert set(report["controllers"]) == {"reactive", "predictive", "oracle"}
    for metrics in report["controllers"].values():
        assert set(metrics) == METRICS
        assert isinstance(metrics["scale_events"], int)
    assert report["controllers"]["oracle"]["slo_violation_share"] == 0.0


def test_a_token_trace_replays_the_demand_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    tokens = TRACE.with_name("mooncake_conversation_tokens_3s.csv")
    assert run("--trace", str(tokens), "--demand", "prompt_tokens", "--capacity-per-replica", "20000",
               "--startup", "3m") == 0
    out = capsys.readouterr().out
    assert out.startswith("mooncake_conversation_tokens_3s prompt_tokens: 1.0 h replayed, 20000 token/s per replica")
    assert run(*basic("--demand", "generation_tokens")) == 1
    assert capsys.readouterr().err.strip() == (
        'foresight replay: servegen_reason_deepseek-r1_10min: no generation_tokens column; a token trace has the '
        'header "timestamp,requests,prompt_tokens,generation_tokens"')


def test_table_names_each_controller(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*basic()) == 0
    out = capsys.readouterr().out
    for name in ("reactive", "predictive", "oracle", "over SLO", "GPU-h"):
        assert name in out


def test_html_plot_is_a_self_contained_page_with_an_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "replay.html"
    assert run(*basic("--plot", str(page))) == 0
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    svg = text[text.index("<svg"): text.index("</svg>") + len("</svg>")]
    root = ElementTree.fromstring(svg)
    titles = {element.text for element in root.iter("{http://www.w3.org/2000/svg}title")}
    assert {"demand", "reactive", "predictive", "oracle"} <= titles


def test_an_hpa_manifest_bounds_both_hpas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "hpa.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "r1"},
        "spec": {"minReplicas": 1, "maxReplicas": 2, "metrics": [{"type": "External", "external": {
            "metric": {"name": "requests_per_second"}, "target": {"type": "AverageValue", "averageValue": "3200m"}}}]},
    }))
    assert run(*basic("--json", "--hpa", str(manifest))) == 0
    controllers = json.loads(capsys.readouterr().out)["controllers"]
    hours = 24.0
    assert controllers["reactive"]["replica_hours"] <= 2 * hours
    assert controllers["predictive"]["replica_hours"] <= 2 * hours
    assert controllers["oracle"]["replica_hours"] <= 2 * hours


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (basic()[:-1] + ("soon",), "--startup: 'soon' is not a duration"),
        (basic("--slo-latency", "fast"), "--slo-latency"),
        (basic("--plot", "out.pdf"), "out.pdf"),
        (basic("--service-latency", "300ms"), "below the SLO"),
        (basic("--min-replicas", "-1"), "--min-replicas"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("foresight replay: ") and err.count("\n") == 1


def test_png_without_matplotlib_is_refused_before_the_replay(capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "matplotlib" else real_find_spec(name, *args))
    assert run(*basic("--plot", "out.png")) == 2
    err = capsys.readouterr().err
    assert "needs matplotlib" in err and "replay servegen" not in err


def test_a_plot_in_a_missing_directory_fails_before_the_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    replays: list[object] = []
    monkeypatch.setattr(forecasting, "run_replay", lambda *args, **kwargs: replays.append(args))
    plot = tmp_path / "no" / "such" / "out.html"
    assert run(*basic("--plot", str(plot))) == 1
    err = capsys.readouterr().err
    assert replays == []
    assert err == f"foresight replay: --plot {plot}: there is no directory {plot.parent}\n"


def test_a_missing_trace_fails_with_the_file_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.csv"
    assert run("--trace", str(missing), "--capacity-per-replica", "4", "--startup", "3m") == 1
    assert str(missing) in capsys.readouterr().err


def test_a_bad_manifest_fails_with_the_field_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "hpa.yaml"
    manifest.write_text("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec: {minReplicas: 1}\n")
    assert run(*basic("--hpa", str(manifest))) == 1
    assert f"{manifest}: spec.maxReplicas: required" in capsys.readouterr().err


def test_frontier_json_has_both_frontiers_the_comparison_the_oracle_and_the_default_and_the_plot_draws_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "frontier.svg"
    assert run(*basic("--frontier", "--json", "--span", "3h", "--workers", "2", "--plot", str(plot))) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"frontier", "comparison", "oracle", "default_reactive", "recommendation"}
    assert set(report["frontier"]) == {"reactive", "predictive"}
    for family, points in report["frontier"].items():
        assert points
        for point in points:
            assert set(point) == {"gpu_hours", "slo_violation_share", "config"}
            assert ("quantile" in point["config"]) == (family == "predictive")
        gpu_hours = [point["gpu_hours"] for point in points]
        shares = [point["slo_violation_share"] for point in points]
        assert gpu_hours == sorted(gpu_hours) and shares == sorted(shares, reverse=True)
    assert len(report["comparison"]) == len(report["frontier"]["reactive"])
    for row, point in zip(report["comparison"], report["frontier"]["reactive"], strict=True):
        assert set(row) == {"slo_violation_share", "reactive_gpu_hours", "predictive_gpu_hours",
                            "predictive_slo_violation_share"}
        assert (row["slo_violation_share"], row["reactive_gpu_hours"]) == (point["slo_violation_share"],
                                                                           point["gpu_hours"])
    assert set(report["oracle"]) == {"gpu_hours"} and report["oracle"]["gpu_hours"] > 0
    assert report["recommendation"] is None
    default = report["default_reactive"]
    assert set(default) == {"gpu_hours", "slo_violation_share", "config"} and default["gpu_hours"] > 0
    assert default["config"] == {"target_share": 0.8, "scale_down_stabilization_seconds": None,
                                 "metrics": ["requests_per_second"]}
    root = ElementTree.parse(plot).getroot()
    for family, points in report["frontier"].items():
        markers = root.findall(f"{SVG}circle[@class='{family} frontier']")
        assert len(markers) == len(points)
    assert len(root.findall(f"{SVG}line[@class='oracle']")) == 1
    assert len(root.findall(f"{SVG}path[@class='default']")) == 1


@pytest.mark.parametrize(("plot", "code", "message"),
                         [("out.pdf", 2, "out.pdf"), ("no/such/out.html", 1, "no directory")])
def test_frontier_checks_the_plot_before_the_sweep(plot: str, code: int, message: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sweeps: list[object] = []
    monkeypatch.setattr(forecasting, "run_frontier", lambda *args, **kwargs: sweeps.append(args))
    assert run(*basic("--frontier", "--plot", str(tmp_path / plot))) == code
    assert message in capsys.readouterr().err and sweeps == []


def test_frontier_table_lists_each_frontier_and_the_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*basic("--frontier", "--span", "1h", "--workers", "1")) == 0
    out = capsys.readouterr().out
    for text in ("reactive frontier", "predictive frontier", "predictive at each point of reactive's frontier",
                 "oracle at target 0.8", "default reactive HPA (target 0.8, the HPA's default behaviour)"):
        assert text in out


@pytest.mark.parametrize("extra", [("--hpa", "hpa.yaml"), ("--target-share", "0.7"), ("--quantile", "0.8")])
def test_frontier_refuses_the_options_it_sweeps(extra: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*basic("--frontier", *extra)) == 2
    assert extra[0] in capsys.readouterr().err


def test_workers_below_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*basic("--workers", "0")) == 2
    assert "--workers" in capsys.readouterr().err


def test_recommend_json_gives_the_chosen_configuration_its_manifests_and_the_cheapest_reactive(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*basic("--recommend", "--max-slo-violations", "5%", "--json", "--span", "3h", "--workers", "2",
                      "--workload", "llama", "--namespace", "serving")) == 0
    recommendation = json.loads(capsys.readouterr().out)["recommendation"]
    assert set(recommendation) == {"max_slo_violation_share", "meets_budget", "family", "reason", "gpu_hours",
                                   "slo_violation_share", "config", "hpa_yaml", "forecast_settings", "reactive"}
    assert recommendation["max_slo_violation_share"] == 0.05
    assert recommendation["meets_budget"] and recommendation["slo_violation_share"] <= 0.05
    hpa = yaml.safe_load(recommendation["hpa_yaml"])
    assert hpa["kind"] == "HorizontalPodAutoscaler" and hpa["metadata"] == {"name": "llama", "namespace": "serving"}
    reactive = recommendation["reactive"]
    assert set(reactive) == {"gpu_hours", "slo_violation_share", "config", "hpa_yaml"}
    assert reactive["slo_violation_share"] <= 0.05
    assert recommendation["gpu_hours"] <= reactive["gpu_hours"]
    names = [metric["external"]["metric"]["name"] for metric in hpa["spec"]["metrics"]]
    if recommendation["family"] == "predictive":
        assert names == ["requests_per_second", "requests_per_second_forecast"]
        assert recommendation["forecast_settings"]["workloads"][0]["selector"] == "app=llama"
    else:
        assert names == ["requests_per_second"] and recommendation["forecast_settings"] is None


def test_recommend_alone_prints_the_recommendation_and_the_manifests_not_the_frontiers(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*basic("--recommend", "--span", "1h", "--workers", "1")) == 0
    out = capsys.readouterr().out
    assert "recommendation for at most 0.01 of requests over the SLO" in out
    assert "# the HorizontalPodAutoscaler" in out and "kind: HorizontalPodAutoscaler" in out
    assert "reactive frontier" not in out


@pytest.mark.parametrize(("extra", "message"), [
    (("--max-slo-violations", "1%"), "--max-slo-violations is the budget of --recommend"),
    (("--recommend", "--max-slo-violations", "150%"), "not a share of requests"),
    (("--recommend", "--max-slo-violations", "1"), "not a share of requests"),
    (("--recommend", "--max-slo-violations", "lots"), "is not a number"),
    (("--recommend", "--quantile", "0.9"), "--quantile"),
    (("--recommend", "--forecast-peak", "10s"), "--forecast-peak cannot be recommended"),
])
def test_recommend_refuses_a_bad_budget_and_the_options_it_sweeps(extra: tuple[str, ...], message: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*basic(*extra)) == 2
    assert message in capsys.readouterr().err


def test_calibration_none_replays_the_models_own_bound(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*basic("--json", "--calibration", "none")) == 0
    uncalibrated = json.loads(capsys.readouterr().out)["controllers"]["predictive"]
    assert run(*basic("--json")) == 0
    calibrated = json.loads(capsys.readouterr().out)["controllers"]["predictive"]
    assert uncalibrated != calibrated
    assert run(*basic("--calibration", "isotonic")) == 2
    assert "--calibration" in capsys.readouterr().err


def test_forecast_peak_needs_a_trace_finer_than_its_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*basic("--forecast-peak", "10s")) == 1
    assert "a peak window of 10 s needs a trace step that divides it (600 s here)" in capsys.readouterr().err
    fine = tmp_path / "fine.csv"
    fine.write_text("timestamp,requests\n" + "".join(f"{second},{3 if second % 60 < 10 else 0}\n"
                                                     for second in range(2 * 3600)))
    assert run("--trace", str(fine), "--capacity-per-replica", "1", "--startup", "1m", "--forecast-peak", "10s",
               "--json") == 0
    assert json.loads(capsys.readouterr().out)["controllers"]["predictive"]["gpu_hours"] > 0


def test_a_sweep_worker_killed_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep stands in for one whose worker the kernel killed: it raises what the process pool
    raises then."""

    def killed(*args: object, **kwargs: object) -> None:
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")

    monkeypatch.setattr(forecasting, "run_frontier", killed)
    assert run(*basic("--frontier")) == 1
    assert capsys.readouterr().err == ("foresight replay: a worker process of the sweep was killed (out of memory?); "
                                       "nothing was written\n")


@pytest.mark.parametrize(("option", "listed", "key", "refusal"), [
    ("--forecast-window", "1m,5m", "windows", "one window, unless --frontier or --recommend"),
    ("--forecast-lead", "3m,10m", "leads", "a replay's lead is --startup"),
])
def test_frontier_sweeps_each_forecast_horizon_listed_and_a_plain_replay_refuses_a_list(
        option: str, listed: str, key: str, refusal: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    swept: list[object] = []
    sweep = forecasting.run_frontier

    def recorded(*args: Any, **kwargs: Any) -> object:
        swept.append(kwargs[key])
        return sweep(*args, **kwargs)

    monkeypatch.setattr(forecasting, "run_frontier", recorded)
    assert run(*basic("--frontier", "--json", "--span", "1h", "--workers", "1", option, listed)) == 0
    seconds = [60.0 * float(text.rstrip("m")) for text in listed.split(",")]
    assert swept == [seconds]
    report = json.loads(capsys.readouterr().out)
    field = "window_seconds" if key == "windows" else "lead_seconds"
    assert {point["config"][field] for point in report["frontier"]["predictive"]} <= set(seconds)
    assert run(*basic(option, "10m" if key == "leads" else listed)) == 2
    assert refusal in capsys.readouterr().err
