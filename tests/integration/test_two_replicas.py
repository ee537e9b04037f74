"""Two ``foresight serve`` processes on the same real Prometheus serve the same forecast for the same
series, to the last bit of its float, though the second starts steps after the first has selected
its model and fit it: an HPA may read either replica behind the Service. That holds for the
calibrated upper bound too, the value the HPA reads at the served quantile: both calibrate on the
same walk of the model over the history, which a third process, serving the model's own bound,
shows is in effect from the first step.

The series is a wave with pseudo-random ripples, a function of the sample's time only, served with
its timestamps by a small exporter and backfilled for the hours the schedule looks back, so both
replicas can read the same history at any time. The step is 5 s, so the test waits seconds rather
than minutes for the steps it needs.
"""

from __future__ import annotations

import math
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from adapter.commands.cli import SHUTDOWN_GRACE_SECONDS

from .local import foresight_command, foresight_environment, free_port
from .prometheus import PrometheusServer

pytestmark = pytest.mark.integration
HANG_GUARD_S = 180.0
"""Only tells a condition that never comes from one that comes; none takes that long."""
STEP_S = 5
HISTORY_S = 8 * 3600
"""Backfilled: the hour models see, the six hours more the tracker keeps, and some."""
LABELS = 'namespace="inference",app="llama"'
FORECAST = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/demand_forecast?labelSelector=app%3Dllama"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def demand(second: int) -> float:
    """The series at a whole second: a half-hour wave and ripples no model predicts exactly."""
    ripple = (second * 2654435761 % 1000) / 1000 - 0.5
    return 100 + 40 * math.sin(2 * math.pi * second / 1800) + 10 * ripple


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        second = math.floor(time.time())
        body = f"demand{{{LABELS}}} {demand(second)!r} {second * 1000}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture(scope="module")
def wave_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    now = math.floor(time.time())
    history = [f"demand{{{LABELS},job=\"wave\",instance=\"127.0.0.1:{exporter.server_address[1]}\"}} "
               f"{demand(second)!r} {second}" for second in range(now - HISTORY_S, now, STEP_S)]
    server = PrometheusServer(tmp_path_factory.mktemp("wave-prometheus"), [f"127.0.0.1:{exporter.server_address[1]}"],
                              job="wave", ready_queries=["demand"], backfill="\n".join([*history, "# EOF", ""]))
    try:
        with server:
            yield server
    finally:
        exporter.shutdown()
        exporter.server_close()


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with _OPENER.open(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


def _forecast(port: int) -> dict[str, Any] | None:
    """The replica's forecast item, once it serves a ready one."""
    status, body = _get(port, FORECAST)
    if status != 200:
        return None
    item: dict[str, Any] = yaml.safe_load(body)["items"][0]
    return item if item["metricLabels"].get("foresight.io/state") == "ready" else None


def _published(port: int) -> dict[str, Any] | None:
    """The replica's forecast of the series on ``/metrics``, at full precision, and its models."""
    status, body = _get(port, "/metrics")
    if status != 200:
        return None
    published: dict[str, Any] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "foresight_forecast":
                published[sample.labels["bound"]] = sample.value
            elif sample.name == "foresight_forecast_info":
                published["model"], published["selected"] = sample.labels["model"], sample.labels["selected"]
    return published if "upper" in published else None


def _wait(what: str, check: Any, log: Path) -> Any:
    deadline = time.monotonic() + HANG_GUARD_S
    while (result := check()) is None:
        assert time.monotonic() < deadline, f"{what}; log:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)
    return result


@contextmanager
def _replica(config: Path, log_path: Path) -> Iterator[int]:
    """A ``foresight serve`` process on ``config``; its port. Stopped with SIGTERM on the way out, as
    the kubelet stops it, so it stops its forecasting workers too (killed only if it hangs)."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            foresight_command("serve", "--config", str(config), "--insecure-local", "--port", str(port)),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=foresight_environment(),
        )
        try:
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=SHUTDOWN_GRACE_SECONDS + HANG_GUARD_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _config(path: Path, prometheus: PrometheusServer, calibration: str) -> Path:
    path.write_text(yaml.safe_dump({
        "prometheus": {"url": prometheus.url},
        "metrics": [{"name": "demand", "query": "sum(demand{<<.LabelMatchers>>})"}],
        "forecasts": {
            "signals": ["demand"], "step": f"{STEP_S}s", "history": "1h", "lead": "15s", "window": "15s",
            "workers": 1, "calibration": calibration,
            "workloads": [{"namespace": "inference", "selector": "app=llama", "track": ["demand_forecast"]}],
        },
    }))
    return path


def test_a_replica_started_later_serves_the_same_forecast_and_calibrated_bound_within_a_step(
    wave_prometheus: PrometheusServer, tmp_path: Path
) -> None:
    config = _config(tmp_path / "config.yaml", wave_prometheus, "conformal")
    with ExitStack() as stack:
        first = stack.enter_context(_replica(config, tmp_path / "first.log"))
        _wait("the first replica never served a ready forecast", lambda: _forecast(first), tmp_path / "first.log")
        ready_step = math.floor(time.time() / STEP_S)
        while math.floor(time.time() / STEP_S) == ready_step:  # the second's first step is a later one
            time.sleep(0.2)
        second = stack.enter_context(_replica(config, tmp_path / "second.log"))
        # the model's own bound, beside the same forecast
        uncalibrated = stack.enter_context(_replica(_config(tmp_path / "uncalibrated.yaml", wave_prometheus, "none"),
                                                    tmp_path / "uncalibrated.log"))
        _wait("the second replica never served a ready forecast", lambda: _forecast(second), tmp_path / "second.log")

        def same() -> tuple[dict[str, Any], str] | None:
            """Both replicas' forecasts, and the value an HPA reads, when they are equal and their
            bound is calibrated (not the model's own, though the mean is the same); scrapes a moment
            apart may straddle a step, so a difference is asked again."""
            first_one, second_one, own = _published(first), _published(second), _published(uncalibrated)
            if first_one is None or first_one != second_one or own is None or own["mean"] != first_one["mean"]:
                return None
            read = [_forecast(port) for port in (first, second)]
            if read[0] is None or read[1] is None or read[0]["value"] != read[1]["value"]:
                return None
            return (first_one, read[0]["value"]) if own["upper"] != first_one["upper"] else None

        published, value = _wait("the replicas never served the same calibrated bound", same, tmp_path / "second.log")
        assert published["model"] == published["selected"] != "", published
        assert value != "0", value
