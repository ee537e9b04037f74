"""A stand-in for the read-only kube-apiserver paths ``foresight preflight`` reads: APIServices,
CustomResourceDefinitions, Deployments listed by label, and the authentication ConfigMap.

A real kube-apiserver cannot run here (it needs etcd and a control plane), so this small HTTPS
server answers GETs of those paths with the objects a test puts in, in the shapes of
apiregistration.k8s.io/v1, apiextensions.k8s.io/v1, apps/v1 and core/v1, and a 404 ``Status`` for
anything else, as the kube-apiserver answers for an object that does not exist. Preflight reaches
it through the real kubernetes client and a real kubeconfig with a bearer token. It runs on its
own thread, so preflight's blocking reads can run on the test's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
import yaml
from aiohttp import web

from .kube_stand_in import serving_in_a_thread
from .local import free_port

TOKEN = "preflight-token"
APISERVICES = "/apis/apiregistration.k8s.io/v1/apiservices"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
DEPLOYMENTS = "/apis/apps/v1/deployments"
AUTHENTICATION = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"


def apiservice(name: str, service: tuple[str, str] | None, *, available: bool = True, reason: str = "Passed",
               message: str = "all checks passed", ca_bundle: bool = True) -> dict[str, Any]:
    """An APIService as the aggregator reports it, held by Service ``(namespace, name)``."""
    version, group = name.split(".", 1)
    spec: dict[str, Any] = {"group": group, "version": version, "groupPriorityMinimum": 100, "versionPriority": 100}
    if service is not None:
        spec["service"] = {"namespace": service[0], "name": service[1], "port": 443}
    if ca_bundle:
        spec["caBundle"] = "LS0tLS1CRUdJTi0tLS0t"
    else:
        spec["insecureSkipTLSVerify"] = True
    condition = {"type": "Available", "status": "True" if available else "False", "reason": reason, "message": message}
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": name},
            "spec": spec, "status": {"conditions": [condition]}}


def keda_operator(namespace: str = "keda", ready: int = 1) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"namespace": namespace, "name": "keda-operator", "labels": {"app": "keda-operator"}},
            "spec": {"replicas": 1}, "status": {"readyReplicas": ready}}


def front_proxy(*, ca: bool = True) -> dict[str, str]:
    """The authentication ConfigMap's data as kubeadm's kube-apiserver publishes it."""
    data = {
        "client-ca-file": "-----BEGIN CERTIFICATE-----\n",
        "requestheader-allowed-names": '["front-proxy-client"]',
        "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
        "requestheader-group-headers": '["X-Remote-Group"]',
        "requestheader-username-headers": '["X-Remote-User"]',
    }
    if ca:
        data["requestheader-client-ca-file"] = "-----BEGIN CERTIFICATE-----\n"
    return data


@dataclass
class ClusterStandIn:
    ca: trustme.CA
    port: int
    apiservices: dict[str, dict[str, Any]] = field(default_factory=dict)
    crds: set[str] = field(default_factory=set)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    authentication: dict[str, str] | None = None
    reads: list[str] = field(default_factory=list)
    """The path of every request, in order."""

    def write_kubeconfig(self, path: Path) -> Path:
        ca_file = path.with_suffix(".ca.pem")
        self.ca.cert_pem.write_to_path(str(ca_file))
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
            "clusters": [{"name": "stand-in", "cluster": {"server": f"https://127.0.0.1:{self.port}",
                                                          "certificate-authority": str(ca_file)}}],
            "users": [{"name": "admin", "user": {"token": TOKEN}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "admin"}}],
        }))
        return path

    async def _get(self, request: web.Request) -> web.Response:
        self.reads.append(request.path)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _status(401, "Unauthorized", "Unauthorized")
        found = self._object(request)
        if found is None:
            return _status(404, "NotFound", f"the server could not find the requested resource {request.path}")
        return web.json_response(found)

    def _object(self, request: web.Request) -> dict[str, Any] | None:
        path = request.path
        if path.startswith(f"{APISERVICES}/"):
            return self.apiservices.get(path.rsplit("/", 1)[1])
        if path.startswith(f"{CRDS}/"):
            name = path.rsplit("/", 1)[1]
            return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": name}} if name in self.crds else None
        if path == DEPLOYMENTS:
            key, _, value = request.query.get("labelSelector", "").partition("=")
            items = [item for item in self.deployments if item["metadata"]["labels"].get(key) == value]
            return {"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {}, "items": items}
        if path == AUTHENTICATION and self.authentication is not None:
            return {"apiVersion": "v1", "kind": "ConfigMap", "data": dict(self.authentication),
                    "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"}}
        return None


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    return web.Response(status=code, text=json.dumps(body), content_type="application/json")


@contextmanager
def cluster_stand_in() -> Iterator[ClusterStandIn]:
    """A running stand-in on a loopback port with its own CA, stopped on exit."""
    ca = trustme.CA()
    stand_in = ClusterStandIn(ca=ca, port=free_port())
    app = web.Application()
    app.router.add_get("/{path:.*}", stand_in._get)
    with serving_in_a_thread(app, ca, stand_in.port):
        yield stand_in
