"""The command line: exit codes (2 usage, 1 failure), messages naming file and field, no
tracebacks, and the operability flags."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from adapter import __version__
from adapter.commands.cli import main
from adapter.observability.logs import configure_logging
from forecasting.traces import read_trace

pytestmark = pytest.mark.usefixtures("restore_logging")


def write(path: Path, document: object) -> Path:
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_command_starts_numpy_with_one_blas_thread() -> None:
    """backtest, replay and report fit models in the command's own process beside its workers: its
    BLAS must not start a thread per core there, so the limit is set before the command's imports
    load numpy (on a 2-core machine, two threads each made every fit there nine times slower)."""
    probe = ("import adapter.commands.cli, threadpoolctl\n"
             "print(max(pool['num_threads'] for pool in threadpoolctl.threadpool_info()))\n")
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120,
                            env=environment)
    assert result.stdout.strip() == "1"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"foresight {__version__}"


def test_help_describes_foresight_to_its_users(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "metrics for GPU inference" in out and "foresight demo" in out
    assert "``" not in out and "hands off" not in out  # not the module's docstring for developers


PROMETHEUS = {"url": "http://prometheus.monitoring.svc:9090"}


def test_check_config_prints_every_metric_with_its_promql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "config.yaml", {"prometheus": {**PROMETHEUS, "path_prefix": "/prometheus"},
                                              "signals": {"server": "tgi", "carbon": {"grams_per_kwh": 300}}})
    assert main(["check-config", str(config), "--namespace", "team-a", "--selector", "app=llama"]) == 0
    out = capsys.readouterr().out
    assert "\nprometheus: http://prometheus.monitoring.svc:9090/prometheus\n" in out
    for name in ("gpu_utilization", "latency_p99_seconds", "queue_depth", "requests_per_second",
                 "energy_per_request_joules", "carbon_per_request_milligrams"):
        assert f"\n{name}  (" in out
    assert "tgi_queue_size" in out
    assert 'kube_pod_labels{namespace="team-a",label_app="llama"}' in out
    assert "<<" not in out


def test_bad_config_names_file_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "bad.yaml", {"refresh": {"interval": "often"}, "metrics": [{"name": "x", "query": "sum(y)"}]})
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml: refresh.interval:" in err
    assert "bad.yaml: metrics[0].query:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "document",
    [{"signals": {"server": "vllm"}}, {"prometheus": None}, {"prometheus": {}}, {"prometheus": {"url": ""}}],
    ids=["no section", "empty section", "no url", "empty url"],
)
def test_check_config_and_serve_refuse_a_config_without_a_prometheus_url(
    document: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file check-config calls valid is one serve starts with: both refuse it, with one message."""
    config = write(tmp_path / "config.yaml", document)
    assert main(["check-config", str(config)]) == 1
    checked = capsys.readouterr()
    assert main(["serve", "--config", str(config), "--insecure-local"]) == 1
    served = capsys.readouterr()
    assert "config.yaml: prometheus" in checked.err and checked.err == served.err
    assert "valid" not in checked.out


def test_serve_outside_a_cluster_needs_a_kubeconfig(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an in-cluster service account nothing could authorise requests, so serve refuses
    to start rather than serve everyone."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    config = write(tmp_path / "config.yaml", {"prometheus": {"url": "http://127.0.0.1:1"}})
    assert main(["serve", "--config", str(config)]) == 2
    assert "--kubeconfig" in capsys.readouterr().err


def test_serve_refuses_a_certificate_without_its_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "config.yaml", {"prometheus": {"url": "http://127.0.0.1:1"}})
    assert main(["serve", "--config", str(config), "--tls-cert-file", str(tmp_path / "tls.crt")]) == 1
    assert "--tls-private-key-file" in capsys.readouterr().err


def test_insecure_local_refuses_a_non_loopback_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "config.yaml", {"prometheus": {"url": "http://127.0.0.1:1"}})
    assert main(["serve", "--config", str(config), "--insecure-local", "--bind-address", "10.1.2.3"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_missing_config_file_is_a_failure_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path / "absent.yaml")]) == 1
    err = capsys.readouterr().err
    assert "absent.yaml" in err and "Traceback" not in err


@pytest.mark.parametrize("speed", ["0", "-2", "nan", "fast"])
def test_demo_rejects_a_speed_that_is_not_a_positive_number(speed: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--speed", speed]) == 2
    assert "--speed" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--authentication-token-webhook-cache-ttl",
                                  "--authorization-webhook-cache-authorized-ttl",
                                  "--authorization-webhook-cache-unauthorized-ttl"])
def test_a_cache_ttl_that_is_not_a_duration_is_named(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", flag, "soon"]) == 2
    assert f"foresight demo: {flag}: " in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bogus"])
    assert exit_.value.code == 2


def test_json_log_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    logging.getLogger("foresight.test").warning("value %s", 42)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["level"] == "warning" and record["message"] == "value 42" and record["logger"] == "foresight.test"
    assert record["time"].endswith("Z")


def test_log_level_filters(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("error", "text")
    logging.getLogger("foresight.test").warning("hidden")
    logging.getLogger("foresight.test").error("shown")
    err = capsys.readouterr().err
    assert "shown" in err and "hidden" not in err


TRACE = Path(__file__).resolve().parents[1] / "data" / "traces" / "servegen_reason_deepseek-r1_10min.csv"


def test_backtest_json_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--trace", str(TRACE), "--lead", "5m", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    # off a terminal the progress is logged, a line per tenth at most, the last with the time taken
    progress = [line for line in captured.err.splitlines() if "backtest servegen_reason_deepseek-r1_10min: " in line]
    assert 1 <= len(progress) <= 10 and "left" in progress[0] and "(100%), done in" in progress[-1]
    assert set(report) == {"trace", "step_seconds", "lead_seconds", "seasonal_naive_period_seconds", "selected", "models",
                           "coverage"}
    assert (report["trace"], report["step_seconds"], report["lead_seconds"]) == ("servegen_reason_deepseek-r1_10min", 600, 600)
    assert report["seasonal_naive_period_seconds"] == 0  # one day of history: persistence
    names = [model["name"] for model in report["models"]]
    assert {"persistence", "seasonal_naive", "auto"} <= set(names)
    for model in report["models"]:
        assert set(model) == {"name", "mae", "mase", "pinball", "under_forecast_rate",
                              "ratio_to_persistence", "ratio_to_seasonal_naive"}
    persistence = next(model for model in report["models"] if model["name"] == "persistence")
    assert persistence["ratio_to_persistence"] == 1.0
    coverage = report["coverage"]
    assert (coverage["lead_seconds"], coverage["window_seconds"]) == (600, 600) and coverage["windows"] > 0
    assert [row["quantile"] for row in coverage["quantiles"]] == [0.8, 0.9, 0.95]
    assert {"model", "conformal"} <= set(coverage["quantiles"][1])


def test_backtest_forecasts_a_token_traces_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On Mooncake's token trace summed per minute, so that the walk-forward is short."""
    trace = read_trace(TRACE.with_name("mooncake_conversation_tokens_3s.csv"))
    columns = [trace.demand(name).requests for name in ("requests", "prompt_tokens", "generation_tokens")]
    rows = "".join(f"{60 * minute}," + ",".join(str(int(values[20 * minute:20 * minute + 20].sum())) for values in columns)
                   + "\n" for minute in range(len(trace) // 20))
    path = tmp_path / "mooncake_1min.csv"
    path.write_text("timestamp,requests,prompt_tokens,generation_tokens\n" + rows)
    assert main(["backtest", "--trace", str(path), "--demand", "prompt_tokens", "--lead", "1m", "--window", "1m",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trace"] == "mooncake_1min prompt_tokens"
    persistence = next(model for model in report["models"] if model["name"] == "persistence")
    assert persistence["mae"] > 1000  # tokens per second: the requests' rate is a few per second


def test_backtest_table_and_bad_lead_or_window(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--trace", str(TRACE), "--window", "20m", "--workers", "1"]) == 0
    table = capsys.readouterr().out
    assert "seasonal naive: persistence" in table and "auto" in table
    assert "coverage of auto's bound over [t+600 s, t+1800 s]" in table
    assert main(["backtest", "--trace", str(TRACE), "--lead", "soon"]) == 2
    assert "--lead" in capsys.readouterr().err
    assert main(["backtest", "--trace", str(TRACE), "--window", "later"]) == 2
    assert "--window" in capsys.readouterr().err
    assert main(["backtest", "--trace", str(TRACE.with_name("absent.csv"))]) == 1
    assert main(["backtest", "--trace", str(TRACE), "--workers", "none"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_logging_options_may_follow_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "config.yaml", {"prometheus": PROMETHEUS})
    assert main(["check-config", str(config), "--log-level", "error", "--log-format", "json"]) == 0
    assert "gpu_utilization" in capsys.readouterr().out


def test_insecure_local_bind_address_must_be_an_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "config.yaml", {"prometheus": {"url": "http://127.0.0.1:1"}})
    assert main(["serve", "--config", str(config), "--insecure-local", "--bind-address", "my-host"]) == 2
    assert "not an IP address" in capsys.readouterr().err


def test_replay_is_a_command_of_foresight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", "--trace", str(tmp_path / "absent.csv"), "--capacity-per-replica", "5", "--startup", "3m"])
    err = capsys.readouterr().err
    assert code == 1 and "absent.csv" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--keda-port", "9443"], "--keda-client-ca"),
        (["--keda-client-ca", "ca.pem"], "--keda-port"),
        (["--keda-insecure-local"], "--keda-port"),
        (["--keda-port", "9443", "--keda-insecure-local", "--keda-client-ca", "ca.pem"], "--keda-client-ca"),
        (["--keda-port", "9443", "--keda-insecure-local", "--bind-address", "10.1.2.3"], "loopback"),
    ],
)
def test_the_keda_scaler_needs_a_client_ca_or_loopback(
    args: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before anything starts, by serve and demo alike."""
    config = write(tmp_path / "config.yaml", {"prometheus": {"url": "http://127.0.0.1:1"}})
    assert main(["serve", "--config", str(config), "--insecure-local", *args]) == 2
    assert named in capsys.readouterr().err
    assert main(["demo", *args]) == 2
    assert named in capsys.readouterr().err


def test_a_keda_client_ca_that_holds_no_certificate_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "config.yaml", {"prometheus": {"url": "http://127.0.0.1:1"}})
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    args = ["--insecure-local", "--keda-port", "9443", "--keda-client-ca", str(tmp_path / "ca.pem")]
    assert main(["serve", "--config", str(config), *args]) == 2
    assert "--keda-client-ca" in capsys.readouterr().err
