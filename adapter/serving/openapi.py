"""The OpenAPI documents of the two metrics APIs: ``/openapi/v2`` (Swagger 2.0) and ``/openapi/v3``
(the discovery of one OpenAPI 3.0 document per group-version).

The kube-apiserver's aggregator downloads them to merge into its own OpenAPI, which is what
``kubectl explain`` and typed clients read; without them it logs a failed download for every
APIService each minute. The models are the k8s.io/metrics types under the names the Go generators
give them (``io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValueList``), with the
meta types they refer to; the paths are the GET endpoints of the metrics discovery lists. The
aggregator keeps only an APIService's own ``/apis/<group>/<version>/`` paths and the models they
reach, so every model here is reached from a path. The documents change only with the metrics
served, so each is rendered once per set of metric names, with the ETag kube-openapi would give it.

Pure: no server imports.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from adapter import __version__
from adapter.kubernetes.wire import CUSTOM_GROUP, CUSTOM_VERSION, EXTERNAL_GROUP, EXTERNAL_VERSION, GROUP_VERSIONS

V2_PATH = "/openapi/v2"
V3_PATH = "/openapi/v3"

EXTERNAL_VALUE = "io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValue"
EXTERNAL_LIST = "io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValueList"
CUSTOM_VALUE = "io.k8s.metrics.pkg.apis.custom_metrics.v1beta2.MetricValue"
CUSTOM_LIST = "io.k8s.metrics.pkg.apis.custom_metrics.v1beta2.MetricValueList"
METRIC_IDENTIFIER = "io.k8s.metrics.pkg.apis.custom_metrics.v1beta2.MetricIdentifier"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
OBJECT_REFERENCE = "io.k8s.api.core.v1.ObjectReference"
LABEL_SELECTOR = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
LABEL_SELECTOR_REQUIREMENT = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement"

Spec = Literal["v2", "v3"]
Schema = dict[str, Any]
_REF_PREFIX: dict[Spec, str] = {"v2": "#/definitions/", "v3": "#/components/schemas/"}
_INFO = {"title": "Foresight", "version": __version__}


@dataclass(frozen=True)
class Ref:
    """A reference to a model: ``$ref`` in v2; in v3, where it carries a description, wrapped in
    ``allOf`` as kube-openapi writes it (OpenAPI 3.0 ignores a ``$ref``'s siblings)."""

    model: str
    description: str = ""


def _string(description: str) -> Schema:
    return {"description": description, "type": "string"}


def _int64(description: str) -> Schema:
    return {"description": description, "type": "integer", "format": "int64"}


def _gvk(group: str, version: str, kind: str) -> list[dict[str, str]]:
    return [{"group": group, "kind": kind, "version": version}]


_KIND = _string("The kind of this object, in CamelCase.")
_API_VERSION = _string("The group and version of this object's schema, e.g. external.metrics.k8s.io/v1beta1.")
_TIMESTAMP = Ref(TIME, "when the value was produced")
_WINDOW = "the window [timestamp - window, timestamp] a rate or aggregate was computed over, in seconds"


def _metric_list(description: str, item: str, group: str, version: str, kind: str) -> Schema:
    return {
        "description": description,
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": _API_VERSION,
            "kind": _KIND,
            "metadata": Ref(LIST_META, "the metadata of the list; Foresight leaves it empty"),
            "items": {"description": "the values", "type": "array", "items": Ref(item)},
        },
        "x-kubernetes-group-version-kind": _gvk(group, version, kind),
    }


_MODELS: dict[str, Schema] = {
    EXTERNAL_LIST: _metric_list(
        "ExternalMetricValueList is the values of an external metric for one label selector.",
        EXTERNAL_VALUE, EXTERNAL_GROUP, EXTERNAL_VERSION, "ExternalMetricValueList",
    ),
    EXTERNAL_VALUE: {
        "description": "ExternalMetricValue is one value of an external metric: the series named by the metric and its labels.",
        "type": "object",
        "required": ["metricName", "metricLabels", "timestamp", "value"],
        "properties": {
            "apiVersion": _API_VERSION,
            "kind": _KIND,
            "metricName": _string("the name of the metric"),
            "metricLabels": {
                "description": "the labels of the series this value belongs to",
                "type": "object",
                "additionalProperties": {"type": "string"},
            },
            "timestamp": _TIMESTAMP,
            "window": _int64(_WINDOW),
            "value": Ref(QUANTITY, "the value of the metric"),
        },
        "x-kubernetes-group-version-kind": _gvk(EXTERNAL_GROUP, EXTERNAL_VERSION, "ExternalMetricValue"),
    },
    CUSTOM_LIST: _metric_list(
        "MetricValueList is the values of a metric for a set of described objects.",
        CUSTOM_VALUE, CUSTOM_GROUP, CUSTOM_VERSION, "MetricValueList",
    ),
    CUSTOM_VALUE: {
        "description": "MetricValue is the value of a metric for one described object.",
        "type": "object",
        "required": ["describedObject", "metric", "timestamp", "value"],
        "properties": {
            "apiVersion": _API_VERSION,
            "kind": _KIND,
            "describedObject": Ref(OBJECT_REFERENCE, "the object the value describes"),
            "metric": Ref(METRIC_IDENTIFIER),
            "timestamp": _TIMESTAMP,
            "windowSeconds": _int64(_WINDOW),
            "value": Ref(QUANTITY, "the value of the metric for the described object"),
        },
        "x-kubernetes-group-version-kind": _gvk(CUSTOM_GROUP, CUSTOM_VERSION, "MetricValue"),
    },
    METRIC_IDENTIFIER: {
        "description": "MetricIdentifier names a metric and, optionally, the selector of its series.",
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": _string("the name of the metric"),
            "selector": Ref(LABEL_SELECTOR, "the metric label selector of the request; null when it gave none"),
        },
    },
    LIST_META: {
        "description": "ListMeta is the metadata of a list.",
        "type": "object",
        "properties": {
            "continue": _string("set when the server has more items than it returned; opaque"),
            "remainingItemCount": _int64("how many items follow this chunk of the list, when known"),
            "resourceVersion": _string("the server's internal version of the list; opaque"),
            "selfLink": _string("deprecated and no longer set"),
        },
    },
    QUANTITY: {
        "description": "Quantity is a fixed-point number in the Kubernetes quantity format, e.g. 1500m, 12 or 3k. "
        "Foresight writes it in canonical form, rounded up to a whole milli-unit.",
        "type": "string",
    },
    TIME: {"description": "Time is an RFC 3339 timestamp at second precision.", "type": "string", "format": "date-time"},
    OBJECT_REFERENCE: {
        "description": "ObjectReference names a Kubernetes object.",
        "type": "object",
        "properties": {
            "apiVersion": _string("API version of the referent"),
            "fieldPath": _string("a field of the referent, when the reference is to part of it"),
            "kind": _string("kind of the referent"),
            "name": _string("name of the referent"),
            "namespace": _string("namespace of the referent"),
            "resourceVersion": _string("the resourceVersion of the referent this reference is to, if any"),
            "uid": _string("UID of the referent"),
        },
        "x-kubernetes-map-type": "atomic",
    },
    LABEL_SELECTOR: {
        "description": "A label selector: matchLabels and matchExpressions, ANDed.",
        "type": "object",
        "properties": {
            "matchExpressions": {
                "description": "requirements, ANDed",
                "type": "array",
                "items": Ref(LABEL_SELECTOR_REQUIREMENT),
                "x-kubernetes-list-type": "atomic",
            },
            "matchLabels": {
                "description": "key=value requirements, ANDed",
                "type": "object",
                "additionalProperties": {"type": "string"},
            },
        },
        "x-kubernetes-map-type": "atomic",
    },
    LABEL_SELECTOR_REQUIREMENT: {
        "description": "A requirement of a label selector: a key, an operator and values.",
        "type": "object",
        "required": ["key", "operator"],
        "properties": {
            "key": _string("the label key"),
            "operator": _string("In, NotIn, Exists or DoesNotExist"),
            "values": {
                "description": "the values, for In and NotIn",
                "type": "array",
                "items": {"type": "string"},
                "x-kubernetes-list-type": "atomic",
            },
        },
    },
}


def _model(name: str, spec: Spec) -> Schema:
    """A model as ``spec`` writes it: a Quantity is a string in v2 and, as kube-openapi says in v3,
    a string or a number (it parses both)."""
    model = _MODELS[name]
    if name == QUANTITY and spec == "v3":
        return {"description": model["description"], "oneOf": [{"type": "string"}, {"type": "number"}]}
    return model


@dataclass(frozen=True)
class Parameter:
    name: str
    location: Literal["path", "query"]
    description: str


@dataclass(frozen=True)
class Endpoint:
    """One GET endpoint Foresight serves: one metric of one group."""

    group: str
    version: str
    url: str
    action: str
    """The verb the request is authorised as (``x-kubernetes-action``)."""
    operation_id: str
    description: str
    returns: str
    """The model of a 200 answer."""
    kind: str
    parameters: tuple[Parameter, ...]


_NAMESPACE = Parameter("namespace", "path", "the namespace of the workload")
_LABEL_SELECTOR = Parameter("labelSelector", "query", "the label selector of the workload, in Kubernetes syntax")
_POD = Parameter("name", "path", "the name of the pod, or * for every pod the label selector picks")
_METRIC_LABEL_SELECTOR = Parameter("metricLabelSelector", "query", "a selector over the labels of the metric's series")


def _camel(metric: str) -> str:
    """``queue_depth`` as ``QueueDepth`` for an operation id; an underscore before a digit stays,
    so two metric names never give one id."""
    return re.sub(r"_([a-z])", lambda match: match[1].upper(), metric[:1].upper() + metric[1:])


def _endpoints(external_metrics: Iterable[str], pod_metrics: Iterable[str]) -> list[Endpoint]:
    """The endpoints of the metrics discovery lists. Each path names its metric, as the
    kube-apiserver's own paths name their resource: ``kubectl explain`` finds a resource's kind by
    the x-kubernetes-group-version-kind of ``/apis/<group>/<version>/namespaces/{namespace}/<resource>``."""
    external = [
        Endpoint(
            EXTERNAL_GROUP, EXTERNAL_VERSION, f"/apis/{EXTERNAL_GROUP}/{EXTERNAL_VERSION}/namespaces/{{namespace}}/{metric}",
            "list", f"listExternalMetricsV1beta1Namespaced{_camel(metric)}",
            f"the value of {metric} for the workload a label selector picks in a namespace",
            EXTERNAL_LIST, "ExternalMetricValueList", (_NAMESPACE, _LABEL_SELECTOR),
        )
        for metric in external_metrics
    ]
    pods = [
        Endpoint(
            CUSTOM_GROUP, CUSTOM_VERSION, f"/apis/{CUSTOM_GROUP}/{CUSTOM_VERSION}/namespaces/{{namespace}}/pods/{{name}}/{metric}",
            "get", f"readCustomMetricsV1beta2NamespacedPod{_camel(metric)}",
            f"the value of {metric} for one pod, or for each pod a label selector picks when the name is *",
            CUSTOM_LIST, "MetricValueList", (_NAMESPACE, _POD, _LABEL_SELECTOR, _METRIC_LABEL_SELECTOR),
        )
        for metric in pod_metrics
    ]
    return external + pods


_TAGS = {EXTERNAL_GROUP: "externalMetrics_v1beta1", CUSTOM_GROUP: "customMetrics_v1beta2"}


def _references(node: object) -> Iterator[str]:
    """The names of the models ``node`` refers to, directly."""
    if isinstance(node, Ref):
        yield node.model
    elif isinstance(node, dict):
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _references(value)


def _reached(roots: Iterable[str]) -> list[str]:
    """Every model reached from ``roots`` through references, sorted by name."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_references(_MODELS[name]))
    return sorted(seen)


def _render(node: object, spec: Spec) -> Any:
    if isinstance(node, Ref):
        ref = {"$ref": _REF_PREFIX[spec] + node.model}
        if not node.description:
            return ref
        return {**ref, "description": node.description} if spec == "v2" else {"allOf": [ref], "description": node.description}
    if isinstance(node, dict):
        return {key: _render(value, spec) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_render(value, spec) for value in node]
    return node


def _v2_operation(endpoint: Endpoint) -> Schema:
    return {
        "description": endpoint.description,
        "produces": ["application/json"],
        "schemes": ["https"],
        "tags": [_TAGS[endpoint.group]],
        "operationId": endpoint.operation_id,
        "parameters": [
            {"name": p.name, "in": p.location, "description": p.description, "required": p.location == "path",
             "type": "string", "uniqueItems": True}
            for p in endpoint.parameters
        ],
        "responses": {"200": {"description": "OK", "schema": Ref(endpoint.returns)}, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": endpoint.action,
        "x-kubernetes-group-version-kind": _gvk(endpoint.group, endpoint.version, endpoint.kind)[0],
    }


def _v3_operation(endpoint: Endpoint) -> Schema:
    return {
        "tags": [_TAGS[endpoint.group]],
        "description": endpoint.description,
        "operationId": endpoint.operation_id,
        "parameters": [
            {"name": p.name, "in": p.location, "description": p.description, "required": p.location == "path",
             "schema": {"type": "string", "uniqueItems": True}}
            for p in endpoint.parameters
        ],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": Ref(endpoint.returns)}}},
            "401": {"description": "Unauthorized"},
        },
        "x-kubernetes-action": endpoint.action,
        "x-kubernetes-group-version-kind": _gvk(endpoint.group, endpoint.version, endpoint.kind)[0],
    }


def _swagger(served: Sequence[Endpoint]) -> Schema:
    """``/openapi/v2``: both groups in one Swagger 2.0 document."""
    return {
        "swagger": "2.0",
        "info": _INFO,
        "paths": {endpoint.url: {"get": _render(_v2_operation(endpoint), "v2")} for endpoint in served},
        "definitions": {
            name: _render(_model(name, "v2"), "v2") for name in _reached(endpoint.returns for endpoint in served)
        },
    }


def _openapi_v3(served: Sequence[Endpoint]) -> Schema:
    """``/openapi/v3/apis/<group>/<version>``: the endpoints of one group-version in an OpenAPI 3.0
    document."""
    return {
        "openapi": "3.0.0",
        "info": _INFO,
        "paths": {endpoint.url: {"get": _render(_v3_operation(endpoint), "v3")} for endpoint in served},
        "components": {
            "schemas": {
                name: _render(_model(name, "v3"), "v3") for name in _reached(endpoint.returns for endpoint in served)
            }
        },
    }


@dataclass(frozen=True)
class Document:
    """A document as served: its JSON and its ETag."""

    path: str
    body: bytes
    etag: str
    """The upper-case hex SHA-512 of the body, as kube-openapi computes it (quoted in the header)."""
    by_hash: bool
    """Whether ``/openapi/v3`` links to it with ``?hash=<etag>``, so that URL may be cached forever."""

    @property
    def server_relative_url(self) -> str:
        return f"{self.path}?hash={self.etag}"


def _document(path: str, content: Schema, *, by_hash: bool = False) -> Document:
    body = json.dumps(content, separators=(",", ":")).encode()
    return Document(path, body, hashlib.sha512(body).hexdigest().upper(), by_hash)


@functools.lru_cache(maxsize=4)
def documents(external_metrics: tuple[str, ...], pod_metrics: tuple[str, ...]) -> Mapping[str, Document]:
    """Every document by its path, for the metrics discovery lists; remembered, as they change only
    with the config."""
    served = _endpoints(external_metrics, pod_metrics)
    group_versions = [
        _document(
            f"{V3_PATH}/apis/{group}/{version}",
            _openapi_v3([endpoint for endpoint in served if endpoint.group == group]),
            by_hash=True,
        )
        for group, version in GROUP_VERSIONS.items()
    ]
    discovery = {
        "paths": {
            document.path.removeprefix(f"{V3_PATH}/"): {"serverRelativeURL": document.server_relative_url}
            for document in group_versions
        }
    }
    every = [_document(V2_PATH, _swagger(served)), _document(V3_PATH, discovery), *group_versions]
    return {document.path: document for document in every}
