"""The kube-apiserver, as far as Foresight needs it: TokenReview, SubjectAccessReview and reading a
ConfigMap, through the kubernetes client.

The client is synchronous, so each call runs in a small thread pool (started by
:meth:`KubeApi.start`) and the event loop never waits on the network. Timeouts stay well under the
kube-apiserver's 60 s proxy timeout, so a slow control plane turns into a clear answer for the
request that waits on it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from adapter.access.authorization import Decision
from adapter.kubernetes.errors import ServiceUnavailable
from adapter.kubernetes.identity import Identity, extra_from
from adapter.kubernetes.request_attributes import RequestAttributes

log = logging.getLogger(__name__)
REQUEST_TIMEOUT = (5.0, 10.0)
"""Seconds to connect and to read one answer."""
THREADS = 4
T = TypeVar("T")


class KubeUnavailable(ServiceUnavailable):
    """The kube-apiserver could not answer; a request that needed it gets a 503."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NoKubeConfig(Exception):
    """Neither ``--kubeconfig`` nor an in-cluster service account is available."""


def api_client(kubeconfig: Path | None) -> client.ApiClient:
    """A client configured from ``kubeconfig``, else the pod's service account; :class:`NoKubeConfig`
    if neither."""
    configuration = client.Configuration()
    try:
        if kubeconfig is not None:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), client_configuration=configuration
            )
        else:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError, ValueError) as error:
        where = f"--kubeconfig {kubeconfig}" if kubeconfig else "the in-cluster service account (no --kubeconfig)"
        raise NoKubeConfig(f"cannot configure the Kubernetes client from {where}: {error}") from None
    return client.ApiClient(configuration)


class KubeApi:
    """Token and access reviews and ConfigMap reads, off the event loop."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._api_client = api_client
        self._authentication = client.AuthenticationV1Api(api_client)
        self._authorization = client.AuthorizationV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._threads: ThreadPoolExecutor | None = None

    @classmethod
    def connect(cls, kubeconfig: Path | None) -> KubeApi:
        """From ``kubeconfig``, else the pod's service account; :class:`NoKubeConfig` if neither."""
        return cls(api_client(kubeconfig))

    async def review_token(self, token: str) -> Identity | None:
        review = client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token))
        answer = await self._call("TokenReview", self._authentication.create_token_review, review)
        status = answer.status
        user = status.user if status is not None and status.authenticated else None
        username = user.username if user is not None else None
        if user is None or not username:
            return None
        return Identity(username, tuple(user.groups or ()), user.uid or "", extra_from(user.extra or {}))

    async def review_access(self, identity: Identity, attributes: RequestAttributes) -> Decision:
        spec = client.V1SubjectAccessReviewSpec(
            user=identity.user,
            groups=list(identity.groups),
            uid=identity.uid or None,
            extra={key: list(values) for key, values in identity.extra} or None,
        )
        if attributes.resource_request:
            spec.resource_attributes = client.V1ResourceAttributes(
                verb=attributes.verb,
                group=attributes.api_group,
                version=attributes.api_version,
                namespace=attributes.namespace or None,
                resource=attributes.resource,
                subresource=attributes.subresource or None,
                name=attributes.name or None,
            )
        else:
            spec.non_resource_attributes = client.V1NonResourceAttributes(path=attributes.path, verb=attributes.verb)
        review = client.V1SubjectAccessReview(spec=spec)
        answer = await self._call("SubjectAccessReview", self._authorization.create_subject_access_review, review)
        status = answer.status
        if status is None:
            return Decision(False, "the SubjectAccessReview came back without a status")
        return Decision(bool(status.allowed) and not status.denied, status.reason or status.evaluation_error or "")

    async def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        """The data of a ConfigMap, or ``None`` when it does not exist."""
        try:
            answer = await self._call(f"ConfigMap {namespace}/{name}", self._core.read_namespaced_config_map, name, namespace)
        except KubeUnavailable as error:
            if error.status == 404:
                return None
            raise
        return dict(answer.data or {})

    def start(self) -> None:
        """The threads the calls run on (started as calls arrive)."""
        self._threads = ThreadPoolExecutor(THREADS, thread_name_prefix="kube-api")

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        self._api_client.close()  # type: ignore[no-untyped-call]

    async def _call(self, what: str, method: Callable[..., T], *arguments: object) -> T:
        assert self._threads is not None, "a call before start()"
        call = functools.partial(method, *arguments, _request_timeout=REQUEST_TIMEOUT)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, call)
        except ApiException as error:
            raise KubeUnavailable(
                f"{what}: the kube-apiserver answered {error.status} {error.reason}", status=error.status
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            log.warning("%s failed: %s", what, error)
            raise KubeUnavailable(f"{what}: the kube-apiserver did not answer ({type(error).__name__})") from None
