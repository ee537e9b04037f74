"""Answers to requests for an OpenAPI document, as kube-openapi's handlers give them: content
negotiation, ETag and If-None-Match, and the ``?hash=`` URLs of the v3 discovery."""

from __future__ import annotations

import pytest

from adapter.kubernetes.errors import NotAcceptable
from adapter.serving.openapi import Document
from adapter.serving.openapi_serving import answer

NOW = 1_700_000_000.0
V2 = Document("/openapi/v2", b'{"swagger":"2.0"}', "ABC123", by_hash=False)
GROUP_VERSION = Document("/openapi/v3/apis/external.metrics.k8s.io/v1beta1", b'{"openapi":"3.0.0"}', "DEF456", by_hash=True)


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",  # the aggregator
        "",
        "*/*",
        "application/*",
        "application/json, */*",
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf, application/json;q=0.5",
        "Application/JSON",
    ],
)
def test_json_is_served_whenever_the_accept_header_allows_it(accept: str) -> None:
    served = answer(V2, accept=accept, if_none_match="", query_hash="", now=NOW)
    assert served.status == 200 and served.body == V2.body
    assert served.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "accept",
    [
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        "application/com.github.proto-openapi.spec.v3.v1.0+protobuf",
        "application/json;q=0",
        "text/html",
    ],
)
def test_an_accept_header_that_allows_no_json_is_not_acceptable(accept: str) -> None:
    with pytest.raises(NotAcceptable):
        answer(V2, accept=accept, if_none_match="", query_hash="", now=NOW)


def test_the_etag_is_the_quoted_hash_and_varies_by_accept() -> None:
    served = answer(V2, accept="application/json", if_none_match="", query_hash="", now=NOW)
    assert served.headers["ETag"] == '"ABC123"' and served.headers["Vary"] == "Accept"


@pytest.mark.parametrize("if_none_match", ['"ABC123"', 'W/"ABC123"', '"OLD", "ABC123"', "*"])
def test_a_matching_if_none_match_is_answered_304_without_a_body(if_none_match: str) -> None:
    served = answer(V2, accept="application/json", if_none_match=if_none_match, query_hash="", now=NOW)
    assert served.status == 304 and served.body == b"" and served.headers["ETag"] == '"ABC123"'


@pytest.mark.parametrize("if_none_match", ['"OLD"', "ABC123", '"ABC1234"'])
def test_another_etag_gets_the_document(if_none_match: str) -> None:
    served = answer(V2, accept="application/json", if_none_match=if_none_match, query_hash="", now=NOW)
    assert served.status == 200 and served.body == V2.body


def test_the_current_hash_makes_a_group_version_document_cacheable_for_a_year() -> None:
    served = answer(GROUP_VERSION, accept="application/json", if_none_match="", query_hash="DEF456", now=NOW)
    assert served.status == 200
    assert served.headers["Cache-Control"] == "public, immutable"
    assert served.headers["Expires"] == "Wed, 13 Nov 2024 22:13:20 GMT"  # NOW + 365 days


def test_a_stale_hash_is_redirected_to_the_current_url() -> None:
    served = answer(GROUP_VERSION, accept="application/json", if_none_match="", query_hash="OLD", now=NOW)
    assert served.status == 301
    assert served.headers["Location"] == "/openapi/v3/apis/external.metrics.k8s.io/v1beta1?hash=DEF456"


@pytest.mark.parametrize(("document", "query_hash"), [(GROUP_VERSION, ""), (V2, "ABC123"), (V2, "OLD")])
def test_without_the_hash_url_nothing_is_cached_or_redirected(document: Document, query_hash: str) -> None:
    """Only the v3 group-version documents are linked by hash; v2 and unhashed requests may change."""
    served = answer(document, accept="application/json", if_none_match="", query_hash=query_hash, now=NOW)
    assert served.status == 200 and "Cache-Control" not in served.headers and "Expires" not in served.headers
