"""Throughput and latency of cached external-metric requests, next to a bare aiohttp handler.

Both servers run in their own process on loopback (one core each at most) and are loaded in turn
by ``wrk`` (Debian package ``wrk``) over keep-alive connections. The bare handler returns a body of
the same size and content type, so the ratio isolates what the adapter adds: routing, selector
parsing, the store read, rendering and its own telemetry. Rounds alternate between the two so
that noise on a shared machine hits both alike.

    python bench/serve.py [--seconds 5] [--rounds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from demo_server import demo_adapter, free_port

PATH = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/requests_per_second?labelSelector=app%3Dllama"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def serve_adapter(port: int) -> None:
    """The adapter on the demo fleet (one hour of history), as ``foresight demo`` assembles and
    serves it: behind the connection guard of ``adapter.serving.listener``."""
    import asyncio
    import logging

    from adapter.serving import listener
    from adapter.serving.connection_guard import ConnectionLimits

    logging.basicConfig(level=logging.WARNING)
    adapter = demo_adapter()
    asyncio.run(listener.serve(adapter.app, host="127.0.0.1", port=port, ssl_context=None, limits=ConnectionLimits(),
                               registry=adapter.registry, drain_seconds=1.0))


def serve_bare(port: int, body_file: Path) -> None:
    """A handler that only returns fixed bytes: the ceiling for any aiohttp server here."""
    from aiohttp import web

    body = body_file.read_bytes()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, *args])


def _wait(port: int) -> bytes:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with _OPENER.open(f"http://127.0.0.1:{port}{PATH}", timeout=2) as response:
                if response.status == 200:
                    return response.read()
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer")


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise RuntimeError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _wrk(port: int, *, seconds: int, connections: int) -> tuple[float, float, float]:
    """Requests per second, p50 and p99 latency (seconds) of one wrk run."""
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{PATH}"],
        capture_output=True, text=True, check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    # anchored: a "+/- Stdev" column such as "68.99%" must not pass for the 99th percentile
    p50 = _seconds(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _seconds(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in output:
        raise RuntimeError(f"errors during the run:\n{output}")
    return rate, p50, p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve-adapter", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-bare", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_adapter:
        serve_adapter(args.serve_adapter)
        return 0
    if args.serve_bare:
        serve_bare(int(args.serve_bare[0]), Path(args.serve_bare[1]))
        return 0
    if shutil.which("wrk") is None:
        print("bench/serve.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 1

    adapter_port, bare_port = free_port(), free_port()
    body_file = Path(f"/tmp/foresight-bench-body-{adapter_port}.json")
    servers = [_start("--serve-adapter", str(adapter_port))]
    try:
        body = _wait(adapter_port)
        body_file.write_bytes(body)
        servers.append(_start("--serve-bare", str(bare_port), str(body_file)))
        _wait(bare_port)
        results: dict[str, list[tuple[float, float, float]]] = {"adapter": [], "bare": []}
        _wrk(adapter_port, seconds=1, connections=args.connections)  # warm-up
        _wrk(bare_port, seconds=1, connections=args.connections)
        for _ in range(args.rounds):
            results["adapter"].append(_wrk(adapter_port, seconds=args.seconds, connections=args.connections))
            results["bare"].append(_wrk(bare_port, seconds=args.seconds, connections=args.connections))
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        body_file.unlink(missing_ok=True)

    print(f"cached external-metric GET, body {len(body)} bytes, {args.connections} keep-alive connections, "
          f"{args.rounds} alternating rounds of {args.seconds}s (medians)")
    print(f"{'server':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    medians = {}
    for name, runs in results.items():
        rate, p50, p99 = (statistics.median(run[i] for run in runs) for i in range(3))
        medians[name] = rate
        print(f"{name:<10}{rate:>10.0f}{p50 * 1000:>10.2f}{p99 * 1000:>10.2f}")
    print(f"throughput ratio adapter/bare: {medians['adapter'] / medians['bare']:.2f} (goal >= 0.70)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
