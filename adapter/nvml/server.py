"""The ``nvml-exporter`` HTTP server: ``/metrics`` renders the latest sweep, ``/healthz`` says
whether sweeps are still coming.

A background task sweeps the GPUs every interval in a single worker thread (NVML calls block,
and a hung GPU must not stall the event loop or a scrape); scrapes only read the latest snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry

from adapter.nvml.attribution import CgroupAttribution
from adapter.nvml.collector import DcgmCollector, exposition
from adapter.nvml.devices import NvmlLayer, open_nvml
from adapter.nvml.sampling import Sampler
from adapter.nvml.snapshot import NodeSnapshot

log = logging.getLogger(__name__)
HostnameLabel = Literal["Hostname", "hostname"]


@dataclass(frozen=True)
class ExporterSettings:
    """What ``foresight nvml-exporter`` is started with."""

    hostname: str
    """Value of the host name label: the node's name (``NODE_NAME`` from the downward API)."""
    port: int = 9400
    """Port of ``/metrics`` and ``/healthz``; 9400 as dcgm-exporter, so either fits one scrape config."""
    interval: float = 1.0
    """Seconds between sweeps over the GPUs."""
    hostname_label: HostnameLabel = "Hostname"
    """``Hostname`` as most dcgm-exporter releases, or ``hostname`` as the newest."""
    bind_address: str = "0.0.0.0"
    """Address to listen on."""
    proc_root: Path = Path("/proc")
    """Where ``<pid>/cgroup`` is read; the host's processes only with ``hostPID: true``."""
    containers_dir: Path = Path("/var/log/containers")
    """The kubelet's container log links, which name each container's pod."""

    @property
    def stale_after(self) -> float:
        """Age of the last sweep past which ``/healthz`` fails (a hung NVML call): the pod restarts."""
        return max(30.0, 5 * self.interval)


class SamplingLoop:
    """Runs the sampler off the event loop (on a thread from :meth:`start` on) and keeps its latest
    snapshot."""

    def __init__(self, sampler: Sampler, *, interval: float) -> None:
        self._sampler = sampler
        self._interval = interval
        self._executor: ThreadPoolExecutor | None = None
        self.latest: NodeSnapshot | None = None

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nvml")

    async def sample_once(self) -> NodeSnapshot:
        """One sweep in the worker thread; tests call this instead of waiting for the loop."""
        assert self._executor is not None, "a sweep before start()"
        snapshot = await asyncio.get_running_loop().run_in_executor(self._executor, self._sampler.sample)
        self.latest = snapshot
        return snapshot

    async def run(self) -> None:
        while True:
            await self.sample_once()
            await asyncio.sleep(self._interval)

    def close(self) -> None:
        """Stop the worker without waiting: a call stuck in the driver must not block shutdown."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class ExporterContext:
    sampling: SamplingLoop
    registry: CollectorRegistry
    clock: Callable[[], float]
    stale_after: float
    sample_in_background: bool


CONTEXT = web.AppKey("nvml_exporter", ExporterContext)


async def metrics(request: web.Request) -> web.Response:
    body = exposition(request.app[CONTEXT].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


async def healthz(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    latest = context.sampling.latest
    if latest is None:
        return web.Response(status=503, text="no sweep over the GPUs has finished yet\n")
    age = context.clock() - latest.taken_at
    if age > context.stale_after:
        return web.Response(status=503, text=f"the last sweep over the GPUs finished {age:.0f} s ago\n")
    return web.Response(text="ok\n")


async def _sample_forever(sampling: SamplingLoop) -> None:
    """The sweep loop; a crash is logged, and ``/healthz`` then goes stale so the pod restarts."""
    try:
        await sampling.run()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("the GPU sampling loop crashed")
        raise


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """The sampling thread and, unless tests drive the sweeps, its loop."""
    context = app[CONTEXT]
    context.sampling.start()
    task = asyncio.create_task(_sample_forever(context.sampling), name="nvml-sampling") if context.sample_in_background else None
    yield
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    context.sampling.close()


def create_exporter_app(
    layer: NvmlLayer,
    settings: ExporterSettings,
    *,
    registry: CollectorRegistry,
    clock: Callable[[], float] = time.time,
    sample_in_background: bool = True,
) -> web.Application:
    """The exporter over ``layer``. Tests pass ``sample_in_background=False`` and call
    ``app[CONTEXT].sampling.sample_once()`` themselves."""
    attribution = CgroupAttribution(proc_root=settings.proc_root, containers_dir=settings.containers_dir)
    sampling = SamplingLoop(Sampler(layer, attribution, registry=registry, clock=clock), interval=settings.interval)
    registry.register(
        DcgmCollector(
            lambda: sampling.latest, hostname=settings.hostname, hostname_label=settings.hostname_label, clock=clock
        )
    )
    app = web.Application()
    app[CONTEXT] = ExporterContext(
        sampling=sampling, registry=registry, clock=clock, stale_after=settings.stale_after,
        sample_in_background=sample_in_background,
    )
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(_lifecycle)
    return app


def run_exporter(settings: ExporterSettings) -> int:
    """Serve until stopped; raises :class:`NvmlUnavailable` at once where NVML cannot start."""
    layer = open_nvml()
    try:
        app = create_exporter_app(layer, settings, registry=CollectorRegistry(auto_describe=False))
        log.info("sweeping the GPUs every %gs, serving on %s:%d", settings.interval, settings.bind_address, settings.port)
        web.run_app(app, host=settings.bind_address, port=settings.port, print=None, access_log=None)
    finally:
        layer.shutdown()
    return 0
