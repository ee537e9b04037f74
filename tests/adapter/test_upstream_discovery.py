"""Merging an upstream adapter's discovery into Foresight's: what is not an APIResourceList of the
same group-version is refused, and a name both serve stays Foresight's, with one warning."""

import json
import logging

import pytest

from adapter.kubernetes import wire
from adapter.upstream.discovery import DiscoveryMerge, InvalidDiscovery, upstream_resources

GROUP_VERSION = "external.metrics.k8s.io/v1beta1"


def _list(*names: str, group_version: str = GROUP_VERSION) -> bytes:
    resources = [{"name": name, "singularName": "", "namespaced": True, "kind": "ExternalMetricValueList", "verbs": ["get"]}
                 for name in names]
    return json.dumps({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                       "resources": resources}).encode()


@pytest.mark.parametrize("body", [
    b"<html>", b"[]", json.dumps({"kind": "Status"}).encode(), _list("a", group_version="custom.metrics.k8s.io/v1beta2"),
    json.dumps({"kind": "APIResourceList", "groupVersion": GROUP_VERSION, "resources": [{"kind": "x"}]}).encode(),
])
def test_anything_but_an_api_resource_list_of_the_group_version_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidDiscovery):
        upstream_resources(body, GROUP_VERSION)


def test_the_upstreams_names_follow_foresights_and_a_clash_is_warned_of_once(caplog: pytest.LogCaptureFixture) -> None:
    merge = DiscoveryMerge("the upstream adapter")
    own = wire.external_resources(["queue_depth", "requests_per_second"])
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            merged = merge.merge(own, upstream_resources(_list("queue_depth", "nginx_requests"), GROUP_VERSION))
            assert [resource["name"] for resource in merged["resources"]] == [
                "queue_depth", "requests_per_second", "nginx_requests"]
            assert merged["resources"][0] is own["resources"][0]
    assert [record.getMessage().count("queue_depth") > 0 for record in caplog.records] == [True]
