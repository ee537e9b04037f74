"""Property-based requests against an adapter behind access control: whatever the path and the
identity headers, a request without a front-proxy certificate or a valid token is a 401
``Status``, never a 500, and never reaches authorization."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapter.access.authentication import AuthenticationSettings, Authenticator
from adapter.access.authentication_source import AuthenticationOptions
from adapter.access.authorization import Authorizer, Decision
from adapter.access.control import AccessControl
from adapter.app.assembly import assemble
from adapter.kubernetes.identity import Identity
from adapter.kubernetes.request_attributes import RequestAttributes
from adapter.settings.config import RefreshSettings, Settings
from adapter.signals.presets import resolve_rules
from adapter.sources.protocol import RangeSeries, Sample

FUZZ = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
header_value = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
identity_headers = st.dictionaries(
    st.sampled_from(["X-Remote-User", "X-Remote-Group", "X-Remote-Uid", "X-Remote-Extra-Scopes",
                     "X-Remote-Extra-A%2fb", "Authorization", "Impersonate-User"]),
    header_value,
    max_size=5,
)
path = st.one_of(
    st.sampled_from(["/apis", "/metrics", "/", "/openapi/v2",
                     "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/queue_depth"]),
    # a leading "//" would make the test client read the rest as a host, not a path
    st.text(max_size=30).map(lambda text: "/" + text.replace("?", "").replace("#", "").lstrip("/")),
)


class NoSource:
    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        return [Sample({}, 1.0)]

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        return []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class OneToken:
    async def review_token(self, token: str) -> Identity | None:
        return Identity("reader") if token == "the-valid-token" else None


class RecordingReviewer:
    def __init__(self) -> None:
        self.reviews: list[tuple[Identity, RequestAttributes]] = []

    async def review_access(self, identity: Identity, attributes: RequestAttributes) -> Decision:
        self.reviews.append((identity, attributes))
        return Decision(True)


@pytest.fixture
async def guarded() -> AsyncIterator[tuple[TestClient, RecordingReviewer]]:
    reviewer = RecordingReviewer()
    access = AccessControl(
        Authenticator(AuthenticationSettings(), OneToken()), Authorizer(reviewer),
        options=AuthenticationOptions(skip_lookup=True), config_maps=None,
        tls=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
    )
    adapter = assemble(
        rules=resolve_rules(Settings(), source="test"), source=NoSource(), refresh=RefreshSettings(),
        refresh_in_background=False, access=access,
    )
    async with TestClient(TestServer(adapter.app)) as client:
        yield client, reviewer


@FUZZ
@given(path=path, headers=identity_headers)
@example(path="/\x80//0", headers={})  # non-ASCII and an empty segment, once found to break the client
async def test_no_identity_headers_get_past_authentication(
    guarded: tuple[TestClient, RecordingReviewer], path: str, headers: dict[str, str]
) -> None:
    client, reviewer = guarded
    if headers.get("Authorization", "").split(" ")[-1] == "the-valid-token":
        headers.pop("Authorization")
    response = await client.get(path, headers=headers, allow_redirects=False)
    body = await response.text()
    if path.rstrip("/") in ("/healthz", "/livez", "/readyz"):
        return
    status = json.loads(body)
    if response.status == 429:  # past the bound on reviews of unknown tokens: refused all the same
        assert headers.get("Authorization", "").lower().startswith("bearer "), (path, headers, body)
        assert status["kind"] == "Status" and status["reason"] == "TooManyRequests"
    else:
        assert response.status == 401, (path, headers, response.status, body)
        assert status["kind"] == "Status" and status["reason"] == "Unauthorized"
    assert reviewer.reviews == []


async def test_the_valid_token_is_authorised_with_its_identity(guarded: tuple[TestClient, RecordingReviewer]) -> None:
    """The property above could pass with an adapter that refuses everyone; this one cannot."""
    client, reviewer = guarded
    response = await client.get("/apis", headers={"Authorization": "Bearer the-valid-token", "X-Remote-User": "admin"})
    assert response.status == 200
    assert reviewer.reviews[-1][0].user == "reader"


async def test_openapi_documents_are_authorised_as_non_resource_urls(guarded: tuple[TestClient, RecordingReviewer]) -> None:
    """The aggregator fetches them as system:aggregator and kubectl explain as its user: each is
    authorised, with the path, never served to whoever asks."""
    client, reviewer = guarded
    path = "/openapi/v3/apis/external.metrics.k8s.io/v1beta1"
    response = await client.get(path, headers={"Authorization": "Bearer the-valid-token"})
    assert response.status == 200
    identity, attributes = reviewer.reviews[-1]
    assert identity.user == "reader"
    assert attributes == RequestAttributes(verb="get", path=path, resource_request=False)
