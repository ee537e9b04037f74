"""components/keda as manifests/README.md adds it, and its example ScaledObjects: the scaler's port
reaches the pods, KEDA's certificate is one the scaler trusts, KEDA keeps external.metrics.k8s.io,
and every object is valid (KEDA's own against the schemas of its CRDs, vendored in crds/)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from adapter.keda.trigger import parse_trigger
from adapter.settings.forecast_names import parse_forecast_metric

from .conftest import SERVICE_DNS_NAME, ShippedConfig
from .render import MANIFESTS, NAMESPACE, Object, Rendered, kustomize, only_container, pod_spec, render_site

SITE = "the KEDA external scaler, leaving external.metrics.k8s.io to KEDA"
CRDS = Path(__file__).parent / "crds"
CUSTOM_GROUPS = ("keda.sh/", "cert-manager.io/", "monitoring.coreos.com/")


@pytest.fixture(scope="module")
def with_keda(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_site(tmp_path_factory.mktemp("keda"), SITE)


@pytest.fixture(scope="module")
def scaled_objects() -> list[Object]:
    rendered = Rendered(kustomize(MANIFESTS / "components" / "keda" / "examples"))
    assert {item["kind"] for item in rendered} == {"ScaledObject"}
    return list(rendered)


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever it names the fields, as kubectl's strict
    field validation refuses them."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@cache
def _crd_schema(kind: str) -> Any:
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        if crd["spec"]["names"]["kind"] == kind:
            [version] = [version for version in crd["spec"]["versions"] if version["storage"]]
            return _strict(version["schema"]["openAPIV3Schema"])
    raise AssertionError(f"no CRD for {kind} in {CRDS}")


def _validate_custom(item: Object) -> None:
    jsonschema.validate(item, _crd_schema(item["kind"]))


def _args(rendered: Rendered) -> list[str]:
    return list(only_container(rendered.adapter)["args"])


def _flag(rendered: Rendered, flag: str) -> str:
    args = _args(rendered)
    return args[args.index(flag) + 1]


def test_keda_keeps_external_metrics_and_foresight_keeps_custom(with_keda: Rendered) -> None:
    names = {item["metadata"]["name"] for item in with_keda.of_kind("APIService")}
    assert names == {"v1beta2.custom.metrics.k8s.io"}


def test_the_scaler_port_reaches_the_pods(with_keda: Rendered) -> None:
    container = only_container(with_keda.adapter)
    [port] = [port for port in container["ports"] if port["name"] == "keda"]
    assert str(port["containerPort"]) == _flag(with_keda, "--keda-port")
    service = with_keda.one("Service", "foresight", NAMESPACE)
    assert {"name": "keda", "port": 9443, "targetPort": "keda", "protocol": "TCP"} in service["spec"]["ports"]


def test_the_scaler_trusts_the_ca_that_issued_kedas_certificate(with_keda: Rendered) -> None:
    client_ca = Path(_flag(with_keda, "--keda-client-ca"))
    [mount] = [mount for mount in only_container(with_keda.adapter)["volumeMounts"]
               if Path(mount["mountPath"]) == client_ca.parent]
    [volume] = [volume for volume in pod_spec(with_keda.adapter)["volumes"] if volume["name"] == mount["name"]]
    serving = with_keda.one("Certificate", volume["secret"]["secretName"], NAMESPACE)
    assert client_ca.name == "ca.crt"  # cert-manager's name for the issuing CA in the Secret
    keda = with_keda.one("Certificate", "foresight-keda-client", NAMESPACE)
    assert keda["spec"]["issuerRef"] == serving["spec"]["issuerRef"]
    assert keda["spec"]["usages"] == ["client auth"] and serving["spec"]["usages"] == ["server auth"]
    issuers = [item for item in with_keda.of_kind("Certificate") if item["spec"]["issuerRef"] == serving["spec"]["issuerRef"]]
    assert len(issuers) == 2, "the CA the scaler trusts issues nothing but these two"


def test_keda_authenticates_with_the_secret_cert_manager_writes(with_keda: Rendered) -> None:
    keda = with_keda.one("Certificate", "foresight-keda-client", NAMESPACE)
    [authentication] = with_keda.of_kind("ClusterTriggerAuthentication")
    references = {ref["parameter"]: (ref["name"], ref["key"]) for ref in authentication["spec"]["secretTargetRef"]}
    secret = keda["spec"]["secretName"]
    assert references == {"caCert": (secret, "ca.crt"), "tlsClientCert": (secret, "tls.crt"),
                          "tlsClientKey": (secret, "tls.key")}


def test_network_policy_admits_the_keda_operator_to_the_scaler(with_keda: Rendered) -> None:
    ingress = with_keda.one("NetworkPolicy", "foresight", NAMESPACE)["spec"]["ingress"]
    [rule] = [rule for rule in ingress if {"port": 9443, "protocol": "TCP"} in rule["ports"]]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
                             "podSelector": {"matchLabels": {"app": "keda-operator"}}}]


@pytest.mark.parametrize("version", ["1.30", "1.37"])
def test_every_object_is_valid(with_keda: Rendered, scaled_objects: list[Object], version: str) -> None:
    for item in [*with_keda, *scaled_objects]:
        if item["apiVersion"].startswith("keda.sh/"):
            _validate_custom(item)
        elif not item["apiVersion"].startswith(CUSTOM_GROUPS):
            kubernetes_validate.validate(item, version, strict=True)


def test_the_crd_schemas_refuse_a_misspelt_field(scaled_objects: list[Object]) -> None:
    misspelt = {**scaled_objects[0], "spec": {**scaled_objects[0]["spec"], "minReplicas": 1}}
    with pytest.raises(jsonschema.ValidationError):
        _validate_custom(misspelt)


def _triggers(scaled_object: Object) -> list[Object]:
    return list(scaled_object["spec"]["triggers"])


def test_example_triggers_ask_the_scaler_for_served_metrics(
    scaled_objects: list[Object], with_keda: Rendered, shipped_config: ShippedConfig
) -> None:
    service = with_keda.one("Service", "foresight", NAMESPACE)
    [port] = [port["port"] for port in service["spec"]["ports"] if port["name"] == "keda"]
    [authentication] = with_keda.of_kind("ClusterTriggerAuthentication")
    for scaled_object in scaled_objects:
        assert scaled_object["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llama"}
        for trigger in _triggers(scaled_object):
            assert trigger["type"] in ("external", "external-push")
            assert trigger["metadata"]["scalerAddress"] == f"{SERVICE_DNS_NAME}:{port}"
            assert trigger["authenticationRef"] == {"kind": "ClusterTriggerAuthentication",
                                                    "name": authentication["metadata"]["name"]}
            parsed = parse_trigger("inference", trigger["metadata"])
            assert parsed.metric in shipped_config.served_metrics
            assert parsed.selector == "app=llama"


def _example(scaled_objects: list[Object], name: str) -> Object:
    [scaled_object] = [item for item in scaled_objects if item["metadata"]["name"] == name]
    return scaled_object


def test_scale_to_zero_example_is_activated_by_a_forecast(
    scaled_objects: list[Object], shipped_config: ShippedConfig
) -> None:
    scaled_object = _example(scaled_objects, "llama-scale-to-zero")
    assert scaled_object["spec"]["minReplicaCount"] == 0
    [trigger] = _triggers(scaled_object)
    assert trigger["type"] == "external-push"  # activity is streamed as it changes
    signal, _ = parse_forecast_metric(trigger["metadata"]["metric"]) or (trigger["metadata"]["metric"], None)
    assert signal in shipped_config.settings.forecasts.signals, "activity looks ahead only for forecast signals"


def test_predictive_example_pairs_demand_with_its_forecast(
    scaled_objects: list[Object], shipped_config: ShippedConfig
) -> None:
    scaled_object = _example(scaled_objects, "llama-predictive")
    targets = {trigger["metadata"]["metric"]: trigger["metadata"]["target"] for trigger in _triggers(scaled_object)}
    assert targets.keys() == {"requests_per_second", "requests_per_second_forecast"}
    assert len(set(targets.values())) == 1
    assert scaled_object["spec"]["fallback"]["replicas"] >= scaled_object["spec"]["minReplicaCount"]
    behavior = scaled_object["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0, "waiting throws the forecast's lead away"
    forecasts = shipped_config.settings.forecasts
    assert isinstance(forecasts.lead, float)
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= forecasts.lead + forecasts.window


def test_the_crds_are_vendored_with_their_source() -> None:
    note = (CRDS / "README.md").read_text(encoding="utf-8")
    assert "Apache" in note and "github.com/kedacore/keda" in note
    assert {path.name for path in CRDS.glob("*.yaml")} <= set(note.split())
