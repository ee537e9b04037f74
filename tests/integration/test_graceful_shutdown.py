"""``foresight serve`` stopped with SIGTERM, as the kubelet stops a pod: it stops accepting
connections, finishes the request in flight, ends the KEDA scaler's streams cleanly, and exits
within the grace period. The request in
flight is held by a TCP proxy in front of the real Prometheus, which keeps Prometheus' answers back
until the test releases them, so every step waits on a condition, never on a guess of how long a
loaded machine takes."""

from __future__ import annotations

import signal
import socket
import socketserver
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
import yaml

from adapter.commands.cli import SHUTDOWN_GRACE_SECONDS
from adapter.keda.externalscaler_pb2_grpc import ExternalScalerStub

from .keda_client import trigger
from .local import foresight_command, foresight_environment, free_port
from .prometheus import PrometheusServer

pytestmark = pytest.mark.integration
HANG_GUARD_S = 120.0
"""Only tells a step that never happens from one that happens; none takes that long."""
QUERIED_SERIES = b"num_requests_waiting"
"""In the PromQL of the request's ``queue_depth``, so the proxy can tell its query from others."""
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HoldingProxy(socketserver.ThreadingTCPServer):
    """Forwards to ``upstream``. While ``hold`` is set, Prometheus' answers wait for ``release``;
    ``asked`` is set once a query for :data:`QUERIED_SERIES` has gone through while holding."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.hold = threading.Event()
        self.release = threading.Event()
        self.asked = threading.Event()
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(socketserver.BaseRequestHandler):
    server: HoldingProxy

    def handle(self) -> None:
        with socket.create_connection(self.server.upstream) as upstream:
            pump = threading.Thread(target=_copy_watching, args=(self.request, upstream, self.server), daemon=True)
            pump.start()
            while chunk := upstream.recv(65536):
                if self.server.hold.is_set():  # per chunk: the adapter keeps its connections open
                    self.server.release.wait()
                self.request.sendall(chunk)


def _copy_watching(source: socket.socket, target: socket.socket, proxy: HoldingProxy) -> None:
    """Copy the adapter's requests to Prometheus, noting the one for :data:`QUERIED_SERIES`."""
    seen = b""
    try:
        while chunk := source.recv(65536):
            seen = seen[-len(QUERIED_SERIES):] + chunk
            if proxy.hold.is_set() and QUERIED_SERIES in seen:
                proxy.asked.set()
            target.sendall(chunk)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@pytest.fixture
def proxy(prometheus: PrometheusServer) -> Iterator[HoldingProxy]:
    host, port = prometheus.url.removeprefix("http://").rstrip("/").split(":")
    server = HoldingProxy((host, int(port)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def _serving(config: Path, port: int, log_path: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``foresight serve ARGS`` on ``config`` once it accepts connections on ``port`` (by then a KEDA
    scaler it serves listens too); killed and reaped on the way out if it is still running (the
    proxy's fixture releases held answers)."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            foresight_command("serve", "--config", str(config), "--insecure-local", "--port", str(port), *args),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=foresight_environment(),
        )
        try:
            deadline = time.monotonic() + HANG_GUARD_S
            while not _accepts(port):
                assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_sigterm_drains_the_request_in_flight_and_exits(proxy: HoldingProxy, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"prometheus": {"url": proxy.url}, "refresh": {"interval": "1s"}}))
    port = free_port()
    with _serving(config, port, tmp_path / "serve.log") as process:
        proxy.hold.set()
        answer: dict[str, object] = {}

        def request() -> None:
            url = f"http://127.0.0.1:{port}/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/queue_depth?labelSelector=app%3Dllama"
            with _OPENER.open(url, timeout=HANG_GUARD_S) as response:
                answer["status"], answer["body"] = response.status, response.read()

        in_flight = threading.Thread(target=request)
        in_flight.start()
        assert proxy.asked.wait(timeout=HANG_GUARD_S), "the request's query never reached Prometheus"
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + HANG_GUARD_S
        while _accepts(port):
            assert time.monotonic() < deadline, "new connections were still accepted after SIGTERM"
            time.sleep(0.1)
        assert in_flight.is_alive(), answer  # its answer is still held: refused while it drains
        proxy.release.set()
        in_flight.join(timeout=HANG_GUARD_S)
        assert answer.get("status") == 200, (answer, (tmp_path / "serve.log").read_text())
        assert b"ExternalMetricValueList" in answer["body"]  # type: ignore[operator]
        assert process.wait(timeout=SHUTDOWN_GRACE_SECONDS + HANG_GUARD_S) == 0


def test_a_query_prometheus_never_answers_does_not_keep_the_process_past_its_grace(
    proxy: HoldingProxy, tmp_path: Path
) -> None:
    """The promise is a deadline, so this test has one: with Prometheus' timeout at 50 s, a server
    that waited for the held query (as one on ``ThreadPoolExecutor`` threads does at exit) could
    not be gone before SIGTERM + drain + 50 s; one that keeps the promise is gone within 20 s (16 s
    seen here). The guard is half as long again as the promise, as room for a loaded machine."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"prometheus": {"url": proxy.url, "timeout": "50s"}, "refresh": {"interval": "1s"}}))
    port = free_port()
    with _serving(config, port, tmp_path / "serve.log") as process:
        proxy.hold.set()

        def request() -> None:
            url = f"http://127.0.0.1:{port}/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/queue_depth?labelSelector=app%3Dllama"
            try:
                _OPENER.open(url, timeout=HANG_GUARD_S).close()
            except OSError:
                pass  # cut off when the drain ends: what matters here is the process's exit

        threading.Thread(target=request, daemon=True).start()
        assert proxy.asked.wait(timeout=HANG_GUARD_S), "the request's query never reached Prometheus"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=1.5 * SHUTDOWN_GRACE_SECONDS) == 0, (tmp_path / "serve.log").read_text()
        assert not proxy.release.is_set(), "Prometheus never answered"


def test_sigterm_ends_a_keda_stream_cleanly_and_exits(prometheus: PrometheusServer, tmp_path: Path) -> None:
    """KEDA reopens a stream that ended cleanly two seconds later, on whichever replica the Service
    picks; one cut off with an error it logs as a scaler error, and its retries back off to a minute."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"prometheus": {"url": prometheus.url}}))
    port, keda_port = free_port(), free_port()
    keda = ("--keda-port", str(keda_port), "--keda-insecure-local")
    with _serving(config, port, tmp_path / "serve.log", *keda) as process, \
            grpc.insecure_channel(f"127.0.0.1:{keda_port}") as channel:
        responses = ExternalScalerStub(channel).StreamIsActive(trigger("queue_depth"), timeout=HANG_GUARD_S)
        assert next(responses).result is True
        process.send_signal(signal.SIGTERM)
        with pytest.raises(StopIteration):
            next(responses)
        assert responses.code() == grpc.StatusCode.OK
        assert process.wait(timeout=SHUTDOWN_GRACE_SECONDS + HANG_GUARD_S) == 0, (tmp_path / "serve.log").read_text()
