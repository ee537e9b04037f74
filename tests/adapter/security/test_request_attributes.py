"""Authorization attributes from paths, as k8s.io/apiserver's RequestInfoFactory derives them
(staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go)."""

from __future__ import annotations

import pytest

from adapter.kubernetes.request_attributes import RequestAttributes, attributes_for


def test_external_metric_collection_is_list_on_the_metric_in_its_namespace() -> None:
    """DESIGN.md: checked against a real kube-apiserver, a user with only get is refused."""
    attributes = attributes_for("GET", "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/gpu_util")
    assert attributes == RequestAttributes(
        verb="list", path="/apis/external.metrics.k8s.io/v1beta1/namespaces/default/gpu_util", resource_request=True,
        api_group="external.metrics.k8s.io", api_version="v1beta1", namespace="default", resource="gpu_util",
    )


def test_custom_pod_metric_is_get_on_pods_with_the_metric_as_subresource() -> None:
    attributes = attributes_for("GET", "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns/pods/*/queue_depth")
    assert (attributes.verb, attributes.resource, attributes.name, attributes.subresource, attributes.namespace) == (
        "get", "pods", "*", "queue_depth", "ns"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/apis", "/apis/external.metrics.k8s.io", "/apis/external.metrics.k8s.io/v1beta1", "/metrics", "/",
        "/openapi/v2", "/openapi/v3", "/openapi/v3/apis/external.metrics.k8s.io/v1beta1",
    ],
)
def test_discovery_openapi_and_own_metrics_are_non_resource_urls(path: str) -> None:
    """The kube-apiserver's system:discovery role grants /openapi and /openapi/* to every
    authenticated user as non-resource URLs, the aggregator's system:aggregator included."""
    attributes = attributes_for("GET", path)
    assert not attributes.resource_request and attributes.verb == "get" and attributes.path == path


def test_namespace_object_itself_is_a_named_namespaces_resource() -> None:
    attributes = attributes_for("GET", "/apis/g/v1/namespaces/team-a")
    assert (attributes.resource, attributes.name, attributes.namespace, attributes.verb) == ("namespaces", "team-a", "team-a", "get")


@pytest.mark.parametrize(("method", "verb"), [("POST", "create"), ("DELETE", "deletecollection"), ("HEAD", "list")])
def test_other_methods_map_to_the_kube_apiserver_verbs(method: str, verb: str) -> None:
    assert attributes_for(method, "/apis/external.metrics.k8s.io/v1beta1/namespaces/ns/m").verb == verb


def test_refusal_message_names_verb_resource_group_and_namespace() -> None:
    text = attributes_for("GET", "/apis/external.metrics.k8s.io/v1beta1/namespaces/ns/m").describe()
    assert text == 'list resource "m" in API group "external.metrics.k8s.io" in the namespace "ns"'
