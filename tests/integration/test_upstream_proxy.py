"""The upstream proxy end to end: two Foresight instances, each a real HTTPS server with real
certificates made for this run, both reading the suite's real Prometheus. The *upstream* stands
for the adapter a cluster already runs (prometheus-adapter, KEDA's metrics server); the *adapter*
is the registered one and forwards what it does not serve, presenting a front-proxy client
certificate (or only a bearer token). The real ``kubectl`` reads the adapter.

Each instance authenticates and authorises against its own stand-in for the kube-apiserver (see
``kube_stand_in``: a real kube-apiserver cannot run here), so the SubjectAccessReviews the
upstream received say whom it believed the caller to be.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
import trustme
import yaml
from aiohttp import web

from adapter.access.secure_serving import SecureServingOptions, secure_serving
from adapter.app.assembly import assemble
from adapter.settings.config import Settings, settings_from_mapping
from adapter.signals.presets import resolve_rules
from adapter.sources.prometheus import PrometheusSource
from adapter.upstream.upstreams import Upstreams

from .kube_stand_in import Grant, KubeStandIn, kube_stand_in
from .local import free_port, kubectl
from .prometheus import PrometheusServer
from .test_access_control import front_proxy_config_map
from .workload_exporter import ground_truth

pytestmark = pytest.mark.integration
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2"
JANE = "jane"
"""The user kubectl authenticates as, at the adapter."""
JANES_EXTRA = {"authentication.kubernetes.io/credential-id": ["JTI=abc"]}
FORESIGHT = "system:serviceaccount:foresight:foresight"
"""The adapter's own identity at the upstream, where it sends its bearer token."""
PROXY_NAME = "foresight-upstream-client"
UPSTREAM_ONLY = f"{EXTERNAL}/namespaces/inference/requests_in_flight"
UPSTREAM_RUNNING = "sum(vllm:num_requests_running{<<.LabelMatchers>>})"
Credentials = Literal["certificate", "token"]


def _grants(kube: KubeStandIn, subject: str) -> None:
    kube.grants += [
        Grant(subject, frozenset({"get", "list"}), "external.metrics.k8s.io", frozenset({"*"})),
        Grant(subject, frozenset({"get", "list"}), "custom.metrics.k8s.io", frozenset({"*"})),
        Grant("system:authenticated", frozenset({"get"}), paths=frozenset({"*"})),
    ]


@dataclass
class Pair:
    adapter_url: str
    upstream_url: str
    upstream_kube: KubeStandIn
    adapter_kube: KubeStandIn
    kubeconfig: Path
    serving_ca: trustme.CA
    front_proxy_ca: trustme.CA
    upstream_runner: web.AppRunner
    upstream_headers: list[list[tuple[str, str]]]
    """The identity headers (``X-Remote-*``) of every request the upstream received."""
    upstream_running: bool = True

    async def stop_upstream(self) -> None:
        if self.upstream_running:
            self.upstream_running = False
            await self.upstream_runner.cleanup()

    async def kubectl(self, *args: str) -> tuple[int, str, str]:
        """The real kubectl, as a child the event loop waits on (both servers run on this loop)."""
        process = await asyncio.create_subprocess_exec(
            kubectl(), *args, env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        return process.returncode, stdout.decode(), stderr.decode()

    async def get_raw(self, path: str) -> Any:
        code, stdout, stderr = await self.kubectl("get", "--raw", path)
        assert code == 0, stderr
        return json.loads(stdout)

    async def get(self, url: str, path: str, *, headers: dict[str, str], certificate: trustme.LeafCert | None = None
                  ) -> tuple[int, str, bytes]:
        tls = ssl.create_default_context()
        self.serving_ca.configure_trust(tls)
        if certificate is not None:
            certificate.configure_cert(tls)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}{path}", ssl=tls, headers=headers) as response:
                return response.status, response.headers["Content-Type"], await response.read()

    def upstream_reviews(self) -> list[tuple[str, tuple[str, ...]]]:
        """Whom the upstream authorised, for each metric request it received."""
        return [(spec["user"], tuple(spec.get("groups", []))) for spec in self.upstream_kube.access_reviews
                if "resourceAttributes" in spec]


async def _serve(app: web.Application, runner_tls: Any) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=runner_tls).start()
    return runner, f"https://127.0.0.1:{port}"


def _write(path: Path, blob: trustme.Blob) -> Path:
    blob.write_to_path(str(path))
    return path


@asynccontextmanager
async def running_pair(workdir: Path, prometheus: PrometheusServer, credentials: Credentials) -> AsyncIterator[Pair]:
    """The upstream (serving ``requests_in_flight`` and a ``queue_depth`` of its own, 1000 times the
    real one) and the adapter (the vLLM presets) forwarding to it with ``credentials``."""
    serving_ca, front_proxy_ca = trustme.CA(), trustme.CA()
    serving = serving_ca.issue_cert("127.0.0.1")
    cert_file, key_file = _write(workdir / "tls.crt", serving.cert_chain_pems[0]), _write(workdir / "tls.key", serving.private_key_pem)
    options = {"tls_cert_file": cert_file, "tls_private_key_file": key_file}
    async with AsyncExitStack() as stack:
        upstream_kube = stack.enter_context(kube_stand_in())
        adapter_kube = stack.enter_context(kube_stand_in())
        upstream_kube.config_map = front_proxy_config_map(front_proxy_ca, trustme.CA(), f'["{PROXY_NAME}"]')
        upstream_kube.tokens["foresight-token"] = {"username": FORESIGHT, "groups": ["system:serviceaccounts"]}
        _grants(upstream_kube, "system:authenticated")
        adapter_kube.config_map = front_proxy_config_map(trustme.CA(), trustme.CA(), "[]")
        adapter_kube.tokens["kubectl-token"] = {"username": JANE, "groups": ["metrics-readers"], "extra": JANES_EXTRA}
        _grants(adapter_kube, "metrics-readers")

        upstream_settings = settings_from_mapping({
            "prometheus": {"url": prometheus.url, "timeout": "5s"},
            "signals": {"server": "none", "gpu": "none"},
            "metrics": [
                {"name": "requests_in_flight", "query": UPSTREAM_RUNNING,
                 "pods_query": "sum by (pod) (vllm:num_requests_running{<<.LabelMatchers>>})"},
                {"name": "queue_depth", "query": "1000 * sum(vllm:num_requests_waiting{<<.LabelMatchers>>})"},
            ],
        }, source="upstream config")
        tls, access = secure_serving(SecureServingOptions(
            **options, kubeconfig=upstream_kube.write_kubeconfig(workdir / "upstream-kubeconfig")))
        upstream = _assembled(upstream_settings, access=access)
        upstream_headers: list[list[tuple[str, str]]] = []

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            upstream_headers.append([(name, value) for name, value in request.headers.items()
                                     if name.lower().startswith("x-remote-")])
            return await handler(request)

        upstream.app.middlewares.append(record)
        upstream_runner, upstream_url = await _serve(upstream.app, tls)

        section: dict[str, Any] = {"url": upstream_url, "ca_file": str(_write(workdir / "ca.pem", serving_ca.cert_pem))}
        if credentials == "certificate":
            client = front_proxy_ca.issue_cert("foresight.test", common_name=PROXY_NAME)
            section["cert_file"] = str(_write(workdir / "client.crt", client.cert_chain_pems[0]))
            section["key_file"] = str(_write(workdir / "client.key", client.private_key_pem))
        else:
            (workdir / "token").write_text("foresight-token\n")
            section["bearer_token_file"] = str(workdir / "token")
        adapter_settings = settings_from_mapping({
            "prometheus": {"url": prometheus.url, "timeout": "5s"},
            "upstream": {"external": section, "custom": section},
        }, source="adapter config")
        tls, access = secure_serving(SecureServingOptions(
            **options, kubeconfig=adapter_kube.write_kubeconfig(workdir / "adapter-kubeconfig")))
        adapter = _assembled(adapter_settings, access=access,
                             upstreams=Upstreams.from_settings(adapter_settings.upstream, source="adapter config"))
        adapter_runner, adapter_url = await _serve(adapter.app, tls)
        stack.push_async_callback(adapter_runner.cleanup)

        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "foresight",
            "clusters": [{"name": "foresight", "cluster": {"server": adapter_url, "certificate-authority": section["ca_file"]}}],
            "users": [{"name": "jane", "user": {"token": "kubectl-token"}}],
            "contexts": [{"name": "foresight", "context": {"cluster": "foresight", "user": "jane"}}],
        }))
        pair = Pair(adapter_url, upstream_url, upstream_kube, adapter_kube, kubeconfig, serving_ca, front_proxy_ca,
                    upstream_runner, upstream_headers)
        stack.push_async_callback(pair.stop_upstream)
        yield pair


def _assembled(settings: Settings, **kwargs: Any) -> Any:
    assert settings.prometheus is not None
    source = PrometheusSource.open(settings.prometheus, max_concurrency=2)
    return assemble(rules=resolve_rules(settings, source="test"), source=source, refresh=settings.refresh,
                    forecasts=None, refresh_in_background=False, **kwargs)


@pytest.fixture
async def pair(prometheus: PrometheusServer, tmp_path: Path) -> AsyncIterator[Pair]:
    async with running_pair(tmp_path, prometheus, "certificate") as running:
        yield running


async def test_a_metric_only_the_upstream_serves_is_answered_as_the_upstream_answers_it(pair: Pair) -> None:
    forwarded = await pair.get_raw(UPSTREAM_ONLY)
    [item] = forwarded["items"]
    assert item["metricName"] == "requests_in_flight"
    # byte for byte what the upstream itself answers the same user (its values are cached, so
    # both answers come from one reading)
    proxy = pair.front_proxy_ca.issue_cert("direct.test", common_name=PROXY_NAME)
    direct = await pair.get(pair.upstream_url, UPSTREAM_ONLY, headers={"X-Remote-User": JANE}, certificate=proxy)
    assert direct[:2] == (200, "application/json; charset=utf-8")
    assert await pair.get(pair.adapter_url, UPSTREAM_ONLY, headers={"Authorization": "Bearer kubectl-token"}) == direct
    assert json.loads(direct[2]) == forwarded
    # errors too: the upstream's own Status, not one of the adapter's
    status, content_type, body = await pair.get(
        pair.adapter_url, f"{UPSTREAM_ONLY}?labelSelector=app%20in%20oops", headers={"Authorization": "Bearer kubectl-token"})
    assert status == 400 and content_type.startswith("application/json")
    assert json.loads(body)["reason"] == "BadRequest"
    per_pod = await pair.get_raw(f"{CUSTOM}/namespaces/inference/pods/*/requests_in_flight")
    assert {item["describedObject"]["name"] for item in per_pod["items"]} >= {"llama-0", "llama-1"}
    # the custom metrics API's other objects are the upstream's to answer (this one, with a 404)
    asked = len(pair.upstream_headers)
    code, _, stderr = await pair.kubectl("get", "--raw", f"{CUSTOM}/namespaces/inference/deployments.apps/llama/requests_in_flight")
    assert code != 0 and "NotFound" in stderr
    assert len(pair.upstream_headers) == asked + 1


async def test_discovery_lists_both_adapters_metrics(pair: Pair) -> None:
    external = {resource["name"] for resource in (await pair.get_raw(EXTERNAL))["resources"]}
    assert {"requests_in_flight", "queue_depth", "requests_per_second", "gpu_utilization"} <= external
    custom = {resource["name"] for resource in (await pair.get_raw(CUSTOM))["resources"]}
    assert {"pods/requests_in_flight", "pods/queue_depth"} <= custom
    code, stdout, stderr = await pair.kubectl("api-resources", "--api-group=external.metrics.k8s.io", "-o", "name")
    assert code == 0, stderr
    assert {"requests_in_flight.external.metrics.k8s.io", "queue_depth.external.metrics.k8s.io"} <= set(stdout.split())


async def test_a_name_both_serve_is_foresights_with_one_warning(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="adapter.upstream"):
        for _ in range(3):
            names = [resource["name"] for resource in (await pair.get_raw(EXTERNAL))["resources"]]
            assert names.count("queue_depth") == 1
    warnings = [record for record in caplog.records if "queue_depth" in record.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    body = await pair.get_raw(f"{EXTERNAL}/namespaces/inference/queue_depth?labelSelector=app%3Dllama")
    assert float(body["items"][0]["value"]) == ground_truth("inference", "llama").queue_depth  # not 1000 times it
    assert pair.upstream_reviews() == []  # the upstream was never asked for it


async def test_an_upstream_that_is_down_fails_its_metrics_only(pair: Pair) -> None:
    await pair.stop_upstream()
    code, _, stderr = await pair.kubectl("get", "--raw", UPSTREAM_ONLY)
    assert code != 0 and "ServiceUnavailable" in stderr and "did not answer" in stderr
    status, content_type, body = await pair.get(
        pair.adapter_url, UPSTREAM_ONLY, headers={"Authorization": "Bearer kubectl-token"})
    assert status == 503 and content_type.startswith("application/json")
    assert json.loads(body)["kind"] == "Status"
    own = await pair.get_raw(f"{EXTERNAL}/namespaces/inference/queue_depth?labelSelector=app%3Dllama")
    assert own["items"][0]["metricName"] == "queue_depth"
    names = {resource["name"] for resource in (await pair.get_raw(EXTERNAL))["resources"]}
    assert "queue_depth" in names and "requests_in_flight" not in names


async def test_the_callers_identity_is_reasserted_over_the_front_proxy_certificate(pair: Pair) -> None:
    """The upstream authorises jane, as the adapter authenticated her; headers she sends herself
    to claim more never reach it."""
    claims = {"Authorization": "Bearer kubectl-token", "X-Remote-User": "admin", "X-Remote-Group": "system:masters"}
    status, _, body = await pair.get(pair.adapter_url, UPSTREAM_ONLY, headers=claims)
    assert status == 200, body
    assert pair.upstream_headers == [[
        ("X-Remote-User", JANE), ("X-Remote-Group", "metrics-readers"), ("X-Remote-Group", "system:authenticated"),
        ("X-Remote-Extra-authentication.kubernetes.io%2Fcredential-id", "JTI=abc"),
    ]]
    [(user, groups)] = pair.upstream_reviews()
    assert user == JANE and set(groups) == {"metrics-readers", "system:authenticated"}
    assert pair.upstream_kube.access_reviews[-1]["extra"] == JANES_EXTRA  # the escaped key decodes as it was


async def test_without_a_client_certificate_no_identity_headers_are_sent_and_the_upstream_sees_foresight(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    async with running_pair(tmp_path, prometheus, "token") as pair:
        claims = {"Authorization": "Bearer kubectl-token", "X-Remote-User": "admin", "X-Remote-Group": "system:masters"}
        status, _, body = await pair.get(pair.adapter_url, UPSTREAM_ONLY, headers=claims)
        assert status == 200, body
        assert pair.upstream_headers == [[]]
        [(user, groups)] = pair.upstream_reviews()
        assert user == FORESIGHT and "system:masters" not in groups


async def test_the_adapters_own_authorization_applies_before_anything_is_forwarded(pair: Pair) -> None:
    code, _, stderr = await pair.kubectl("--token", "forged", "get", "--raw", UPSTREAM_ONLY)
    assert code != 0 and "Unauthorized" in stderr
    pair.adapter_kube.tokens["outsider-token"] = {"username": "outsider", "groups": []}
    code, _, stderr = await pair.kubectl("--token", "outsider-token", "get", "--raw", UPSTREAM_ONLY)
    assert code != 0 and "Forbidden" in stderr and "outsider" in stderr
    assert pair.upstream_reviews() == []
