"""Which certificate authority issued a TLS client certificate.

The TLS layer has already checked the peer's chain against every CA the server trusts (the client
CA and the front-proxy CA together); what it cannot say is *which* one issued it, and that decides
what the certificate may do: only a front-proxy certificate may vouch for ``X-Remote-User``.
Python's ``ssl`` exposes only the peer's leaf certificate, so a certificate counts as issued by a
bundle when a certificate of that bundle signed it directly, which is how the kube-apiserver's
front-proxy and client certificates are issued.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class InvalidBundle(ValueError):
    """A CA bundle that holds no PEM certificate."""


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate one of the bundle's CAs issued, and is valid now for client auth."""

    common_name: str
    organizations: tuple[str, ...]


class CertificateAuthorities:
    """A PEM bundle of CA certificates, checked against client certificates."""

    def __init__(self, pem: str) -> None:
        try:
            self._authorities = x509.load_pem_x509_certificates(pem.encode())
        except ValueError as error:
            raise InvalidBundle(f"not a PEM certificate bundle: {error}") from None
        self.pem = pem

    def issued(self, der: bytes, now: datetime.datetime) -> ClientCertificate | None:
        """The certificate in ``der`` if a CA of this bundle issued it for client authentication
        and it is valid at ``now``; otherwise ``None``."""
        try:
            certificate = x509.load_der_x509_certificate(der)
        except ValueError:
            return None
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            return None
        if not _allows_client_auth(certificate):
            return None
        if not any(_signed_by(certificate, authority) for authority in self._authorities):
            return None
        common_names = _names(certificate, NameOID.COMMON_NAME)
        return ClientCertificate(
            common_name=common_names[0] if common_names else "",
            organizations=tuple(_names(certificate, NameOID.ORGANIZATION_NAME)),
        )


def _signed_by(certificate: x509.Certificate, authority: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(authority)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _allows_client_auth(certificate: x509.Certificate) -> bool:
    """No extended key usage means any usage (as Go's x509 treats it); otherwise clientAuth."""
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages


def _names(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in certificate.subject.get_attributes_for_oid(oid)]
