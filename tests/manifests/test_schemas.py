"""Every rendered object is valid: core objects against the Kubernetes OpenAPI schemas (offline,
bundled with kubernetes-validate, strict: unknown fields are errors), custom resources by hand."""

from __future__ import annotations

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from .render import Object, Rendered

# The oldest release the manifests use features of (PDB unhealthyPodEvictionPolicy, topology
# spread matchLabelKeys, the preStop sleep action), and the newest the package bundles.
KUBERNETES_VERSIONS = ("1.30", "1.37")
CUSTOM_RESOURCE_GROUPS = {"monitoring.coreos.com", "cert-manager.io"}


def _group(item: Object) -> str:
    api_version: str = item["apiVersion"]
    return api_version.rpartition("/")[0]


def _is_custom(item: Object) -> bool:
    return _group(item) in CUSTOM_RESOURCE_GROUPS


def _name(item: Object) -> str:
    return f"{item['kind']} {item['metadata'].get('namespace', '')}/{item['metadata']['name']}"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_match_the_kubernetes_schemas(rendering: Rendered, examples: Rendered, version: str) -> None:
    checked = 0
    for item in [*rendering, *examples]:
        if _is_custom(item):
            continue
        try:
            kubernetes_validate.validate(item, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{_name(item)} is not valid in Kubernetes {version}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            pytest.fail(f"{_name(item)}: {error.message}")
        checked += 1
    assert checked >= 20


def test_objects_are_core_or_known_custom_resources(rendering: Rendered) -> None:
    """A custom resource of another group would escape both the schemas and the checks below."""
    for item in rendering:
        group = _group(item)
        assert group in CUSTOM_RESOURCE_GROUPS or "." not in group or group.endswith(".k8s.io"), _name(item)


def test_service_monitors_have_their_required_fields(deployment: Rendered) -> None:
    monitors = deployment.of_kind("ServiceMonitor")
    assert len(monitors) == 2
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        spec = monitor["spec"]
        assert spec["selector"]["matchLabels"], _name(monitor)
        assert spec["endpoints"], _name(monitor)
        for endpoint in spec["endpoints"]:
            assert endpoint["port"], _name(monitor)
            assert endpoint.get("scheme", "http") in ("http", "https"), _name(monitor)


def test_cert_manager_objects_have_their_required_fields(deployment: Rendered) -> None:
    issuers = deployment.of_kind("Issuer")
    certificates = deployment.of_kind("Certificate")
    assert issuers and certificates
    issuer_types = {"selfSigned", "ca", "acme", "vault", "venafi"}
    for issuer in issuers:
        assert issuer["apiVersion"] == "cert-manager.io/v1"
        assert len(issuer_types & issuer["spec"].keys()) == 1, _name(issuer)
    issuer_names = {issuer["metadata"]["name"] for issuer in issuers}
    for certificate in certificates:
        assert certificate["apiVersion"] == "cert-manager.io/v1"
        spec = certificate["spec"]
        assert spec["secretName"], _name(certificate)
        assert spec["issuerRef"]["kind"] == "Issuer" and spec["issuerRef"]["name"] in issuer_names, _name(certificate)
        assert spec.get("dnsNames") or spec.get("commonName"), _name(certificate)


def test_every_object_carries_the_app_labels(rendering: Rendered, examples: Rendered) -> None:
    for item in [*rendering, *examples]:
        labels = item["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/name") and labels.get("app.kubernetes.io/part-of"), _name(item)
