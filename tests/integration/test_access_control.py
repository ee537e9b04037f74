"""Authentication and authorization over real TLS, end to end: the adapter's HTTPS server with
certificates made for this run, clients presenting (or not) client certificates, and the
kubernetes client talking to a stand-in for the kube-apiserver's TokenReview,
SubjectAccessReview and authentication ConfigMap (see ``kube_stand_in``: a real kube-apiserver
cannot run here)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from adapter.access.control import AccessControl
from adapter.access.secure_serving import SecureServingOptions, secure_serving
from adapter.app.assembly import assemble
from adapter.settings.config import RefreshSettings, Settings, SignalSettings
from adapter.signals.presets import resolve_rules
from adapter.sources.protocol import RangeSeries, Sample

from .kube_stand_in import Grant, KubeStandIn, kube_stand_in
from .local import free_port

pytestmark = pytest.mark.integration
METRIC_PATH = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/queue_depth?labelSelector=app%3Dllama"
HPA_CONTROLLER = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
PROMETHEUS = "system:serviceaccount:monitoring:prometheus-k8s"


class StaticSource:
    """Every query answers 7: these tests are about who may read, not what is read."""

    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        return [Sample({}, 7.0)]

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        return []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


@dataclass
class Secured:
    url: str
    kube: KubeStandIn
    serving_ca: trustme.CA
    front_proxy_ca: trustme.CA
    client_ca: trustme.CA
    workdir: Path
    access: AccessControl

    def client_tls(self, certificate: trustme.LeafCert | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.workdir / "serving-ca.pem"))
        if certificate is not None:
            certificate.configure_cert(context)
        return context

    async def get(
        self, path: str, *, certificate: trustme.LeafCert | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.url}{path}", ssl=self.client_tls(certificate), headers=headers) as response:
                if response.content_type == "application/json":
                    return response.status, await response.json()
                return response.status, await response.text()


def front_proxy_config_map(front_proxy_ca: trustme.CA, client_ca: trustme.CA, allowed: str) -> dict[str, str]:
    """The ConfigMap as kubeadm's kube-apiserver publishes it."""
    return {
        "client-ca-file": client_ca.cert_pem.bytes().decode(),
        "requestheader-client-ca-file": front_proxy_ca.cert_pem.bytes().decode(),
        "requestheader-allowed-names": allowed,
        "requestheader-username-headers": '["X-Remote-User"]',
        "requestheader-group-headers": '["X-Remote-Group"]',
        "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
    }


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[Secured]:
    serving_ca, front_proxy_ca, client_ca = trustme.CA(), trustme.CA(), trustme.CA()
    serving_ca.cert_pem.write_to_path(str(tmp_path / "serving-ca.pem"))
    serving = serving_ca.issue_cert("127.0.0.1", "localhost")
    serving.cert_chain_pems[0].write_to_path(str(tmp_path / "tls.crt"))
    serving.private_key_pem.write_to_path(str(tmp_path / "tls.key"))
    with kube_stand_in() as kube:
        kube.config_map = front_proxy_config_map(front_proxy_ca, client_ca, '["front-proxy-client"]')
        kube.tokens["prometheus-token"] = {"username": PROMETHEUS, "groups": ["system:serviceaccounts"]}
        kube.tokens["hpa-token"] = {"username": HPA_CONTROLLER, "groups": ["system:serviceaccounts"]}
        kube.grants += [
            Grant(HPA_CONTROLLER, frozenset({"list"}), "external.metrics.k8s.io", frozenset({"*"})),
            Grant(PROMETHEUS, frozenset({"get"}), paths=frozenset({"/metrics"})),
            Grant("system:authenticated", frozenset({"get"}), paths=frozenset({"/apis"})),
        ]
        tls, access = secure_serving(SecureServingOptions(
            tls_cert_file=tmp_path / "tls.crt",
            tls_private_key_file=tmp_path / "tls.key",
            kubeconfig=kube.write_kubeconfig(tmp_path / "kubeconfig"),
        ))
        rules = resolve_rules(Settings(signals=SignalSettings(server="vllm")), source="test")
        adapter = assemble(
            rules=rules, source=StaticSource(), refresh=RefreshSettings(), access=access, refresh_in_background=False
        )
        runner = web.AppRunner(adapter.app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
        try:
            yield Secured(f"https://127.0.0.1:{port}", kube, serving_ca, front_proxy_ca, client_ca, tmp_path, access)
        finally:
            await runner.cleanup()


def assert_status(body: Any, code: int, reason: str) -> None:
    assert body["kind"] == "Status" and body["code"] == code and body["reason"] == reason, body


async def test_no_credentials_is_unauthorized(secured: Secured) -> None:
    status, body = await secured.get(METRIC_PATH)
    assert status == 401
    assert_status(body, 401, "Unauthorized")


async def test_health_endpoints_stay_open(secured: Secured) -> None:
    for path in ("/healthz", "/livez"):
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{secured.url}{path}", ssl=secured.client_tls()) as response:
                assert response.status == 200, path


async def test_remote_user_headers_without_a_certificate_are_not_trusted(secured: Secured) -> None:
    status, body = await secured.get(METRIC_PATH, headers={"X-Remote-User": HPA_CONTROLLER})
    assert status == 401
    assert_status(body, 401, "Unauthorized")
    assert secured.kube.access_reviews == []


async def test_a_certificate_from_a_ca_nobody_trusts_gets_no_answer(secured: Secured) -> None:
    stranger = trustme.CA().issue_cert("front-proxy-client.test", common_name="front-proxy-client")
    with pytest.raises(aiohttp.ClientError):
        await secured.get(METRIC_PATH, certificate=stranger, headers={"X-Remote-User": HPA_CONTROLLER})
    assert secured.kube.access_reviews == []


async def test_front_proxy_ca_with_a_disallowed_name_does_not_vouch_for_headers(secured: Secured) -> None:
    impostor = secured.front_proxy_ca.issue_cert("impostor.test", common_name="not-the-front-proxy")
    status, body = await secured.get(METRIC_PATH, certificate=impostor, headers={"X-Remote-User": HPA_CONTROLLER})
    assert status == 401
    assert_status(body, 401, "Unauthorized")


async def test_front_proxy_certificate_makes_remote_user_trusted_and_authorised(secured: Secured) -> None:
    proxy = secured.front_proxy_ca.issue_cert("front-proxy-client.test", common_name="front-proxy-client")
    headers = {
        "X-Remote-User": HPA_CONTROLLER,
        "X-Remote-Group": "system:serviceaccounts",
        "X-Remote-Extra-Authentication.kubernetes.io%2fcredential-Id": "JTI=abc",
    }
    status, body = await secured.get(METRIC_PATH, certificate=proxy, headers=headers)
    assert status == 200, body
    assert body["items"][0]["value"] == "7"
    review = secured.kube.access_reviews[-1]
    assert review["user"] == HPA_CONTROLLER
    assert set(review["groups"]) == {"system:serviceaccounts", "system:authenticated"}
    assert review["extra"] == {"authentication.kubernetes.io/credential-id": ["JTI=abc"]}
    assert review["resourceAttributes"] == {
        "verb": "list", "group": "external.metrics.k8s.io", "version": "v1beta1",
        "namespace": "default", "resource": "queue_depth",
    }


async def test_front_proxy_user_without_a_grant_is_forbidden(secured: Secured) -> None:
    proxy = secured.front_proxy_ca.issue_cert("front-proxy-client.test", common_name="front-proxy-client")
    status, body = await secured.get(METRIC_PATH, certificate=proxy, headers={"X-Remote-User": "jane"})
    assert status == 403
    assert_status(body, 403, "Forbidden")
    assert "jane" in body["message"] and "queue_depth" in body["message"]


async def test_client_ca_certificate_authenticates_as_its_common_name_and_organisations(secured: Secured) -> None:
    secured.kube.grants.append(Grant("ops", frozenset({"list"}), "external.metrics.k8s.io", frozenset({"queue_depth"}), "default"))
    certificate = secured.client_ca.issue_cert("alice.test", common_name="alice", organization_name="ops")
    status, body = await secured.get(METRIC_PATH, certificate=certificate)
    assert status == 200, body
    review = secured.kube.access_reviews[-1]
    assert review["user"] == "alice" and "ops" in review["groups"]


async def test_client_ca_certificate_does_not_vouch_for_remote_user_headers(secured: Secured) -> None:
    """Only the front-proxy CA's certificates may speak for someone else."""
    certificate = secured.client_ca.issue_cert("alice.test", common_name="front-proxy-client")
    status, _ = await secured.get(METRIC_PATH, certificate=certificate, headers={"X-Remote-User": HPA_CONTROLLER})
    assert status == 403
    assert secured.kube.access_reviews[-1]["user"] == "front-proxy-client"


async def test_bearer_token_accepted_by_token_review(secured: Secured) -> None:
    status, body = await secured.get(METRIC_PATH, headers={"Authorization": "Bearer hpa-token"})
    assert status == 200, body
    assert secured.kube.access_reviews[-1]["user"] == HPA_CONTROLLER


async def test_bearer_token_rejected_by_token_review(secured: Secured) -> None:
    status, body = await secured.get(METRIC_PATH, headers={"Authorization": "Bearer forged"})
    assert status == 401
    assert_status(body, 401, "Unauthorized")
    assert secured.kube.token_reviews == 1


async def test_metrics_endpoint_is_authorised_as_a_non_resource_url(secured: Secured) -> None:
    status, text = await secured.get("/metrics", headers={"Authorization": "Bearer prometheus-token"})
    assert status == 200
    assert "foresight_http_requests_total" in text
    assert secured.kube.access_reviews[-1]["nonResourceAttributes"] == {"path": "/metrics", "verb": "get"}
    status, body = await secured.get("/metrics", headers={"Authorization": "Bearer hpa-token"})
    assert status == 403
    assert_status(body, 403, "Forbidden")


async def test_decisions_are_cached_so_repeated_requests_cost_one_review(secured: Secured) -> None:
    for _ in range(5):
        status, _ = await secured.get(METRIC_PATH, headers={"Authorization": "Bearer hpa-token"})
        assert status == 200
    assert len(secured.kube.access_reviews) == 1
    assert secured.kube.token_reviews == 1


async def test_a_rotated_front_proxy_ca_is_picked_up_without_a_restart(secured: Secured) -> None:
    """The ConfigMap changes to a new front-proxy CA: its certificates are trusted after the next
    reload, and the old CA's are refused."""
    new_ca = secured.front_proxy_ca
    rotated = trustme.CA()
    secured.kube.config_map = front_proxy_config_map(rotated, secured.client_ca, "[]")
    assert await secured.access.reload()
    headers = {"X-Remote-User": HPA_CONTROLLER}
    old = new_ca.issue_cert("front-proxy-client.test", common_name="front-proxy-client")
    status, _ = await secured.get(METRIC_PATH, certificate=old, headers=headers)
    assert status == 401
    fresh = rotated.issue_cert("any-name.test", common_name="any-name")  # allowed names now empty: any CN
    status, body = await secured.get(METRIC_PATH, certificate=fresh, headers=headers)
    assert status == 200, body
