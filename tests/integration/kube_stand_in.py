"""A stand-in for the three kube-apiserver endpoints the adapter calls: TokenReview,
SubjectAccessReview and the ``kube-system/extension-apiserver-authentication`` ConfigMap.

A real kube-apiserver cannot run here (it needs etcd and a control plane), so this small HTTPS
server answers those requests in the shapes of authentication.k8s.io/v1,
authorization.k8s.io/v1 and core/v1, with RBAC-like grants. The adapter reaches it through the
real kubernetes client and a real kubeconfig, authenticating with its own bearer token as it
would in a cluster. It runs on its own thread, so a test can drive it while the adapter runs in
another process or on the test's loop.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
import yaml
from aiohttp import web

from .local import free_port

ADAPTER_TOKEN = "adapter-service-account-token"
CONFIG_MAP_PATH = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"


@dataclass(frozen=True)
class Grant:
    """Like one RBAC rule bound to a user or group: verbs on resources of a group in a
    namespace (any namespace when empty), or on non-resource paths."""

    subject: str
    verbs: frozenset[str]
    api_group: str = ""
    resources: frozenset[str] = frozenset()
    namespace: str = ""
    paths: frozenset[str] = frozenset()

    def allows(self, spec: dict[str, Any]) -> bool:
        if self.subject != spec.get("user") and self.subject not in spec.get("groups", []):
            return False
        if "nonResourceAttributes" in spec:
            attributes = spec["nonResourceAttributes"]
            return attributes["verb"] in self.verbs and ("*" in self.paths or attributes["path"] in self.paths)
        attributes = spec["resourceAttributes"]
        resource = attributes["resource"] + (f"/{attributes['subresource']}" if attributes.get("subresource") else "")
        return (
            attributes["verb"] in self.verbs
            and attributes.get("group", "") == self.api_group
            and ("*" in self.resources or resource in self.resources)
            and (not self.namespace or attributes.get("namespace") == self.namespace)
        )


@dataclass
class KubeStandIn:
    ca: trustme.CA
    port: int
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Bearer tokens the TokenReview accepts, and the ``UserInfo`` each stands for."""
    grants: list[Grant] = field(default_factory=list)
    config_map: dict[str, str] | None = None
    access_reviews: list[dict[str, Any]] = field(default_factory=list)
    """The spec of every SubjectAccessReview received, in order."""
    token_reviews: int = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path) -> Path:
        ca_file = path.with_suffix(".ca.pem")
        self.ca.cert_pem.write_to_path(str(ca_file))
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "stand-in", "cluster": {"server": self.url, "certificate-authority": str(ca_file)}}],
            "users": [{"name": "foresight", "user": {"token": ADAPTER_TOKEN}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "foresight"}}],
            "current-context": "stand-in",
        }))
        return path

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/apis/authentication.k8s.io/v1/tokenreviews", self._token_review)
        app.router.add_post("/apis/authorization.k8s.io/v1/subjectaccessreviews", self._access_review)
        app.router.add_get(CONFIG_MAP_PATH, self._read_config_map)
        return app

    @staticmethod
    def _caller_is_adapter(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {ADAPTER_TOKEN}"

    async def _token_review(self, request: web.Request) -> web.Response:
        if not self._caller_is_adapter(request):
            return _status(401, "Unauthorized")
        self.token_reviews += 1
        body = await request.json()
        user = self.tokens.get(body["spec"]["token"])
        status: dict[str, Any] = {"authenticated": user is not None}
        if user is not None:
            status["user"] = user
        return web.json_response({**body, "status": status})

    async def _access_review(self, request: web.Request) -> web.Response:
        if not self._caller_is_adapter(request):
            return _status(401, "Unauthorized")
        body = await request.json()
        spec = body["spec"]
        self.access_reviews.append(spec)
        allowed = any(grant.allows(spec) for grant in self.grants)
        status = {"allowed": allowed, "reason": "granted by a stand-in rule" if allowed else ""}
        return web.json_response({**body, "status": status})

    async def _read_config_map(self, request: web.Request) -> web.Response:
        if not self._caller_is_adapter(request):
            return _status(401, "Unauthorized")
        if self.config_map is None:
            return _status(404, 'configmaps "extension-apiserver-authentication" not found', reason="NotFound")
        return web.json_response({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
            "data": dict(self.config_map),
        })


def _status(code: int, message: str, *, reason: str = "Unauthorized") -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    return web.Response(status=code, text=json.dumps(body), content_type="application/json")


@contextmanager
def kube_stand_in() -> Iterator[KubeStandIn]:
    """A running stand-in on a loopback port with its own CA, stopped on exit."""
    ca = trustme.CA()
    stand_in = KubeStandIn(ca=ca, port=free_port())
    with serving_in_a_thread(stand_in._app(), ca, stand_in.port):
        yield stand_in


@contextmanager
def serving_in_a_thread(app: web.Application, ca: trustme.CA, port: int) -> Iterator[None]:
    """``app`` over HTTPS with a certificate from ``ca`` on a loopback ``port``, on an event loop of
    its own, so that a test's synchronous clients (the kubernetes client, kubectl) can call it."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner = web.AppRunner(app, access_log=None)

    async def start() -> None:
        await runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    if not started.wait(timeout=30):
        raise RuntimeError("the Kubernetes API stand-in did not start")
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
