"""The ways manifests/README.md tells users to change the deployment work as it says: the
own-certificate overlay, and each kustomization of their own it shows."""

from __future__ import annotations

import base64
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from .conftest import OwnCertificate
from .render import MANIFESTS, NAMESPACE, SITES, Object, Rendered, render_site


def _prometheus_bindings(rendered: Rendered) -> list[Object]:
    return [
        item for item in [*rendered.of_kind("ClusterRoleBinding"), *rendered.of_kind("RoleBinding")]
        if item["metadata"]["labels"].get("foresight.io/subject") == "prometheus"
    ]


def test_own_certificate_goes_into_both_apiservices(own_certificate: OwnCertificate) -> None:
    apiservices = own_certificate.rendered.of_kind("APIService")
    assert len(apiservices) == 2
    for apiservice in apiservices:
        assert base64.b64decode(apiservice["spec"]["caBundle"]) == own_certificate.ca_pem


def test_own_certificate_is_a_tls_secret_with_its_ca(own_certificate: OwnCertificate) -> None:
    secret = own_certificate.rendered.one("Secret", "foresight-serving-cert", NAMESPACE)
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["data"].keys() == {"tls.crt", "tls.key", "ca.crt"}
    assert base64.b64decode(secret["data"]["ca.crt"]) == own_certificate.ca_pem


def test_own_certificate_needs_no_cert_manager(own_certificate: OwnCertificate) -> None:
    rendered = own_certificate.rendered
    assert not rendered.of_kind("Certificate") and not rendered.of_kind("Issuer")
    for apiservice in rendered.of_kind("APIService"):
        assert "cert-manager.io/inject-ca-from" not in apiservice["metadata"].get("annotations", {})


def test_own_certificate_files_are_kept_out_of_git() -> None:
    ignored = (MANIFESTS / "overlays" / "own-certificate" / ".gitignore").read_text(encoding="utf-8").split()
    assert {"tls.crt", "tls.key", "ca.crt", "ca.key"} <= set(ignored)


def test_readme_shows_each_kind_of_site_kustomization() -> None:
    assert len(SITES) == 7, sorted(SITES)


@pytest.mark.parametrize("purpose", sorted(SITES))
def test_readme_kustomization_renders_valid_objects(tmp_path: Path, purpose: str) -> None:
    config = (MANIFESTS / "base" / "config.yaml").read_text(encoding="utf-8")
    for item in render_site(tmp_path, purpose, config=config):
        if not item["apiVersion"].startswith(("monitoring.coreos.com/", "cert-manager.io/", "keda.sh/")):
            kubernetes_validate.validate(item, "1.37", strict=True)


def test_readme_image_override_reaches_every_container(tmp_path: Path) -> None:
    rendered = render_site(tmp_path, "the image from your registry")
    images = {
        container["image"]
        for workload in [*rendered.of_kind("Deployment"), *rendered.of_kind("DaemonSet")]
        for container in workload["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"registry.example.com/foresight:0.1.0"}


def test_readme_config_replaces_the_shipped_one(tmp_path: Path) -> None:
    config = "prometheus:\n  url: http://thanos-query.observability.svc:9090\n"
    rendered = render_site(tmp_path, "your config.yaml instead of the shipped one", config=config)
    [config_map] = rendered.of_kind("ConfigMap")
    assert config_map["metadata"]["name"] == "foresight-config"
    assert config_map["data"] == {"config.yaml": config}


def test_readme_prometheus_patch_rebinds_every_prometheus_grant(tmp_path: Path, deployment: Rendered) -> None:
    rendered = render_site(tmp_path, "a Prometheus in namespace observability, service account prometheus")
    bindings = _prometheus_bindings(rendered)
    assert len(bindings) == len(_prometheus_bindings(deployment)) == 2
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "observability"}]
    egress = rendered.one("NetworkPolicy", "foresight", NAMESPACE)["spec"]["egress"]
    namespaces = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in egress for peer in rule.get("to", []) if "namespaceSelector" in peer
    }
    assert namespaces == {"observability", "kube-system"}


def test_readme_ingress_patch_limits_who_reaches_the_adapter(tmp_path: Path) -> None:
    rendered = render_site(tmp_path, "ingress only from the control plane and Prometheus")
    [rule] = rendered.one("NetworkPolicy", "foresight", NAMESPACE)["spec"]["ingress"]
    assert rule["from"][0] == {"ipBlock": {"cidr": "10.0.0.0/24"}}
    assert [port["port"] for port in rule["ports"]] == [6443]


def _thresholds(rendered: Rendered) -> dict[str, str]:
    [group] = rendered.one("PrometheusRule", "foresight-alert-thresholds", NAMESPACE)["spec"]["groups"]
    return {rule["record"]: rule["expr"] for rule in group["rules"]}


def test_readme_threshold_patch_sets_the_named_thresholds_only(tmp_path: Path, deployment: Rendered) -> None:
    rendered = render_site(tmp_path, "a 500 ms latency SLO and a 400 g/kWh grid")
    expected = _thresholds(deployment) | {
        "foresight:request_latency_seconds:slo_p99": "0.5",
        "foresight:grid_carbon_intensity:grams_per_kwh": "400",
    }
    assert _thresholds(rendered) == expected != _thresholds(deployment)
