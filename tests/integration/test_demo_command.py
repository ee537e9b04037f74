"""``foresight demo`` as a user runs it: a real process on loopback, read with the real ``kubectl``
commands it prints, driven by the synthetic fleet or by a real trace."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.quantity import parse_quantity

from .local import free_port, kubectl

pytestmark = pytest.mark.integration
TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))




class DemoProcess:
    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "adapter.cli", "demo", "--port", str(self.port), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.printed: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.printed.append(line.rstrip("\n"))
            if "gpu_utilization?labelSelector" in line and "pods/*" in line:
                break
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with _OPENER.open(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("\n".join(self.printed))

    def kubectl_commands(self) -> list[list[str]]:
        return [shlex.split(line.strip()) for line in self.printed if line.strip().startswith("kubectl ")]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()


def _run_kubectl(command: list[str]) -> dict[str, object]:
    env = {**os.environ, "KUBECONFIG": os.devnull}
    result = subprocess.run([kubectl(), *command[1:]], capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 0, (command, result.stderr)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoProcess]:
    process = DemoProcess("--speed", "10")
    try:
        yield process
    finally:
        process.close()


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


def test_status_page_shows_every_workload(demo: DemoProcess) -> None:
    deadline = time.monotonic() + 30
    while True:
        with _OPENER.open(f"http://127.0.0.1:{demo.port}/", timeout=5) as response:
            page = response.read().decode()
        if "evaluating…" not in page or time.monotonic() > deadline:
            break
        time.sleep(0.5)
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


def test_demo_listens_on_loopback_only(demo: DemoProcess) -> None:
    assert _listening_addresses(demo.port) == {"0100007F"}  # 127.0.0.1, little-endian hex


def test_demo_plays_a_real_trace() -> None:
    trace = TRACES / "azure_llm_2023_conv_1s.csv"
    process = DemoProcess("--trace", str(trace), "--speed", "5")
    try:
        assert "azure_llm_2023_conv_1s" in "\n".join(process.printed)
        body = _run_kubectl(
            ["kubectl", "--server", f"http://127.0.0.1:{process.port}", "get", "--raw",
             "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/requests_per_second?labelSelector=app%3Dllama"]
        )
        [item] = body["items"]  # type: ignore[misc]
        assert item["metricName"] == "requests_per_second"
    finally:
        process.close()
