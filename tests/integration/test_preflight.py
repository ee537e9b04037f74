"""``foresight preflight`` on the situations real clusters are in, each with its advice and exit
code. The cluster is a stand-in for the kube-apiserver (``cluster_stand_in``: a real one cannot run
here) read through the real kubernetes client; the series checks ask the suite's real Prometheus,
which scrapes a synthetic dcgm-exporter, vLLM and kube-state-metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from adapter.commands.cli import main
from adapter.settings.config import settings_from_mapping

from .cluster_stand_in import ClusterStandIn, apiservice, cluster_stand_in, front_proxy, keda_operator
from .local import free_port
from .prometheus import PrometheusServer

pytestmark = pytest.mark.integration
EXTERNAL = "v1beta1.external.metrics.k8s.io"
CUSTOM = "v1beta2.custom.metrics.k8s.io"
PROMETHEUS_ADAPTER = ("monitoring", "prometheus-adapter")
KEDA_METRICS = ("keda", "keda-operator-metrics-apiserver")


@dataclass
class Preflight:
    cluster: ClusterStandIn
    kubeconfig: Path
    workdir: Path
    capsys: pytest.CaptureFixture[str]

    def run(self, *, config: dict[str, object] | None = None) -> tuple[int, str]:
        args = ["preflight", "--kubeconfig", str(self.kubeconfig)]
        if config is not None:
            path = self.workdir / "config.yaml"
            path.write_text(yaml.safe_dump(config))
            args += ["--config", str(path)]
        code = main(args)
        return code, self.capsys.readouterr().out


@pytest.fixture
def preflight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Preflight]:
    """A cluster with a complete front-proxy configuration and nothing else."""
    with cluster_stand_in() as cluster:
        cluster.authentication = front_proxy()
        yield Preflight(cluster, cluster.write_kubeconfig(tmp_path / "kubeconfig"), tmp_path, capsys)


def _path(report: str) -> str:
    return next(line for line in report.splitlines() if line.startswith("Install path:"))


def test_a_cluster_without_any_adapter_gets_foresights_own_apiservices(preflight: Preflight) -> None:
    code, report = preflight.run()
    assert code == 0, report
    assert _path(report) == "Install path: own APIServices"
    assert "kustomize: manifests/ (the complete deployment)" in report
    assert f"{EXTERNAL}: not registered" in report and "Clear: it takes no metrics from anyone." in report
    assert "Prometheus: not checked (no --config)" in report


def test_prometheus_adapter_holding_external_metrics_gets_the_upstream_proxy(preflight: Preflight) -> None:
    preflight.cluster.apiservices[EXTERNAL] = apiservice(EXTERNAL, PROMETHEUS_ADAPTER)
    code, report = preflight.run()
    assert code == 0, report
    assert _path(report) == "Install path: upstream proxy"
    assert f"{EXTERNAL}: monitoring/prometheus-adapter:443, Available" in report
    assert "kustomize: manifests/ with manifests/components/upstream" in report
    config = yaml.safe_load("\n".join(line[4:] for line in report.splitlines() if line.startswith("    ")))
    assert config == {"upstream": {"external": {
        "url": "https://prometheus-adapter.monitoring.svc", "ca_file": "/var/run/upstream/ca.crt",
        "cert_file": "/var/run/upstream/tls.crt", "key_file": "/var/run/upstream/tls.key",
    }}}
    settings_from_mapping(config, source="the preflight report")  # a section Foresight's config takes as it is


def test_keda_gets_the_external_scaler_and_keeps_external_metrics(preflight: Preflight) -> None:
    preflight.cluster.apiservices[EXTERNAL] = apiservice(EXTERNAL, KEDA_METRICS)
    preflight.cluster.crds.add("scaledobjects.keda.sh")
    preflight.cluster.deployments.append(keda_operator())
    code, report = preflight.run()
    assert code == 0, report
    assert _path(report) == "Install path: KEDA external scaler"
    assert "kustomize: manifests/ with manifests/components/keda" in report
    assert "KEDA: CRD scaledobjects.keda.sh present; operator keda/keda-operator (1/1 ready)" in report
    assert "config.yaml:" not in report


def test_keda_beside_prometheus_adapter_on_custom_metrics_also_forwards_custom(preflight: Preflight) -> None:
    preflight.cluster.apiservices[EXTERNAL] = apiservice(EXTERNAL, KEDA_METRICS)
    preflight.cluster.apiservices["v1beta1.custom.metrics.k8s.io"] = apiservice("v1beta1.custom.metrics.k8s.io", PROMETHEUS_ADAPTER)
    preflight.cluster.crds.add("scaledobjects.keda.sh")
    preflight.cluster.deployments.append(keda_operator())
    code, report = preflight.run()
    assert code == 0, report
    assert "kustomize: manifests/ with manifests/components/keda, manifests/components/upstream" in report
    assert "    upstream:\n      custom:\n        url: https://prometheus-adapter.monitoring.svc\n" in report


def test_an_unavailable_apiservice_blocks_the_path(preflight: Preflight) -> None:
    preflight.cluster.apiservices[CUSTOM] = apiservice(
        CUSTOM, PROMETHEUS_ADAPTER, available=False, reason="FailedDiscoveryCheck",
        message="failing or missing response from https://10.96.0.12:443",
    )
    code, report = preflight.run()
    assert code == 1, report
    assert f"{CUSTOM}: monitoring/prometheus-adapter:443, NOT Available (FailedDiscoveryCheck failing" in report
    [blocked] = [line for line in report.splitlines() if line.startswith("Blocked:")]
    assert CUSTOM in blocked and "Repair that adapter, or delete the APIService" in blocked
    assert report.rstrip().endswith("Not clear yet.")


def test_a_missing_front_proxy_ca_blocks_every_path(preflight: Preflight) -> None:
    preflight.cluster.authentication = front_proxy(ca=False)
    code, report = preflight.run()
    assert code == 1, report
    assert "Front proxy (kube-system/extension-apiserver-authentication): missing requestheader-client-ca-file" in report
    assert any(line.startswith("Blocked:") and "--requestheader-client-ca-file" in line for line in report.splitlines())


def test_foresights_own_registration_is_not_someone_elses(preflight: Preflight) -> None:
    for name in (EXTERNAL, CUSTOM):
        preflight.cluster.apiservices[name] = apiservice(name, ("foresight", "foresight"))
    code, report = preflight.run()
    assert code == 0, report
    assert _path(report) == "Install path: own APIServices"


def test_a_cluster_that_refuses_the_reader_is_a_failure_with_the_reason(preflight: Preflight) -> None:
    preflight.kubeconfig.write_text(preflight.kubeconfig.read_text().replace("preflight-token", "forged"))
    code, report = preflight.run()
    assert code == 1
    assert "cannot read APIService v1beta1.external.metrics.k8s.io: the Kubernetes API answered 401" in report


def test_the_series_the_presets_read_are_visible_from_the_configured_prometheus(
    preflight: Preflight, prometheus: PrometheusServer
) -> None:
    code, report = preflight.run(config={"prometheus": {"url": prometheus.url}})
    assert code == 0, report
    for check in ("kube-state-metrics", "pod label app on kube_pod_labels", "dcgm-exporter or the NVML exporter",
                  "vllm series"):
        assert any(line.strip().startswith(check) and line.endswith(": visible") for line in report.splitlines()), check
    # series a config expects and Prometheus does not hold are warned of, and do not block
    code, report = preflight.run(config={
        "prometheus": {"url": prometheus.url}, "signals": {"server": "tgi"},
        "forecasts": {"workloads": [{"namespace": "inference", "selector": "team=search"}]},
    })
    assert code == 0, report
    assert "  tgi series: NOT visible" in report
    assert "  pod label team on kube_pod_labels (--metric-labels-allowlist=pods=[team,...]): NOT visible" in report
    assert any(line.startswith("Warning: no tgi series") for line in report.splitlines())


def test_a_prometheus_that_does_not_answer_blocks_the_path(preflight: Preflight) -> None:
    code, report = preflight.run(config={"prometheus": {"url": f"http://127.0.0.1:{free_port()}", "timeout": "2s"}})
    assert code == 1, report
    assert any(line.startswith("Blocked: Prometheus does not answer") for line in report.splitlines())
