"""What the cluster holds today, read with the kubernetes client: who serves each metrics
group-version, whether KEDA runs, and the kube-apiserver's front-proxy configuration.

A command-line read before anything runs, so the calls are plain blocking ones; answers are kept
as JSON rather than the client's models, which refuse objects missing fields they call required.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

METRICS_API_SERVICES = (
    "v1beta1.external.metrics.k8s.io",
    "v1beta1.custom.metrics.k8s.io",
    "v1beta2.custom.metrics.k8s.io",
)
KEDA_CRD = "scaledobjects.keda.sh"
KEDA_OPERATOR_SELECTOR = "app=keda-operator"
"""The label KEDA's manifests and Helm chart put on the operator's Deployment."""
AUTHENTICATION_CONFIG_MAP = ("kube-system", "extension-apiserver-authentication")
FRONT_PROXY_KEYS = (
    "requestheader-client-ca-file",
    "requestheader-username-headers",
    "requestheader-group-headers",
    "requestheader-extra-headers-prefix",
    "requestheader-allowed-names",
)
REQUEST_TIMEOUT = (5.0, 10.0)


class CannotRead(Exception):
    """The Kubernetes API could not be read (unreachable, or the reader lacks a grant)."""


@dataclass(frozen=True)
class ServiceRef:
    namespace: str
    name: str
    port: int = 443

    @property
    def url(self) -> str:
        """The Service's in-cluster HTTPS URL."""
        port = "" if self.port == 443 else f":{self.port}"
        return f"https://{self.name}.{self.namespace}.svc{port}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}:{self.port}"


@dataclass(frozen=True)
class Registration:
    """One APIService: the Service behind it (``None``: the kube-apiserver's own) and whether the
    aggregator finds it Available."""

    name: str
    service: ServiceRef | None
    available: bool
    condition: str
    """The Available condition's reason and message, for the report."""
    ca_bundle: bool
    """Whether it names the CA of the Service's certificate (else it skips verification)."""


@dataclass(frozen=True)
class Deployment:
    namespace: str
    name: str
    ready: int
    wanted: int


@dataclass(frozen=True)
class ClusterFacts:
    registrations: dict[str, Registration | None]
    """Each metrics APIService by name; ``None`` where none is registered."""
    keda_crd: bool
    keda_operators: tuple[Deployment, ...]
    front_proxy_missing: tuple[str, ...]
    """Keys of the authentication ConfigMap that are absent or empty (all, without the ConfigMap)."""


def read_cluster(api: client.ApiClient) -> ClusterFacts:
    """Reads every object preflight needs; :class:`CannotRead` names the first it could not."""
    registration = client.ApiregistrationV1Api(api)
    extensions = client.ApiextensionsV1Api(api)
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    registrations = {
        name: _registration(name, _read(f"APIService {name}", registration.read_api_service, name))
        for name in METRICS_API_SERVICES
    }
    crd = _read(f"CustomResourceDefinition {KEDA_CRD}", extensions.read_custom_resource_definition, KEDA_CRD)
    deployments = _read(
        f"Deployments labelled {KEDA_OPERATOR_SELECTOR}", apps.list_deployment_for_all_namespaces,
        label_selector=KEDA_OPERATOR_SELECTOR,
    )
    namespace, name = AUTHENTICATION_CONFIG_MAP
    config_map = _read(f"ConfigMap {namespace}/{name}", core.read_namespaced_config_map, name, namespace)
    data = (config_map or {}).get("data") or {}
    return ClusterFacts(
        registrations=registrations,
        keda_crd=crd is not None,
        keda_operators=tuple(_deployment(item) for item in (deployments or {}).get("items", [])),
        front_proxy_missing=tuple(key for key in FRONT_PROXY_KEYS if not str(data.get(key, "")).strip()),
    )


def _read(what: str, method: Callable[..., Any], *arguments: object, **options: object) -> dict[str, Any] | None:
    """The object as JSON, or ``None`` when it does not exist."""
    try:
        response = method(*arguments, **options, _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as error:
        if error.status == 404:
            return None
        raise CannotRead(f"cannot read {what}: the Kubernetes API answered {error.status} {error.reason}") from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise CannotRead(f"cannot read {what}: the Kubernetes API did not answer ({type(error).__name__})") from None
    try:
        document = json.loads(response.data)
    except ValueError:
        raise CannotRead(f"cannot read {what}: the Kubernetes API answered something other than JSON") from None
    if not isinstance(document, dict):
        raise CannotRead(f"cannot read {what}: the Kubernetes API answered something other than an object")
    return document


def _registration(name: str, document: dict[str, Any] | None) -> Registration | None:
    if document is None:
        return None
    spec = document.get("spec") or {}
    service = spec.get("service")
    reference = None
    if service:
        reference = ServiceRef(str(service.get("namespace", "")), str(service.get("name", "")), int(service.get("port") or 443))
    conditions = (document.get("status") or {}).get("conditions") or []
    available = next((condition for condition in conditions if condition.get("type") == "Available"), None)
    if available is None:
        return Registration(name, reference, False, "no Available condition yet", bool(spec.get("caBundle")))
    words = " ".join(filter(None, [available.get("reason", ""), available.get("message", "")]))
    return Registration(name, reference, available.get("status") == "True", words, bool(spec.get("caBundle")))


def _deployment(item: dict[str, Any]) -> Deployment:
    metadata, status = item.get("metadata") or {}, item.get("status") or {}
    return Deployment(
        str(metadata.get("namespace", "")), str(metadata.get("name", "")),
        int(status.get("readyReplicas") or 0), int((item.get("spec") or {}).get("replicas") or 0),
    )
