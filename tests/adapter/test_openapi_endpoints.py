"""The OpenAPI documents as the application serves them to the aggregator and to ``kubectl explain``:
ETags that are the hash of what is served, the v3 discovery's links, and documents that follow the
metrics discovery lists."""

from __future__ import annotations

import hashlib
from email.utils import formatdate
from typing import cast

from adapter.serving.server import CONTEXT
from adapter.settings.config import MetricRule

from .demo_adapter import START, DemoAdapter

JSON = {"Accept": "application/json"}
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2"


def etag_of(body: bytes) -> str:
    return f'"{hashlib.sha512(body).hexdigest().upper()}"'


async def test_v2_is_served_with_the_etag_of_its_body_and_a_304_to_that_etag(demo: DemoAdapter) -> None:
    response = await demo.client.get("/openapi/v2", headers=JSON)
    body = await response.read()
    assert response.status == 200 and response.content_type == "application/json"
    assert response.headers["ETag"] == etag_of(body)
    again = await demo.client.get("/openapi/v2", headers={**JSON, "If-None-Match": response.headers["ETag"]})
    assert again.status == 304 and await again.read() == b""


async def test_each_v3_discovery_link_serves_a_document_whose_etag_is_its_hash(demo: DemoAdapter) -> None:
    discovery = await demo.get("/openapi/v3", status=200, headers=JSON)
    assert set(discovery["paths"]) == {"apis/external.metrics.k8s.io/v1beta1", "apis/custom.metrics.k8s.io/v1beta2"}
    for link in discovery["paths"].values():
        url = link["serverRelativeURL"]
        response = await demo.client.get(url, headers=JSON)
        body = await response.read()
        assert response.status == 200, url
        assert response.headers["ETag"] == f'"{url.split("?hash=")[1]}"' == etag_of(body)
        assert response.headers["Cache-Control"] == "public, immutable"
        assert response.headers["Expires"] == formatdate(START + 365 * 86400, usegmt=True)


async def test_a_stale_hash_is_redirected_to_the_link_of_the_v3_discovery(demo: DemoAdapter) -> None:
    discovery = await demo.get("/openapi/v3", status=200, headers=JSON)
    response = await demo.client.get(f"/openapi/v3{CUSTOM}?hash=0BSOLETE", allow_redirects=False)
    assert response.status == 301
    assert response.headers["Location"] == discovery["paths"]["apis/custom.metrics.k8s.io/v1beta2"]["serverRelativeURL"]


async def test_every_resource_discovery_lists_has_its_path_in_both_documents(demo: DemoAdapter) -> None:
    external = [resource["name"] for resource in (await demo.get(EXTERNAL, status=200))["resources"]]
    pods = [resource["name"].removeprefix("pods/") for resource in (await demo.get(CUSTOM, status=200))["resources"]]
    expected = {f"{EXTERNAL}/namespaces/{{namespace}}/{name}" for name in external} | {
        f"{CUSTOM}/namespaces/{{namespace}}/pods/{{name}}/{name}" for name in pods
    }
    v2 = await demo.get("/openapi/v2", status=200, headers=JSON)
    v3_external = await demo.get(f"/openapi/v3{EXTERNAL}", status=200, headers=JSON)
    v3_custom = await demo.get(f"/openapi/v3{CUSTOM}", status=200, headers=JSON)
    assert external and pods
    assert set(v2["paths"]) == expected == set(v3_external["paths"]) | set(v3_custom["paths"])


async def test_a_config_reload_changes_the_documents_and_their_etag(demo: DemoAdapter) -> None:
    """The aggregator's conditional GET after a reload gets the new document, not a 304."""
    first = await demo.client.get("/openapi/v2", headers=JSON)
    # Adapter.reconfigure replaces the rules in this very dict
    rules = cast(dict[str, MetricRule], demo.client.server.app[CONTEXT].rules)
    rules["pending_jobs"] = MetricRule.model_validate({"name": "pending_jobs", "query": "sum(jobs_pending{<<.LabelMatchers>>})"})
    second = await demo.client.get("/openapi/v2", headers={**JSON, "If-None-Match": first.headers["ETag"]})
    assert second.status == 200 and second.headers["ETag"] != first.headers["ETag"]
    assert f"{EXTERNAL}/namespaces/{{namespace}}/pending_jobs" in (await second.json())["paths"]


async def test_a_protobuf_only_accept_is_a_406_status(demo: DemoAdapter) -> None:
    body = await demo.get("/openapi/v2", status=406, headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    assert body["kind"] == "Status" and body["reason"] == "NotAcceptable"


async def test_an_unknown_group_version_is_a_404_status(demo: DemoAdapter) -> None:
    body = await demo.get("/openapi/v3/apis/metrics.k8s.io/v1beta1", status=404, headers=JSON)
    assert body["kind"] == "Status" and body["reason"] == "NotFound"
