"""Who a request is from: client certificates by issuing CA, front-proxy headers, bearer tokens
(k8s.io/apiserver's x509, requestheader and token authenticators)."""

from __future__ import annotations

import datetime

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from multidict import CIMultiDict, CIMultiDictProxy

from adapter.access.authentication import (
    UNKNOWN_TOKEN_REVIEW_BURST,
    UNKNOWN_TOKEN_REVIEWS_PER_SECOND,
    AuthenticationSettings,
    Authenticator,
    RequestHeaderSettings,
)
from adapter.access.client_certs import CertificateAuthorities
from adapter.kubernetes.errors import TooManyRequests, Unauthorized
from adapter.kubernetes.identity import Identity


def der(certificate: trustme.LeafCert) -> bytes:
    return x509.load_pem_x509_certificate(certificate.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)


def authorities(ca: trustme.CA) -> CertificateAuthorities:
    return CertificateAuthorities(ca.cert_pem.bytes().decode())


def headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


class Tokens:
    def __init__(self, known: dict[str, Identity]) -> None:
        self.known = known
        self.reviews = 0

    async def review_token(self, token: str) -> Identity | None:
        self.reviews += 1
        return self.known.get(token)


FRONT_PROXY, CLIENTS = trustme.CA(), trustme.CA()
SETTINGS = AuthenticationSettings(
    client_ca=authorities(CLIENTS),
    request_header=RequestHeaderSettings(authorities(FRONT_PROXY), allowed_names=("front-proxy-client",), uid_headers=("X-Remote-Uid",)),
)
PROXY_CERT = der(FRONT_PROXY.issue_cert("proxy.test", common_name="front-proxy-client"))


async def test_front_proxy_headers_give_user_groups_uid_and_unescaped_lowercase_extra() -> None:
    identity = await Authenticator(SETTINGS, None).authenticate(PROXY_CERT, headers(
        ("X-Remote-User", "jane"), ("X-Remote-Group", "devs"), ("X-Remote-Group", "ops"), ("X-Remote-Uid", "42"),
        ("X-Remote-Extra-Scopes", "view"), ("X-Remote-Extra-Scopes", "edit"),
        ("X-Remote-Extra-Authentication.kubernetes.io%2fcredential-Id", "JTI=1"),
    ))
    assert identity.user == "jane" and identity.uid == "42"
    assert identity.groups == ("devs", "ops", "system:authenticated")
    assert dict(identity.extra) == {"scopes": ("view", "edit"), "authentication.kubernetes.io/credential-id": ("JTI=1",)}


async def test_front_proxy_certificate_without_a_user_header_is_not_an_identity() -> None:
    with pytest.raises(Unauthorized):
        await Authenticator(SETTINGS, None).authenticate(PROXY_CERT, headers(("X-Remote-Group", "devs")))


async def test_an_expired_front_proxy_certificate_is_refused() -> None:
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    expired = der(FRONT_PROXY.issue_cert("proxy.test", common_name="front-proxy-client", not_before=past - datetime.timedelta(days=1), not_after=past))
    with pytest.raises(Unauthorized):
        await Authenticator(SETTINGS, None).authenticate(expired, headers(("X-Remote-User", "jane")))


async def test_a_bundle_that_no_longer_holds_the_ca_refuses_its_certificates() -> None:
    """OpenSSL keeps a removed CA; the authenticator's own check is what drops it."""
    authenticator = Authenticator(SETTINGS, None)
    await authenticator.authenticate(PROXY_CERT, headers(("X-Remote-User", "jane")))
    other = RequestHeaderSettings(authorities(trustme.CA()))
    authenticator.update(AuthenticationSettings(client_ca=SETTINGS.client_ca, request_header=other))
    with pytest.raises(Unauthorized):
        await authenticator.authenticate(PROXY_CERT, headers(("X-Remote-User", "jane")))


async def test_client_certificate_is_its_common_name_in_the_groups_of_its_organisations() -> None:
    certificate = der(CLIENTS.issue_cert("alice.test", common_name="alice", organization_name="ops"))
    identity = await Authenticator(SETTINGS, None).authenticate(certificate, headers(("X-Remote-User", "root")))
    assert identity == Identity("alice", ("ops", "system:authenticated"))


async def test_bearer_token_reviews_are_cached_and_failures_too() -> None:
    tokens = Tokens({"good": Identity("prometheus", ("system:serviceaccounts",))})
    authenticator = Authenticator(AuthenticationSettings(), tokens)
    for _ in range(3):
        identity = await authenticator.authenticate(None, headers(("Authorization", "Bearer good")))
        assert identity.user == "prometheus" and "system:authenticated" in identity.groups
        with pytest.raises(Unauthorized):
            await authenticator.authenticate(None, headers(("Authorization", "Bearer bad")))
    assert tokens.reviews == 2


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "good"])
async def test_anything_but_a_bearer_token_is_not_sent_for_review(value: str) -> None:
    tokens = Tokens({"good": Identity("x")})
    with pytest.raises(Unauthorized):
        await Authenticator(AuthenticationSettings(), tokens).authenticate(None, headers(("Authorization", value)))
    assert tokens.reviews == 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_reviews_of_unknown_tokens_are_bounded_in_rate_and_answered_429_past_it() -> None:
    tokens, clock = Tokens({}), FakeClock()
    authenticator = Authenticator(AuthenticationSettings(), tokens, clock=clock)
    outcomes = []
    for index in range(3000):
        try:
            await authenticator.authenticate(None, headers(("Authorization", f"Bearer made-up-{index}")))
        except (Unauthorized, TooManyRequests) as error:
            outcomes.append(type(error))
    assert tokens.reviews == UNKNOWN_TOKEN_REVIEW_BURST
    assert outcomes.count(Unauthorized) == UNKNOWN_TOKEN_REVIEW_BURST and len(outcomes) == 3000
    clock.now += 1.0  # a second later: that second's share of reviews
    for index in range(100):
        with pytest.raises((Unauthorized, TooManyRequests)):
            await authenticator.authenticate(None, headers(("Authorization", f"Bearer later-{index}")))
    assert tokens.reviews == UNKNOWN_TOKEN_REVIEW_BURST + UNKNOWN_TOKEN_REVIEWS_PER_SECOND


async def test_a_token_seen_valid_is_reviewed_again_during_a_flood() -> None:
    tokens, clock = Tokens({"prometheus-token": Identity("prometheus")}), FakeClock()
    authenticator = Authenticator(AuthenticationSettings(), tokens, clock=clock, token_cache_seconds=10.0)
    await authenticator.authenticate(None, headers(("Authorization", "Bearer prometheus-token")))
    for index in range(100):
        with pytest.raises((Unauthorized, TooManyRequests)):
            await authenticator.authenticate(None, headers(("Authorization", f"Bearer made-up-{index}")))
    clock.now += 11.0  # its cached review has expired, and the flood goes on
    for index in range(100):
        with pytest.raises((Unauthorized, TooManyRequests)):
            await authenticator.authenticate(None, headers(("Authorization", f"Bearer more-{index}")))
    identity = await authenticator.authenticate(None, headers(("Authorization", "Bearer prometheus-token")))
    assert identity.user == "prometheus"
