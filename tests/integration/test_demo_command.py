"""``foresight demo`` as a user runs it: a real process on loopback, read with the real ``kubectl``
commands it prints, driven by the synthetic fleet or by a real trace."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest

from forecasting.quantity import parse_quantity

from .local import foresight_command, foresight_environment, free_port, kubectl, stop

pytestmark = pytest.mark.integration
TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
READY_WITHIN_S = 300.0
"""Guards against a demo that never becomes ready; a loaded machine takes far less."""
EXIT_WITHIN_S = 60.0
"""Guards against a demo that ignores SIGTERM; it exits in about a second."""


class DemoProcess:
    """``foresight demo ARGS`` (this checkout's) on a free loopback port, its output in a file.

    Ready once ``/readyz`` answers 200. Leaving the ``with`` block stops the child on every path
    (SIGTERM, then SIGKILL and a failure if it hangs), so no demo outlives its test.
    """

    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.log_path = workdir / "demo.log"
        with self.log_path.open("w") as output:
            self.process = subprocess.Popen(
                foresight_command("demo", "--port", str(self.port), *args),
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=foresight_environment(),
            )
        try:
            self._wait_ready()
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise
        self.printed = self.log_path.read_text().splitlines()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WITHIN_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"foresight demo exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                with _OPENER.open(f"http://127.0.0.1:{self.port}/readyz", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"foresight demo was not ready after {READY_WITHIN_S:g} s:\n{self.log_path.read_text()}")
            time.sleep(0.2)

    def kubectl_commands(self) -> list[list[str]]:
        return [shlex.split(line.strip()) for line in self.printed if line.strip().startswith("kubectl ")]

    def close(self) -> None:
        stop(self.process, grace_s=EXIT_WITHIN_S, what="foresight demo")

    def __enter__(self) -> DemoProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _run_kubectl(command: list[str]) -> dict[str, object]:
    env = {**os.environ, "KUBECONFIG": os.devnull}
    result = subprocess.run([kubectl(), *command[1:]], capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 0, (command, result.stderr)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    with DemoProcess(tmp_path_factory.mktemp("demo"), "--speed", "10") as process:
        yield process


def test_demo_says_it_is_a_demo_and_how_to_try_it(demo: DemoProcess) -> None:
    text = "\n".join(demo.printed)
    assert "DEMO" in text and "not a cluster" in text
    assert f"http://127.0.0.1:{demo.port}/" in text
    assert len(demo.kubectl_commands()) >= 7


def test_every_printed_kubectl_command_works(demo: DemoProcess) -> None:
    for command in demo.kubectl_commands():
        body = _run_kubectl(command)
        assert body["kind"] in ("APIResourceList", "ExternalMetricValueList", "MetricValueList"), body
        for item in body.get("items", []):  # type: ignore[attr-defined]
            assert parse_quantity(item["value"]) >= 0


def _kubectl_text(demo: DemoProcess, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": os.devnull}
    command = [kubectl(), "--server", f"http://127.0.0.1:{demo.port}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 0, (command, result.stderr)
    return result.stdout


def test_kubectl_explain_describes_an_external_metric(demo: DemoProcess) -> None:
    """kubectl maps the metric to its kind through discovery, then reads the kind's schema from
    /openapi/v3 and the group-version document it links to."""
    explained = _kubectl_text(demo, "explain", "queue_depth.external.metrics.k8s.io")
    assert "KIND:       ExternalMetricValueList" in explained and "VERSION:    v1beta1" in explained
    assert "items\t<[]ExternalMetricValue> -required-" in explained
    fields = _kubectl_text(demo, "explain", "requests_per_second_forecast.external.metrics.k8s.io.items", "--recursive")
    for field in ("metricLabels\t<map[string]string> -required-", "value\t<Quantity> -required-", "window\t<integer>"):
        assert field in fields


def test_kubectl_reads_the_swagger_document(demo: DemoProcess) -> None:
    swagger = json.loads(_kubectl_text(demo, "get", "--raw", "/openapi/v2"))
    assert swagger["swagger"] == "2.0"
    assert "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/queue_depth" in swagger["paths"]


def _status_page(demo: DemoProcess) -> str:
    with _OPENER.open(f"http://127.0.0.1:{demo.port}/", timeout=30) as response:
        return response.read().decode()  # type: ignore[no-any-return]


def test_status_page_shows_every_workload(demo: DemoProcess) -> None:
    page, deadline = _status_page(demo), time.monotonic() + READY_WITHIN_S
    while "evaluating…" in page and time.monotonic() < deadline:  # until the first pass reached every key
        time.sleep(0.5)
        page = _status_page(demo)
    assert "DEMO" in page
    for selector in ("app=llama", "app=mistral"):
        assert selector in page
    assert "evaluating…" not in page
    assert 'class="error"' not in page, page


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port``, from the kernel's own table."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:
                addresses.add(address)
    return addresses


def test_the_demos_forecasts_select_without_a_warning(demo: DemoProcess) -> None:
    """The demo's store never holds the adapter's own series, so it must not ask for the models a
    previous run published (a query its engine cannot answer, logged as a warning)."""
    deadline = time.monotonic() + READY_WITHIN_S
    while True:
        with _OPENER.open(f"http://127.0.0.1:{demo.port}/metrics", timeout=30) as response:
            exposition = response.read().decode()
        selections = [line for line in exposition.splitlines() if line.startswith("foresight_forecast_selections_total ")]
        if selections and float(selections[0].split()[1]) > 0:
            break
        assert time.monotonic() < deadline, "no forecast was selected"
        time.sleep(0.5)
    logged = demo.log_path.read_text().splitlines()
    assert [line for line in logged if " WARNING " in line or " ERROR " in line] == []


def test_demo_listens_on_loopback_only(demo: DemoProcess) -> None:
    assert _listening_addresses(demo.port) == {"0100007F"}  # 127.0.0.1, little-endian hex


def test_demo_plays_a_real_trace(tmp_path: Path) -> None:
    trace = TRACES / "azure_llm_2023_conv_1s.csv"
    with DemoProcess(tmp_path, "--trace", str(trace), "--speed", "5") as process:
        assert "azure_llm_2023_conv_1s" in "\n".join(process.printed)
        body = _run_kubectl(
            ["kubectl", "--server", f"http://127.0.0.1:{process.port}", "get", "--raw",
             "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/requests_per_second?labelSelector=app%3Dllama"]
        )
        [item] = body["items"]  # type: ignore[misc]
        assert item["metricName"] == "requests_per_second"
