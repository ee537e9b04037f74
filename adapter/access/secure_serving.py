"""HTTPS with delegated authentication and authorization, put together from the command line's
options: what ``serve`` always runs and ``demo --secure-port`` runs on request."""

from __future__ import annotations

import logging
import os
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from adapter.access.authentication import AuthenticationSettings, Authenticator
from adapter.access.authentication_source import AuthenticationOptions
from adapter.access.authorization import Authorizer
from adapter.access.control import AccessControl
from adapter.access.kube_api import KubeApi, NoKubeConfig
from adapter.access.serving_tls import ServingCertificate, ServingCertificateError, self_signed

log = logging.getLogger(__name__)
SERVICE_NAME = "foresight"
"""The Service the manifests put in front of the adapter, named in a generated certificate."""
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class SecureServingOptions:
    """The generic-apiserver-style flags of ``serve`` and ``demo --secure-port``."""

    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    kubeconfig: Path | None = None
    authentication: AuthenticationOptions = field(default_factory=AuthenticationOptions)
    token_cache_seconds: float = 10.0
    allowed_cache_seconds: float = 10.0
    denied_cache_seconds: float = 10.0
    require_kube_api: bool = True
    """``serve`` cannot authorise without a kube-apiserver; ``demo`` can do without one."""


def serving_certificate(options: SecureServingOptions) -> ServingCertificate:
    """The certificate of ``--tls-cert-file``, else one generated in memory for this host's names;
    raises ``ServingCertificateError`` or ``OSError`` with a message for the user."""
    if (options.tls_cert_file is None) != (options.tls_private_key_file is None):
        raise ServingCertificateError("--tls-cert-file and --tls-private-key-file go together")
    if options.tls_cert_file is not None and options.tls_private_key_file is not None:
        return ServingCertificate.read(options.tls_cert_file, options.tls_private_key_file)
    names = _serving_names()
    log.info("no --tls-cert-file: serving a self-signed certificate generated in memory for %s", ", ".join(names))
    return self_signed(names)


def secure_serving(
    options: SecureServingOptions, certificate: ServingCertificate | None = None
) -> tuple[ssl.SSLContext, AccessControl]:
    """The TLS context serving ``certificate`` (default: :func:`serving_certificate`) and access
    control, whose ``start`` loads the client CAs; raises ``NoKubeConfig``, ``ServingCertificateError``
    or ``OSError`` with a message for the user (``start``: ``AuthenticationConfigError``)."""
    tls = (certificate or serving_certificate(options)).context()
    try:
        kube: KubeApi | None = KubeApi.connect(options.kubeconfig)
    except NoKubeConfig as error:
        if options.require_kube_api or options.kubeconfig is not None:
            raise
        log.warning("%s; bearer tokens are refused and every authenticated client may read everything", error)
        kube = None
    authenticator = Authenticator(AuthenticationSettings(), kube, token_cache_seconds=options.token_cache_seconds)
    authorizer = None
    if kube is not None:
        authorizer = Authorizer(
            kube, allowed_seconds=options.allowed_cache_seconds, denied_seconds=options.denied_cache_seconds
        )
    access = AccessControl(
        authenticator,
        authorizer,
        options=options.authentication,
        config_maps=kube,
        tls=tls,
        kube_api=kube,
    )
    return tls, access


def _serving_names() -> list[str]:
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    namespace = os.environ.get("POD_NAMESPACE", "")
    if not namespace and SERVICE_ACCOUNT_NAMESPACE.exists():
        namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    if namespace:
        names += [f"{SERVICE_NAME}.{namespace}.svc", f"{SERVICE_NAME}.{namespace}.svc.cluster.local"]
    return names
