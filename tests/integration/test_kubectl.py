"""``foresight serve`` as a real process over real TLS, read by a real ``kubectl`` — the client
library the HPA controller and the aggregator are built on. Certificates are made per run."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import yaml

from forecasting.quantity import parse_quantity

from .kube_stand_in import Grant, KubeStandIn, kube_stand_in
from .local import foresight_command, foresight_environment, free_port, kubectl, stop
from .prometheus import PrometheusServer
from .workload_exporter import ground_truth

pytestmark = pytest.mark.integration
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2"




class ServedAdapter:
    def __init__(self, workdir: Path, prometheus_url: str, kube: KubeStandIn) -> None:
        ca = trustme.CA()
        certificate = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = workdir / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert_file, key_file = workdir / "tls.crt", workdir / "tls.key"
        certificate.cert_chain_pems[0].write_to_path(str(cert_file))
        certificate.private_key_pem.write_to_path(str(key_file))
        config = workdir / "config.yaml"
        config.write_text(yaml.safe_dump({"prometheus": {"url": prometheus_url}, "refresh": {"interval": "1s"}}))
        self.kube = kube
        self.port = free_port()
        self.log_path = workdir / "adapter.log"
        self.kubeconfig = workdir / "kubeconfig"
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "foresight", "cluster": {"server": f"https://127.0.0.1:{self.port}", "certificate-authority": str(self.ca_file)}}],
                    "users": [{"name": "tester", "user": {"token": "test-token"}}],  # without credentials kubectl prompts for a password
                    "contexts": [{"name": "foresight", "context": {"cluster": "foresight", "user": "tester"}}],
                    "current-context": "foresight",
                }
            )
        )
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            foresight_command(
                "--log-format", "json", "serve", "--config", str(config),
                "--bind-address", "127.0.0.1", "--secure-port", str(self.port),
                "--tls-cert-file", str(cert_file), "--tls-private-key-file", str(key_file),
                "--kubeconfig", str(kube.write_kubeconfig(workdir / "adapter-kubeconfig")),
            ),
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=foresight_environment(),
        )
        try:
            self._wait_healthy()
        except BaseException:
            self.process.kill()
            self.process.wait()
            self._log.close()
            raise

    def _wait_healthy(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        deadline = time.monotonic() + 300  # guards against a hang; start-up takes seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"foresight serve exited: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{self.port}/healthz", context=context, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"foresight serve did not become healthy: {self.log_path.read_text()}")

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        return subprocess.run([kubectl(), *args], capture_output=True, text=True, timeout=60, env=env, check=False)

    def get_raw(self, path: str) -> dict[str, object]:
        result = self.kubectl("get", "--raw", path)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    def close(self) -> None:
        try:
            stop(self.process, grace_s=60, what="foresight serve")
        finally:
            self._log.close()


@pytest.fixture(scope="module")
def served(prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedAdapter]:
    with kube_stand_in() as kube:
        # kubectl's token is reviewed and its requests authorised by the stand-in kube-apiserver
        kube.tokens["test-token"] = {"username": "tester", "groups": ["metrics-readers"]}
        kube.grants += [
            Grant("metrics-readers", frozenset({"get", "list"}), "external.metrics.k8s.io", frozenset({"*"})),
            Grant("metrics-readers", frozenset({"get", "list"}), "custom.metrics.k8s.io", frozenset({"*"})),
            Grant("system:authenticated", frozenset({"get"}), paths=frozenset({"*"})),
        ]
        adapter = ServedAdapter(tmp_path_factory.mktemp("serve"), prometheus.url, kube)
        try:
            yield adapter
        finally:
            adapter.close()


def test_discovery_through_kubectl(served: ServedAdapter) -> None:
    groups = served.get_raw("/apis")
    assert {group["name"] for group in groups["groups"]} == {"external.metrics.k8s.io", "custom.metrics.k8s.io"}  # type: ignore[index, union-attr]
    external = served.get_raw(EXTERNAL)
    names = {resource["name"] for resource in external["resources"]}  # type: ignore[union-attr, index]
    assert {"gpu_utilization", "latency_p99_seconds", "queue_depth", "requests_per_second", "energy_per_request_joules"} <= names
    custom = served.get_raw(CUSTOM)
    assert "pods/gpu_utilization" in {resource["name"] for resource in custom["resources"]}  # type: ignore[union-attr, index]
    # api-resources reads discovery the way kubectl and the aggregator do
    listed = served.kubectl("api-resources", "--api-group=external.metrics.k8s.io", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    assert "queue_depth.external.metrics.k8s.io" in listed.stdout.split()


def test_every_external_metric_through_kubectl(served: ServedAdapter) -> None:
    truth = ground_truth("inference", "llama")
    external = served.get_raw(EXTERNAL)
    for resource in external["resources"]:  # type: ignore[union-attr]
        name = resource["name"]  # type: ignore[index]
        body = served.get_raw(f"{EXTERNAL}/namespaces/inference/{name}?labelSelector=app%3Dllama")
        assert body["kind"] == "ExternalMetricValueList"
        [item] = body["items"]  # type: ignore[misc]
        assert item["metricName"] == name
        forecast = name.endswith(("_forecast", "_planned"))
        if forecast:  # marked: warming up until its history is fitted
            assert item["metricLabels"]["foresight.io/state"] == "warming"
        else:
            assert item["metricLabels"] is None
        assert item["timestamp"].endswith("Z")
        assert item["window"] == (300 if forecast else 60)  # the forecast window H
        value = float(parse_quantity(item["value"]))
        if name == "queue_depth":
            assert value == truth.queue_depth
        if name == "gpu_utilization":
            assert value == truth.gpu_utilization


def test_metric_names_are_matched_case_insensitively(served: ServedAdapter) -> None:
    body = served.get_raw(f"{EXTERNAL}/namespaces/inference/GPU_Utilization?labelSelector=app%3Dllama")
    assert body["items"][0]["metricName"] == "gpu_utilization"  # type: ignore[index]


def test_per_pod_metric_through_kubectl(served: ServedAdapter) -> None:
    body = served.get_raw(f"{CUSTOM}/namespaces/inference/pods/*/queue_depth?labelSelector=app%3Dllama")
    pods = {item["describedObject"]["name"]: float(parse_quantity(item["value"])) for item in body["items"]}  # type: ignore[union-attr, index]
    assert pods == {"llama-0": 3.0, "llama-1": 4.0}


def test_errors_reach_kubectl_as_status(served: ServedAdapter) -> None:
    unknown = served.kubectl("get", "--raw", f"{EXTERNAL}/namespaces/inference/no_such_metric")
    assert unknown.returncode != 0
    assert "NotFound" in unknown.stderr and "no_such_metric" in unknown.stderr
    bad = served.kubectl("get", "--raw", f"{EXTERNAL}/namespaces/inference/queue_depth?labelSelector=app%20in%20oops")
    assert bad.returncode != 0
    assert "BadRequest" in bad.stderr


def test_own_metrics_count_requests_by_route_and_metric(served: ServedAdapter) -> None:
    served.get_raw(f"{EXTERNAL}/namespaces/inference/queue_depth?labelSelector=app%3Dllama")
    result = served.kubectl("get", "--raw", "/metrics")
    assert result.returncode == 0, result.stderr
    route = "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"
    assert f'foresight_http_requests_total{{code="200",metric="queue_depth",path="{route}"}}' in result.stdout
    assert "foresight_source_queries_total" in result.stdout


def test_kubectl_with_a_token_the_cluster_rejects_is_unauthorized(served: ServedAdapter) -> None:
    result = served.kubectl("--token", "forged", "get", "--raw", f"{EXTERNAL}/namespaces/inference/queue_depth")
    assert result.returncode != 0
    assert "Unauthorized" in result.stderr


def test_kubectl_as_a_user_without_a_grant_is_forbidden(served: ServedAdapter) -> None:
    served.kube.tokens["outsider-token"] = {"username": "outsider", "groups": []}
    result = served.kubectl("--token", "outsider-token", "get", "--raw", f"{EXTERNAL}/namespaces/inference/queue_depth")
    assert result.returncode != 0
    assert "Forbidden" in result.stderr and "outsider" in result.stderr
