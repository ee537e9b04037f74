"""The OpenAPI documents themselves: a Swagger 2.0 and OpenAPI 3.0 structure whose references all
resolve, the kinds ``kubectl explain`` looks up where it looks, schemas that the wire format's own
lists satisfy, and meta models that agree with Kubernetes' own."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft4Validator
from kubernetes_validate.utils import schema_contents  # type: ignore[import-untyped]

from adapter.kubernetes import wire
from adapter.kubernetes.selectors import parse_selector
from adapter.serving import openapi

EXTERNAL_METRICS = ("queue_depth", "requests_per_second", "requests_per_second_forecast")
POD_METRICS = ("gpu_utilization", "queue_depth")
DOCUMENTS = openapi.documents(EXTERNAL_METRICS, POD_METRICS)
V2: dict[str, Any] = json.loads(DOCUMENTS["/openapi/v2"].body)
GROUP_VERSIONS = [("external.metrics.k8s.io", "v1beta1"), ("custom.metrics.k8s.io", "v1beta2")]
EXPECTED_PATHS = {
    **{f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{{namespace}}/{metric}": "external.metrics.k8s.io"
       for metric in EXTERNAL_METRICS},
    **{f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{{namespace}}/pods/{{name}}/{metric}": "custom.metrics.k8s.io"
       for metric in POD_METRICS},
}


def v3(group: str, version: str) -> dict[str, Any]:
    return json.loads(DOCUMENTS[f"/openapi/v3/apis/{group}/{version}"].body)  # type: ignore[no-any-return]


def refs(node: object) -> Iterator[str]:
    """Every ``$ref`` value in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def reached(paths: dict[str, Any], models: dict[str, Any], prefix: str) -> set[str]:
    """The models reached from ``paths`` through references, each reference resolving to a model."""
    seen: set[str] = set()
    pending = list(refs(paths))
    while pending:
        ref = pending.pop()
        assert ref.startswith(prefix) and ref.removeprefix(prefix) in models, f"{ref} does not resolve"
        name = ref.removeprefix(prefix)
        if name not in seen:
            seen.add(name)
            pending.extend(refs(models[name]))
    return seen


def check_operations(paths: dict[str, Any], *, v3: bool) -> None:
    """One GET per path, with a unique operation id, its path parameters exactly those of the
    template, and a 200 answer with a schema."""
    ids = []
    for path, item in paths.items():
        assert list(item) == ["get"], path
        operation = item["get"]
        ids.append(operation["operationId"])
        for parameter in operation["parameters"]:
            assert parameter["in"] in ("path", "query") and parameter["required"] == (parameter["in"] == "path")
            assert (parameter["schema"] if v3 else parameter)["type"] == "string"
        templated = set(re.findall(r"\{(\w+)\}", path))
        assert {p["name"] for p in operation["parameters"] if p["in"] == "path"} == templated, path
        ok = operation["responses"]["200"]
        assert "$ref" in (ok["content"]["application/json"]["schema"] if v3 else ok["schema"])
    assert len(ids) == len(set(ids)), ids


def test_v2_is_a_swagger_document_with_one_get_per_served_metric() -> None:
    assert V2["swagger"] == "2.0" and V2["info"]["title"] and V2["info"]["version"]
    assert set(V2["paths"]) == set(EXPECTED_PATHS)
    check_operations(V2["paths"], v3=False)
    for name, model in V2["definitions"].items():
        Draft4Validator.check_schema(model)  # Swagger 2.0 schemas are JSON Schema draft 4 plus x- fields
        assert model["description"], name


def test_every_v2_reference_resolves_and_every_definition_is_reached() -> None:
    """The aggregator keeps only the models its paths reach: an unreached one would be lost."""
    assert reached(V2["paths"], V2["definitions"], "#/definitions/") == set(V2["definitions"])


@pytest.mark.parametrize(("group", "version"), GROUP_VERSIONS)
def test_v3_documents_hold_their_group_and_every_reference_resolves(group: str, version: str) -> None:
    document = v3(group, version)
    assert document["openapi"].startswith("3.0.") and document["info"]["title"]
    assert set(document["paths"]) == {path for path, owner in EXPECTED_PATHS.items() if owner == group}
    check_operations(document["paths"], v3=True)
    schemas = document["components"]["schemas"]
    for model in schemas.values():
        Draft4Validator.check_schema(model)
    assert reached(document["paths"], schemas, "#/components/schemas/") == set(schemas)


def test_v3_discovery_links_each_group_version_by_the_etag_of_its_document() -> None:
    discovery = json.loads(DOCUMENTS["/openapi/v3"].body)
    assert discovery == {
        "paths": {
            f"apis/{group}/{version}": {
                "serverRelativeURL": f"/openapi/v3/apis/{group}/{version}?hash={DOCUMENTS[f'/openapi/v3/apis/{group}/{version}'].etag}"
            }
            for group, version in GROUP_VERSIONS
        }
    }


@pytest.mark.parametrize(
    ("group", "version", "path", "kind", "model"),
    [
        ("external.metrics.k8s.io", "v1beta1", "namespaces/{namespace}/queue_depth", "ExternalMetricValueList", openapi.EXTERNAL_LIST),
        ("custom.metrics.k8s.io", "v1beta2", "namespaces/{namespace}/pods/{name}/gpu_utilization", "MetricValueList", openapi.CUSTOM_LIST),
    ],
)
def test_kubectl_explain_finds_the_kind_of_a_metric_by_its_path(group: str, version: str, path: str, kind: str, model: str) -> None:
    """kubectl explain reads the GVK off the operation of /apis/<g>/<v>/namespaces/{namespace}/<resource>,
    then takes the one schema carrying that GVK."""
    document = v3(group, version)
    gvk = document["paths"][f"/apis/{group}/{version}/{path}"]["get"]["x-kubernetes-group-version-kind"]
    assert gvk == {"group": group, "kind": kind, "version": version}
    carrying = [name for name, schema in document["components"]["schemas"].items()
                if gvk in schema.get("x-kubernetes-group-version-kind", [])]
    assert carrying == [model]
    assert V2["definitions"][model]["x-kubernetes-group-version-kind"] == [gvk]


def test_the_value_kinds_carry_their_group_version_kind() -> None:
    assert V2["definitions"][openapi.EXTERNAL_VALUE]["x-kubernetes-group-version-kind"] == [
        {"group": "external.metrics.k8s.io", "kind": "ExternalMetricValue", "version": "v1beta1"}
    ]
    assert V2["definitions"][openapi.CUSTOM_VALUE]["x-kubernetes-group-version-kind"] == [
        {"group": "custom.metrics.k8s.io", "kind": "MetricValue", "version": "v1beta2"}
    ]


EXTERNAL_LIST = wire.external_list(
    [wire.external_value("queue_depth_forecast", 2.5, labels={"foresight.io/state": "ready"}, timestamp=1.7e9, window_seconds=300)]
)
CUSTOM_LIST = wire.custom_list(
    [wire.pod_value("gpu_utilization", 71.25, namespace="default", pod="llama-0",
                    metric_selector=parse_selector("gpu in (a100,h100),!canary,model=llama"),
                    timestamp=1.7e9, window_seconds=60)]
)


@pytest.mark.parametrize(("instance", "model", "group", "version"), [
    (EXTERNAL_LIST, openapi.EXTERNAL_LIST, "external.metrics.k8s.io", "v1beta1"),
    (CUSTOM_LIST, openapi.CUSTOM_LIST, "custom.metrics.k8s.io", "v1beta2"),
])
def test_the_lists_foresight_serves_satisfy_both_documents(instance: Any, model: str, group: str, version: str) -> None:
    """The wire format's lists, with labels and a metric selector set: Go marshals an empty label
    map and an absent selector as null too, which Kubernetes' OpenAPI leaves un-nullable."""
    Draft4Validator({"$ref": f"#/definitions/{model}", "definitions": V2["definitions"]}).validate(instance)
    schemas = v3(group, version)["components"]["schemas"]
    Draft4Validator({"$ref": f"#/components/schemas/{model}", "components": {"schemas": schemas}}).validate(instance)


def test_a_wrong_value_fails_the_schema() -> None:
    """The check above can fail: a window that is not an integer is refused."""
    broken = json.loads(json.dumps(EXTERNAL_LIST))
    broken["items"][0]["window"] = "5m"
    assert not Draft4Validator({"$ref": f"#/definitions/{openapi.EXTERNAL_LIST}", "definitions": V2["definitions"]}).is_valid(broken)


KUBERNETES = schema_contents("kubernetes-json-schema/v1.37.0-local/_definitions.json", "1.37")["$defs"]


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared) - {"null"}


@pytest.mark.parametrize(
    "name", [openapi.LIST_META, openapi.TIME, openapi.OBJECT_REFERENCE, openapi.LABEL_SELECTOR, openapi.LABEL_SELECTOR_REQUIREMENT]
)
def test_meta_models_agree_with_kubernetes_own(name: str) -> None:
    """Each field we describe exists in Kubernetes 1.37's model with the same type, format, item
    type and list/map semantics, and the same fields are required."""
    ours, theirs = V2["definitions"][name], KUBERNETES[name]
    assert _types(ours) == _types(theirs) and ours.get("format") == theirs.get("format")
    assert ours.get("x-kubernetes-map-type") == theirs.get("x-kubernetes-map-type")
    assert set(ours.get("required", [])) == set(theirs.get("required", []))
    for field, schema in ours.get("properties", {}).items():
        kubernetes_field = theirs["properties"][field]
        assert _types(schema) == _types(kubernetes_field), field
        assert schema.get("format") == kubernetes_field.get("format"), field
        assert schema.get("x-kubernetes-list-type") == kubernetes_field.get("x-kubernetes-list-type"), field
        ours_items, their_items = schema.get("items", {}), kubernetes_field.get("items", {})
        assert ours_items.get("$ref", "").split("/")[-1] == their_items.get("$ref", "").split("/")[-1], field
        assert _types(ours_items) == _types(their_items), field


def test_quantity_is_a_string_in_v2_and_a_string_or_number_in_v3_as_in_kubernetes() -> None:
    assert V2["definitions"][openapi.QUANTITY]["type"] == "string"
    ours = v3("external.metrics.k8s.io", "v1beta1")["components"]["schemas"][openapi.QUANTITY]["oneOf"]
    assert [_types(option) for option in ours] == [_types(option) for option in KUBERNETES[openapi.QUANTITY]["oneOf"]]


def test_documents_without_pod_metrics_still_describe_the_custom_group() -> None:
    """With no per-pod rule the custom group is still listed, with nothing in it."""
    documents = openapi.documents(EXTERNAL_METRICS, ())
    custom = json.loads(documents["/openapi/v3/apis/custom.metrics.k8s.io/v1beta2"].body)
    assert custom["paths"] == {} and custom["components"]["schemas"] == {}
    assert all("custom.metrics" not in path for path in json.loads(documents["/openapi/v2"].body)["paths"])


def test_operation_ids_of_similar_metric_names_differ() -> None:
    document = json.loads(openapi.documents(("a_1b", "a1b", "a_b", "ab"), ())["/openapi/v2"].body)
    ids = [item["get"]["operationId"] for item in document["paths"].values()]
    assert len(set(ids)) == 4, ids
