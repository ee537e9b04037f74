"""Memory and probe latency of the adapter under connection floods, with its connection guard
and without it.

The adapter on the demo fleet serves TLS in a process of its own, once through the listener
``serve`` and ``demo`` use (``adapter.serving.listener``) and once through plain ``web.run_app`` (the
adapter as it was, the baseline), and is attacked from many loopback addresses, as a flood from
many pods would come:

- **slow**: 7,000 connections that finish the TLS handshake and then send nothing, held 20 s;
- **burst**: 5,000 connections opened at once, each sending one request.

An unattacked run of the same length ("none") shows how the server's memory grows on its own.
Meanwhile ``curl`` fetches ``/healthz`` every 0.2 s over a new TLS connection from another
address, as the kubelet probes. Printed: the server's resident memory before, at its peak and
10 s after the attack, as ratios of the memory before, and the probe's worst latency next to its
latency idle.

    python bench/hostile_connections.py [--slow 7000] [--burst 5000] [--hold 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from demo_server import demo_adapter, free_port

PROBE_SOURCE = "127.0.0.2"


def serve(port: int, guarded: bool) -> None:
    """The adapter on the demo fleet (one hour of history) over TLS with a generated certificate."""
    import logging

    from aiohttp import web

    from adapter.access.serving_tls import self_signed
    from adapter.serving import listener
    from adapter.serving.connection_guard import ConnectionLimits

    logging.basicConfig(level=logging.ERROR)
    adapter = demo_adapter()
    tls = self_signed(["localhost", "127.0.0.1"]).context()
    if guarded:
        asyncio.run(listener.serve(adapter.app, host="127.0.0.1", port=port, ssl_context=tls, limits=ConnectionLimits(),
                                   registry=adapter.registry, drain_seconds=1.0))
    else:
        web.run_app(adapter.app, host="127.0.0.1", port=port, ssl_context=tls, print=None, access_log=None)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _client_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the demo's certificate is self-signed
    return context


def _source(index: int) -> str:
    """A loopback address per 50 connections: a flood from many pods, not from one."""
    block = index // 50
    return f"127.1.{block // 250}.{block % 250 + 1}"


def _probe_seconds(port: int) -> float | None:
    """One ``/healthz`` over a new TLS connection from the probe's address, timed by curl itself
    (a process of its own, so the attacking client's work does not count); None if it failed."""
    done = subprocess.run(
        ["curl", "-sk", "--interface", PROBE_SOURCE, "--max-time", "60", "-o", "/dev/null",
         "-w", "%{http_code} %{time_total}", f"https://127.0.0.1:{port}/healthz"],
        capture_output=True, text=True,
    )
    code, _, seconds = done.stdout.partition(" ")
    return float(seconds) if code == "200" else None


@dataclass
class Probe:
    port: int
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    def once(self) -> None:
        seconds = _probe_seconds(self.port)
        if seconds is None:
            self.failures += 1
        else:
            self.latencies.append(seconds)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(0.2):
            self.once()


async def _open(port: int, index: int, request: bytes | None) -> asyncio.StreamWriter | None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", port, ssl=_client_tls(), local_addr=(_source(index), 0)), 60)
    except (OSError, TimeoutError, ssl.SSLError):
        return None
    if request is not None:
        writer.write(request)
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            await asyncio.wait_for(reader.read(), 60)
        writer.close()
        return None
    return writer


async def _attack(kind: str, port: int, pid: int, *, count: int, hold: float) -> dict[str, float]:
    probe = Probe(port)
    for _ in range(5):
        probe.once()
    idle = max(probe.latencies)
    probe.latencies.clear()
    before = _rss_mib(pid)
    peak = before
    stop = threading.Event()
    probing = threading.Thread(target=probe.run, args=(stop,))
    probing.start()
    request = None if kind == "slow" else b"GET /apis HTTP/1.1\r\nHost: localhost\r\n\r\n"
    opening = [asyncio.create_task(_open(port, index, request)) for index in range(count)]
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline or not all(task.done() for task in opening):
        peak = max(peak, _rss_mib(pid))
        await asyncio.sleep(0.2)
    held = [writer for writer in await asyncio.gather(*opening) if writer is not None]
    for writer in held:
        writer.close()
    settle = time.monotonic() + 10
    while time.monotonic() < settle:
        peak = max(peak, _rss_mib(pid))
        await asyncio.sleep(0.5)
    stop.set()
    probing.join()
    return {
        "before": before, "peak": peak, "after": _rss_mib(pid), "idle_probe": idle,
        "worst_probe": max(probe.latencies, default=float("inf")), "probe_failures": probe.failures,
        "held": len(held),
    }


def _start(port: int, guarded: bool) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "guarded" if guarded else "plain"])
    deadline = time.monotonic() + 120
    while _probe_seconds(port) is None:
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the adapter did not start")
        time.sleep(0.5)
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=7000)
    parser.add_argument("--burst", type=int, default=5000)
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--listeners", nargs="+", choices=["guarded", "run_app"], default=["guarded", "run_app"])
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), guarded=args.serve[1] == "guarded")
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"{'listener':<11}{'attack':<7}{'conns':>6}{'held':>6}{'RSS MiB before':>16}{'peak':>8}{'after':>8}"
          f"{'peak/before':>13}{'after/before':>14}{'probe idle ms':>15}{'worst ms':>10}{'failed':>8}")
    for label in args.listeners:
        guarded = label == "guarded"
        for kind, count in (("none", 0), ("slow", args.slow), ("burst", args.burst)):
            port = free_port()
            process = _start(port, guarded)
            try:
                result = asyncio.run(_attack(kind, port, process.pid, count=count, hold=args.hold))
            finally:
                process.terminate()
                process.wait(timeout=60)
            print(f"{label:<11}{kind:<7}{count:>6}{result['held']:>6.0f}{result['before']:>16.0f}"
                  f"{result['peak']:>8.0f}{result['after']:>8.0f}{result['peak'] / result['before']:>13.2f}"
                  f"{result['after'] / result['before']:>14.2f}{result['idle_probe'] * 1000:>15.1f}"
                  f"{result['worst_probe'] * 1000:>10.1f}{result['probe_failures']:>8.0f}", flush=True)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return 0


if __name__ == "__main__":
    sys.exit(main())
