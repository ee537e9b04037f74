"""``foresight serve`` stopped with SIGTERM, as the kubelet stops a pod: it stops accepting
connections, finishes the request in flight, and exits within the grace period. The request in
flight is made slow by a delaying TCP proxy in front of the real Prometheus."""

from __future__ import annotations

import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from adapter.cli import SHUTDOWN_GRACE_SECONDS

from .local import free_port
from .prometheus import PrometheusServer

pytestmark = pytest.mark.integration
DELAY_SECONDS = 4.0
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class DelayingProxy(socketserver.ThreadingTCPServer):
    """Forwards to ``upstream``, holding each chunk of its answers back by ``DELAY_SECONDS`` once
    ``slow`` is set."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.slow = threading.Event()
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(socketserver.BaseRequestHandler):
    server: DelayingProxy

    def handle(self) -> None:
        with socket.create_connection(self.server.upstream) as upstream:
            pump = threading.Thread(target=_copy, args=(self.request, upstream), daemon=True)
            pump.start()
            while chunk := upstream.recv(65536):
                if self.server.slow.is_set():  # per chunk: the adapter keeps its connections open
                    time.sleep(DELAY_SECONDS)
                self.request.sendall(chunk)


def _copy(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@pytest.fixture
def proxy(prometheus: PrometheusServer) -> Iterator[DelayingProxy]:
    host, port = prometheus.url.removeprefix("http://").rstrip("/").split(":")
    server = DelayingProxy((host, int(port)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_sigterm_drains_the_request_in_flight_and_exits(proxy: DelayingProxy, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"prometheus": {"url": proxy.url}, "refresh": {"interval": "1s"}}))
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "adapter.cli", "serve", "--config", str(config), "--insecure-local", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not _accepts(port):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        proxy.slow.set()
        answer: dict[str, object] = {}

        def request() -> None:
            url = f"http://127.0.0.1:{port}/apis/external.metrics.k8s.io/v1beta1/namespaces/inference/queue_depth?labelSelector=app%3Dllama"
            with _OPENER.open(url, timeout=60) as response:
                answer["status"], answer["body"] = response.status, response.read()

        in_flight = threading.Thread(target=request)
        in_flight.start()
        time.sleep(1.0)  # the request is now waiting on the delayed Prometheus
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + DELAY_SECONDS
        while _accepts(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        refused_while_draining = in_flight.is_alive() and not _accepts(port)
        in_flight.join(timeout=60)
        assert answer.get("status") == 200, (answer, (tmp_path / "serve.log").read_text())
        assert b"ExternalMetricValueList" in answer["body"]  # type: ignore[operator]
        assert refused_while_draining, "new connections were still accepted while the request drained"
        assert process.wait(timeout=SHUTDOWN_GRACE_SECONDS + 10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
