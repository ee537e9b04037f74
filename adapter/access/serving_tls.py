"""The TLS side of serving: the serving certificate (given, or generated in memory) that every
listener of the process serves, and which client CAs the HTTPS layer accepts, which can grow while
the server runs."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SELF_SIGNED_DAYS = 365


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """TLS 1.2+ with the given serving certificate; client certificates are not asked for until
    :func:`trust_client_cas` gives a CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class ServingCertificateError(ValueError):
    """Serving certificate options that cannot be used; the message names the flags."""


@dataclass(frozen=True)
class ServingCertificate:
    """The serving certificate chain and its private key, as PEM: the HTTPS server loads them
    into an ``ssl`` context, the gRPC server takes them as bytes."""

    chain: bytes
    key: bytes = field(repr=False)

    @classmethod
    def read(cls, cert_file: Path, key_file: Path) -> ServingCertificate:
        return cls(cert_file.read_bytes(), key_file.read_bytes())

    def context(self) -> ssl.SSLContext:
        """A server context (see :func:`server_context`). ``ssl`` loads keys only from files, so the
        key lies for that moment in a private temporary directory."""
        with tempfile.TemporaryDirectory(prefix="foresight-tls-") as directory:
            cert_file, key_file = Path(directory, "tls.crt"), Path(directory, "tls.key")
            cert_file.write_bytes(self.chain)
            key_file.touch(mode=0o600)
            key_file.write_bytes(self.key)
            return server_context(cert_file, key_file)


def self_signed(names: Iterable[str]) -> ServingCertificate:
    """A new self-signed certificate for ``names`` (DNS names or IPs); its key exists only in memory."""
    certificate, key_pem = _self_signed(list(names))
    return ServingCertificate(certificate.public_bytes(serialization.Encoding.PEM), key_pem)


def trust_client_cas(context: ssl.SSLContext, pem: str) -> None:
    """Accept client certificates issued by the CAs in ``pem`` from the next handshake on.

    OpenSSL can add CAs to a live context but not remove them; a CA that leaves the bundle is
    refused by the authenticator instead, which checks each certificate against the current one.
    """
    if not pem.strip():
        return
    context.load_verify_locations(cadata=pem)
    context.verify_mode = ssl.CERT_OPTIONAL


def _self_signed(names: list[str]) -> tuple[x509.Certificate, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "foresight")])
    now = datetime.datetime.now(datetime.UTC)
    alternative_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative_names.append(x509.DNSName(name))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate, key_pem
