"""The exporter's HTTP server over the fake node (no GPU here): ``/metrics`` serves the latest
sweep, ``/healthz`` follows the sweeps, and NVML is only ever called off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from adapter.nvml.server import (
    CONTEXT,
    ExporterSettings,
    SamplingLoop,
    create_exporter_app,
)

from .fake_nvml import FakeNode, fake_node


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def node(tmp_path: Path) -> FakeNode:
    return fake_node(tmp_path)


def settings(node: FakeNode) -> ExporterSettings:
    return ExporterSettings(hostname=node.hostname, interval=0.05, proc_root=node.proc_root, containers_dir=node.containers_dir)


@dataclass
class Exporter:
    client: TestClient[Any, Any]
    clock: Clock
    sampling: SamplingLoop


@pytest.fixture
async def exporter(node: FakeNode) -> AsyncIterator[Exporter]:
    clock = Clock()
    app = create_exporter_app(node.nvml, settings(node), registry=CollectorRegistry(), clock=clock, sample_in_background=False)
    async with TestClient(TestServer(app)) as client:
        yield Exporter(client, clock, app[CONTEXT].sampling)


async def test_healthz_follows_the_sweeps(exporter: Exporter) -> None:
    before = await exporter.client.get("/healthz")
    assert before.status == 503 and "no sweep" in await before.text()
    await exporter.sampling.sample_once()
    assert (await exporter.client.get("/healthz")).status == 200
    exporter.clock.now += 31.0
    stale = await exporter.client.get("/healthz")
    assert stale.status == 503 and "31 s ago" in await stale.text()


async def test_metrics_serve_the_latest_sweep_as_text(exporter: Exporter, node: FakeNode) -> None:
    await exporter.sampling.sample_once()
    node.nvml.gpus[0].utilization = 99  # read at the next sweep, not at scrape time
    response = await exporter.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await response.text()
    util = [s for f in text_string_to_metric_families(text) if f.name == "DCGM_FI_DEV_GPU_UTIL" for s in f.samples]
    assert {s.labels["pod"]: s.value for s in util}["llama-0"] == 40.0


async def test_nvml_runs_in_the_background_and_off_the_event_loop(node: FakeNode) -> None:
    app = create_exporter_app(node.nvml, settings(node), registry=CollectorRegistry())
    sampling = app[CONTEXT].sampling
    async with TestClient(TestServer(app)) as client:

        async def first_sweep() -> None:
            while sampling.latest is None:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(first_sweep(), timeout=10)
        assert (await client.get("/healthz")).status == 200
    assert node.nvml.call_threads
    assert threading.get_ident() not in node.nvml.call_threads
