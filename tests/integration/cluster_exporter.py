"""kube-state-metrics' HPA and resource-request series and the NVML exporter's health series for
the synthetic workloads, served over HTTP for a Prometheus to scrape.

Stands in for kube-state-metrics (needs a cluster) with its series names and labels, and runs the
NVML exporter's real collector on a fixed sweep (NVML needs an NVIDIA GPU): one GPU read, one lost.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from prometheus_client import CollectorRegistry, Gauge

from adapter.nvml.collector import DcgmCollector, exposition
from adapter.nvml.snapshot import GpuSnapshot, NodeSnapshot

from .workload_exporter import WORKLOADS

HPA_TARGET_REQUESTS_PER_SECOND = 20.0
HPA_TARGET_GPU_UTILIZATION = 70.0


def _sweep() -> NodeSnapshot:
    idle = GpuSnapshot(
        index=0, uuid="GPU-spare0", model_name="NVIDIA H100 80GB HBM3", pci_bus_id="00000000:18:00.0",
        device="nvidia0", utilization_percent=0.0, memory_used_mib=0.0, memory_free_mib=81559.0,
        power_watts=70.0, energy_millijoules=1.0e9, sm_clock_mhz=345.0, temperature_celsius=31.0, pods=(),
    )
    return NodeSnapshot(gpus=(idle,), failed_gpus=(1,), unattributed_processes=0, taken_at=0.0)


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    hpa = ["namespace", "horizontalpodautoscaler"]
    info = Gauge("kube_horizontalpodautoscaler_info", "Information about this autoscaler.",
                 [*hpa, "scaletargetref_kind", "scaletargetref_name"], registry=registry)
    target = Gauge("kube_horizontalpodautoscaler_spec_target_metric", "The metric specifications used by this autoscaler.",
                   [*hpa, "metric_name", "metric_target_type"], registry=registry)
    replicas = {
        name: Gauge(f"kube_horizontalpodautoscaler_{name}", f"HPA {name}.", hpa, registry=registry)
        for name in ("spec_min_replicas", "spec_max_replicas", "status_current_replicas", "status_desired_replicas")
    }
    requests = Gauge("kube_pod_container_resource_requests", "The number of requested request resource by a container.",
                     ["namespace", "pod", "container", "node", "resource", "unit"], registry=registry)
    for workload in WORKLOADS:
        name = [workload.namespace, workload.app]
        info.labels(*name, "Deployment", workload.app).set(1)
        target.labels(*name, "requests_per_second", "average").set(HPA_TARGET_REQUESTS_PER_SECOND)
        target.labels(*name, "gpu_utilization", "value").set(HPA_TARGET_GPU_UTILIZATION)
        for gauge, value in zip(replicas.values(), (1, 8, len(workload.pods), len(workload.pods)), strict=True):
            gauge.labels(*name).set(value)
        for pod in workload.pods:
            requests.labels(workload.namespace, pod.name, "server", pod.gpu.hostname, "nvidia_com_gpu", "integer").set(1)
    registry.register(DcgmCollector(_sweep, hostname="node-gpu", clock=lambda: 2.0))
    return registry


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        body = exposition(self.server.registry)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep scrapes out of the test output."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.registry = _registry()


class ClusterExporter:
    """Serves the series above on a free 127.0.0.1 port until :meth:`close`."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, name="cluster-exporter")
        self._thread.start()

    @property
    def target(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def text(self) -> str:
        """What a scrape returns now."""
        return exposition(self._server.registry).decode()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> ClusterExporter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
