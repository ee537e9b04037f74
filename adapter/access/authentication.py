"""Who a request comes from, decided as the kube-apiserver's delegated authentication decides it.

In order: a front-proxy client certificate (issued by the requestheader CA, with an allowed CN)
makes the ``X-Remote-*`` headers trusted; a client certificate from the client CA is the user
of its CN in the groups of its O; a bearer token is whoever a TokenReview says. Anything else,
including ``X-Remote-User`` on a connection without a front-proxy certificate, is 401.

TokenReviews of tokens not seen valid before are bounded in rate, so a flood of made-up tokens
costs the kube-apiserver a few reviews a second rather than one each; past the bound such a
token is answered 429. A token that was valid within ``KNOWN_TOKEN_SECONDS`` is always reviewed
again: Prometheus's scrapes keep working during a flood.
"""

from __future__ import annotations

import datetime
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote

from multidict import CIMultiDictProxy

from adapter.access.client_certs import CertificateAuthorities, ClientCertificate
from adapter.access.rate_limit import TokenBucket
from adapter.kubernetes.errors import TooManyRequests, Unauthorized
from adapter.kubernetes.identity import Identity, extra_from

CERTIFICATE_RESULTS_KEPT = 1024
CERTIFICATE_RESULT_SECONDS = 60.0
TOKEN_RESULTS_KEPT = 4096
UNKNOWN_TOKEN_REVIEWS_PER_SECOND = 5.0
UNKNOWN_TOKEN_REVIEW_BURST = 10.0
"""client-go's default rate towards the kube-apiserver, for reviews of tokens never seen valid."""
KNOWN_TOKEN_SECONDS = 3600.0
KNOWN_TOKENS_KEPT = 1024


@dataclass(frozen=True)
class RequestHeaderSettings:
    """Who may vouch for a user in headers, and which headers carry it (the requestheader
    flags, or the ``extension-apiserver-authentication`` ConfigMap's keys)."""

    authorities: CertificateAuthorities
    allowed_names: tuple[str, ...] = ()
    """CNs a front-proxy certificate may have; empty allows any the CA issued."""
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_headers_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)
    uid_headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuthenticationSettings:
    """The certificate authorities that authenticate clients; either may be absent."""

    client_ca: CertificateAuthorities | None = None
    request_header: RequestHeaderSettings | None = None

    def trusted_pem(self) -> str:
        """Every CA the TLS layer must accept client certificates from."""
        bundles = [self.client_ca, self.request_header.authorities if self.request_header else None]
        return "".join(bundle.pem for bundle in bundles if bundle is not None)


class TokenReviewer(Protocol):
    async def review_token(self, token: str) -> Identity | None:
        """The user of ``token``, or ``None`` when the token is not valid."""


class Authenticator:
    """Turns a request's client certificate and headers into an :class:`Identity`."""

    def __init__(
        self,
        settings: AuthenticationSettings,
        token_reviewer: TokenReviewer | None,
        *,
        token_cache_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._token_reviewer = token_reviewer
        self._token_cache_seconds = token_cache_seconds
        self._clock = clock
        self._tokens: dict[bytes, tuple[float, Identity | None]] = {}
        self._known_tokens: dict[bytes, float] = {}
        """Digests of tokens a review found valid, until when they skip the rate bound."""
        self._unknown_token_reviews = TokenBucket(
            rate=UNKNOWN_TOKEN_REVIEWS_PER_SECOND, burst=UNKNOWN_TOKEN_REVIEW_BURST, clock=clock
        )
        self._certificates: dict[tuple[bytes, bool], tuple[float, ClientCertificate | None]] = {}

    def update(self, settings: AuthenticationSettings) -> None:
        """New CAs or header names; certificates are judged afresh from now on."""
        self.settings = settings
        self._certificates.clear()

    async def authenticate(self, peer_certificate: bytes | None, headers: CIMultiDictProxy[str]) -> Identity:
        """The requester, or :class:`Unauthorized`."""
        if peer_certificate is not None:
            identity = self._from_certificate(peer_certificate, headers)
            if identity is not None:
                return identity.with_authenticated_group()
        token = _bearer_token(headers)
        if token is not None and self._token_reviewer is not None:
            identity = await self._review(token)
            if identity is not None:
                return identity.with_authenticated_group()
        raise Unauthorized("Unauthorized")

    def _from_certificate(self, der: bytes, headers: CIMultiDictProxy[str]) -> Identity | None:
        request_header = self.settings.request_header
        if request_header is not None:
            front_proxy = self._issued(der, request_header.authorities, front_proxy=True)
            if front_proxy is not None and _allowed(front_proxy, request_header.allowed_names):
                return _from_headers(headers, request_header)
        client_ca = self.settings.client_ca
        if client_ca is not None:
            client = self._issued(der, client_ca, front_proxy=False)
            if client is not None and client.common_name:
                return Identity(client.common_name, client.organizations)
        return None

    def _issued(self, der: bytes, authorities: CertificateAuthorities, *, front_proxy: bool) -> ClientCertificate | None:
        """``authorities.issued`` remembered for a minute: a proxy sends the same certificate on
        every request, and checking its signature costs more than serving a cached value."""
        now = self._clock()
        key = (der, front_proxy)
        remembered = self._certificates.get(key)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        result = authorities.issued(der, datetime.datetime.now(datetime.UTC))
        if len(self._certificates) >= CERTIFICATE_RESULTS_KEPT:
            self._certificates.clear()
        self._certificates[key] = (now + CERTIFICATE_RESULT_SECONDS, result)
        return result

    async def _review(self, token: str) -> Identity | None:
        assert self._token_reviewer is not None
        digest = hashlib.sha256(token.encode()).digest()  # tokens themselves are never kept
        now = self._clock()
        remembered = self._tokens.get(digest)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        if self._known_tokens.get(digest, 0.0) <= now and not self._unknown_token_reviews.take():
            raise TooManyRequests(
                f"too many unknown bearer tokens to review; retry in {self._unknown_token_reviews.seconds_to_next():.1f}s"
            )
        identity = await self._token_reviewer.review_token(token)
        if len(self._tokens) >= TOKEN_RESULTS_KEPT:
            self._tokens.clear()
        self._tokens[digest] = (self._clock() + self._token_cache_seconds, identity)
        if identity is not None:
            if len(self._known_tokens) >= KNOWN_TOKENS_KEPT:
                self._known_tokens.clear()
            self._known_tokens[digest] = self._clock() + KNOWN_TOKEN_SECONDS
        return identity


def _allowed(certificate: ClientCertificate, allowed_names: tuple[str, ...]) -> bool:
    return not allowed_names or certificate.common_name in allowed_names


def _from_headers(headers: CIMultiDictProxy[str], settings: RequestHeaderSettings) -> Identity | None:
    """The user a trusted front proxy names; ``None`` when it names none."""
    user = next((value for name in settings.username_headers for value in headers.getall(name, []) if value), "")
    if not user:
        return None
    groups = tuple(value for name in settings.group_headers for value in headers.getall(name, []))
    uid = next((value for name in settings.uid_headers for value in headers.getall(name, []) if value), "")
    extra: dict[str, list[str]] = {}
    for name, value in headers.items():
        for prefix in settings.extra_headers_prefixes:
            if len(name) > len(prefix) and name[: len(prefix)].lower() == prefix.lower():
                # keys travel URL-escaped and are case-insensitive, as in k8s.io/apiserver
                extra.setdefault(unquote(name[len(prefix):]).lower(), []).append(value)
    return Identity(user, groups, uid, extra_from(extra))


def _bearer_token(headers: CIMultiDictProxy[str]) -> str | None:
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
