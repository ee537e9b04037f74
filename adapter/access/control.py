"""Access control for every request: authenticate, then authorise with the attributes the
kube-apiserver derives from the path. Health endpoints stay open, as kubelet probes carry no
credentials."""

from __future__ import annotations

import logging
import ssl

from aiohttp import web

from adapter.access.authentication import AuthenticationSettings, Authenticator
from adapter.access.authentication_source import (
    AuthenticationConfigError,
    AuthenticationOptions,
    ConfigMapReader,
    load_authentication,
)
from adapter.access.authorization import Authorizer
from adapter.access.kube_api import KubeApi
from adapter.access.serving_tls import trust_client_cas
from adapter.kubernetes.errors import ServiceUnavailable
from adapter.kubernetes.identity import Identity
from adapter.kubernetes.request_attributes import attributes_for

log = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
AUTHENTICATION_RELOAD_SECONDS = 10.0


class AccessControl:
    """Who may do what; raises ``Unauthorized`` (401) or ``Forbidden`` (403) for the rest.

    ``authorizer=None`` lets every authenticated user in: only for ``demo`` without a cluster.
    """

    def __init__(
        self,
        authenticator: Authenticator,
        authorizer: Authorizer | None,
        *,
        options: AuthenticationOptions,
        config_maps: ConfigMapReader | None,
        tls: ssl.SSLContext,
        kube_api: KubeApi | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.authorizer = authorizer
        self._options = options
        self._config_maps = config_maps
        self._tls = tls
        self._kube_api = kube_api
        """The client the reviews and ConfigMap reads go through: started and closed here."""

    async def start(self) -> None:
        """Start the kube-apiserver client and load the authentication settings before the first
        request; a bad CA file or an unreadable ConfigMap stops start-up with the reason."""
        if self._kube_api is not None:
            self._kube_api.start()
        settings = await load_authentication(self._options, self._config_maps)
        trust_client_cas(self._tls, settings.trusted_pem())
        self.authenticator.update(settings)
        log.info("authentication: %s", describe(settings))

    async def check(self, request: web.Request) -> Identity | None:
        """The requester, allowed to make ``request``; None on the open health paths."""
        if request.path in OPEN_PATHS:
            return None
        transport = request.transport
        tls = transport.get_extra_info("ssl_object") if transport is not None else None
        peer_certificate = tls.getpeercert(binary_form=True) if tls is not None else None
        identity = await self.authenticator.authenticate(peer_certificate, request.headers)
        if self.authorizer is not None:
            await self.authorizer.authorize(identity, attributes_for(request.method, request.path))
        return identity

    async def reload(self) -> bool:
        """Read the CA files and the ConfigMap again; ``True`` when the settings changed. On a
        problem the settings in force stay, and the problem is logged."""
        try:
            settings = await load_authentication(self._options, self._config_maps)
        except (AuthenticationConfigError, ServiceUnavailable) as error:
            log.warning("keeping the authentication settings in force: %s", error)
            return False
        if _fingerprint(settings) == _fingerprint(self.authenticator.settings):
            return False
        trust_client_cas(self._tls, settings.trusted_pem())
        self.authenticator.update(settings)
        log.info("authentication settings changed: %s", describe(settings))
        return True

    def close(self) -> None:
        if self._kube_api is not None:
            self._kube_api.close()


def describe(settings: AuthenticationSettings) -> str:
    """One line for the log: which client certificates are accepted (bearer tokens always are,
    when there is a kube-apiserver to review them)."""
    ways = []
    if settings.request_header is not None:
        names = ", ".join(settings.request_header.allowed_names) or "any name"
        ways.append(f"front-proxy certificates ({names}) with {', '.join(settings.request_header.username_headers)}")
    if settings.client_ca is not None:
        ways.append("client certificates")
    return "; ".join(ways) or "no client certificates"


def _fingerprint(settings: AuthenticationSettings) -> object:
    header = settings.request_header
    client_ca = settings.client_ca.pem if settings.client_ca is not None else None
    if header is None:
        return client_ca
    return (
        client_ca, header.authorities.pem, header.allowed_names, header.username_headers,
        header.group_headers, header.extra_headers_prefixes, header.uid_headers,
    )
