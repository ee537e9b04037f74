"""KEDA's side of the external scaler: certificates made for the run (the adapter's serving CA, the
CA of KEDA's client certificates and a stranger's CA) and a real gRPC client over real TLS, built
from the stubs generated from the vendored ``externalscaler.proto``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import trustme

from adapter.access.serving_tls import ServingCertificate
from adapter.keda import externalscaler_pb2 as pb
from adapter.keda.externalscaler_pb2_grpc import ExternalScalerStub
from adapter.keda.serving import ScalerListener, ScalerTls

HANG_GUARD_S = 120.0
"""Only tells a call that never ends from one that ends; none takes nearly that long."""


@dataclass(frozen=True)
class ScalerCertificates:
    serving_ca: trustme.CA
    keda_ca: trustme.CA
    keda: trustme.LeafCert
    """KEDA operator's client certificate, issued by the CA the scaler trusts."""
    stranger: trustme.LeafCert
    """A client certificate from a CA the scaler does not trust."""
    serving: ServingCertificate

    @classmethod
    def make(cls) -> ScalerCertificates:
        serving_ca, keda_ca = trustme.CA(), trustme.CA()
        serving = serving_ca.issue_cert("127.0.0.1", "localhost")
        return cls(
            serving_ca=serving_ca,
            keda_ca=keda_ca,
            keda=keda_ca.issue_cert("keda-operator.keda.svc"),
            stranger=trustme.CA().issue_cert("keda-operator.keda.svc"),
            serving=ServingCertificate(
                b"".join(pem.bytes() for pem in serving.cert_chain_pems), serving.private_key_pem.bytes()
            ),
        )

    def listener(self) -> ScalerListener:
        """TLS on a port the system picks, requiring a certificate from :attr:`keda_ca`."""
        return ScalerListener("127.0.0.1", 0, ScalerTls(self.serving, self.keda_ca.cert_pem.bytes()), drain_seconds=5.0)


@asynccontextmanager
async def scaler_client(
    port: int, certificates: ScalerCertificates, *, client: trustme.LeafCert | None
) -> AsyncIterator[ExternalScalerStub]:
    """A stub on a TLS channel that trusts the serving CA and presents ``client``, if any."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certificates.serving_ca.cert_pem.bytes(),
        private_key=client.private_key_pem.bytes() if client else None,
        certificate_chain=client.cert_chain_pems[0].bytes() if client else None,
    )
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        yield ExternalScalerStub(channel)


def trigger(metric: str, *, selector: str = "app=llama", target: str = "10", namespace: str = "inference",
            **extra: str) -> pb.ScaledObjectRef:
    """A ScaledObject's trigger as KEDA sends it: its own keys beside Foresight's."""
    metadata = {"scalerAddress": "foresight.foresight.svc:9443", "enableTLS": "true",
                "metric": metric, "selector": selector, "target": target, **extra}
    return pb.ScaledObjectRef(name="llama", namespace=namespace, scalerMetadata=metadata)


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``, looking again each time the event loop has run other work."""
    async with asyncio.timeout(HANG_GUARD_S):
        while not condition():
            await asyncio.sleep(0.01)
