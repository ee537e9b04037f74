"""The NVML exporter scraped by a real Prometheus, with the adapter's dcgm preset on top.

The exporter runs on the fake NVML layer of ``tests/adapter/nvml/fake_nvml.py`` because this
machine has no NVIDIA GPU; everything above NVML is real: the sweep loop and its worker thread,
cgroup attribution over a fake node's ``/proc`` and container log links, the HTTP server,
Prometheus's scrape, and the adapter's PromQL. A stand-in for kube-state-metrics serves the pods'
``kube_pod_labels``, which the preset joins to select a workload's GPUs by pod label.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Self
from urllib.parse import quote

import pytest
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import Metric

from adapter.nvml import ExporterSettings, create_exporter_app
from forecasting.quantity import parse_quantity
from tests.adapter.nvml.fake_nvml import (
    LLAMA_0,
    LLAMA_1,
    LOST_GPU_INDEX,
    MISTRAL_0,
    MISTRAL_1,
    PHI_0,
    fake_node,
)

from .adapter_client import RunningAdapter, adapter_settings, running_adapter
from .prometheus import PrometheusServer

pytestmark = pytest.mark.integration

JOB = "nvml"
APPS = {LLAMA_0: "llama", LLAMA_1: "llama", MISTRAL_0: "mistral", MISTRAL_1: "mistral", PHI_0: "phi"}
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2"


def _kube_state_metrics() -> web.Application:
    """``kube_pod_labels`` of the fake node's pods, as kube-state-metrics exports them."""

    class PodLabels:
        def collect(self) -> Iterator[Metric]:
            metric = Metric("kube_pod_labels", "Kubernetes labels converted to Prometheus labels.", "gauge")
            for pod, app in APPS.items():
                metric.add_sample(metric.name, {"namespace": pod.namespace, "pod": pod.pod, "label_app": app}, 1.0)
            yield metric

    registry = CollectorRegistry(auto_describe=False)
    registry.register(PodLabels())

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


class ServingThread:
    """Serves aiohttp applications on free loopback ports from an event loop in its own thread."""

    def __init__(self, apps: list[web.Application]) -> None:
        self._apps = apps
        self._started = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), name="nvml-exporter")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.targets: list[str] = []

    async def _serve(self) -> None:
        runners = [web.AppRunner(app, access_log=None) for app in self._apps]
        for runner in runners:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            host, port = runner.addresses[0][:2]
            self.targets.append(f"{host}:{port}")
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._started.set()
        await self._stop.wait()
        for runner in runners:
            await runner.cleanup()

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._started.wait(timeout=30):
            raise RuntimeError("the exporter did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)


@pytest.fixture(scope="module")
def nvml_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A Prometheus of its own (the session one scrapes the synthetic workload) over the exporter."""
    node = fake_node(tmp_path_factory.mktemp("gpu-node"))
    settings = ExporterSettings(
        hostname=node.hostname, interval=0.2, proc_root=node.proc_root, containers_dir=node.containers_dir
    )
    exporter = create_exporter_app(node.nvml, settings, registry=CollectorRegistry(auto_describe=False))
    with ServingThread([exporter, _kube_state_metrics()]) as serving:
        server = PrometheusServer(
            tmp_path_factory.mktemp("prometheus-nvml"),
            serving.targets,
            job=JOB,
            ready_queries=["DCGM_FI_DEV_GPU_UTIL", "kube_pod_labels", "foresight_nvml_errors_total"],
        )
        with server:
            yield server


@pytest.fixture
async def adapter(nvml_prometheus: PrometheusServer) -> AsyncIterator[RunningAdapter]:
    # The GPU preset alone: no inference-server series here, so nothing to forecast either.
    settings = adapter_settings(nvml_prometheus.url, {"signals": {"gpu": "dcgm", "server": "none"}})
    async with running_adapter(settings) as running:
        yield running


def test_prometheus_stores_dcgm_series_per_gpu_and_pod(nvml_prometheus: PrometheusServer) -> None:
    util = {
        (series["metric"]["gpu"], series["metric"]["pod"]): float(series["value"][1])
        for series in nvml_prometheus.query(f'DCGM_FI_DEV_GPU_UTIL{{job="{JOB}"}}')
    }
    assert util == {("0", "llama-0"): 40.0, ("1", "llama-1"): 60.0, ("2", "mistral-0"): 70.0, ("2", "mistral-1"): 70.0}
    (power,) = nvml_prometheus.query('DCGM_FI_DEV_POWER_USAGE{pod="llama-0"}')
    assert float(power["value"][1]) == 200.125
    assert power["metric"]["Hostname"] == "gpu-node-1" and power["metric"]["namespace"] == "inference"
    assert nvml_prometheus.query(f'DCGM_FI_DEV_POWER_USAGE{{gpu="{LOST_GPU_INDEX}"}}') == []
    mig = nvml_prometheus.query('DCGM_FI_DEV_FB_USED{GPU_I_PROFILE="1g.10gb"}')
    assert [(series["metric"]["pod"], float(series["value"][1])) for series in mig] == [("phi-0", 4096.0)]


def test_prometheus_sees_the_energy_counter_as_a_counter_and_the_lost_gpu(nvml_prometheus: PrometheusServer) -> None:
    url = f"{nvml_prometheus.url}/api/v1/metadata?metric=DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        metadata = json.load(response)["data"]["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"]
    assert metadata == [{"type": "counter", "help": "Total energy consumption since boot (in mJ).", "unit": ""}]
    (ok,) = nvml_prometheus.query(f'foresight_nvml_device_ok{{gpu="{LOST_GPU_INDEX}"}}')
    assert float(ok["value"][1]) == 0.0
    (lost,) = nvml_prometheus.query('foresight_nvml_errors_total{call="nvmlDeviceGetHandleByIndex"}')
    assert lost["metric"]["error"] == "GpuIsLost" and float(lost["value"][1]) >= 1.0


async def _external(adapter: RunningAdapter, selector: str) -> float:
    body = await adapter.get_json(f"{EXTERNAL}/namespaces/inference/gpu_utilization?labelSelector={quote(selector)}")
    (item,) = body["items"]
    return float(parse_quantity(item["value"]))


async def test_the_dcgm_preset_serves_gpu_utilization_from_the_exporter(adapter: RunningAdapter) -> None:
    assert await _external(adapter, "app=llama") == pytest.approx(50.0)  # mean of 40 and 60
    assert await _external(adapter, "app=mistral") == pytest.approx(70.0)  # one shared GPU


async def test_per_pod_gpu_utilization_matches_the_fake_gpus(adapter: RunningAdapter) -> None:
    body = await adapter.get_json(f"{CUSTOM}/namespaces/inference/pods/*/gpu_utilization?labelSelector=app%3Dllama")
    served = {item["describedObject"]["name"]: float(parse_quantity(item["value"])) for item in body["items"]}
    assert served == {"llama-0": pytest.approx(40.0), "llama-1": pytest.approx(60.0)}
