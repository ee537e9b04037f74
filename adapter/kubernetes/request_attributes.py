"""The authorization attributes of a request, derived from its method and path the way the
kube-apiserver's ``RequestInfoFactory`` derives them, so a SubjectAccessReview here asks the same
question the aggregator asked before it proxied the request.

    /apis/external.metrics.k8s.io/v1beta1/namespaces/ns/gpu_util  -> list gpu_util in ns
    /apis/custom.metrics.k8s.io/v1beta2/namespaces/ns/pods/*/m    -> get pods/m named * in ns
    /apis, /apis/<group>, /apis/<group>/<version>, /metrics       -> non-resource URL
    /openapi/v2, /openapi/v3, /openapi/v3/apis/<group>/<version>  -> non-resource URL
"""

from __future__ import annotations

from dataclasses import dataclass

# The kube-apiserver's verbs by HTTP method for a request that names no object.
_COLLECTION_VERBS = {"GET": "list", "HEAD": "list", "POST": "create", "DELETE": "deletecollection"}
_OBJECT_VERBS = {"GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_API_PREFIXES = ("apis",)


@dataclass(frozen=True)
class RequestAttributes:
    """What a request does to what: the fields of a SubjectAccessReview's spec."""

    verb: str
    path: str
    resource_request: bool
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""

    def describe(self) -> str:
        """The refusal wording of the kube-apiserver, e.g. for a 403 message."""
        if not self.resource_request:
            return f'{self.verb} path "{self.path}"'
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        target = f'resource "{what}" in API group "{self.api_group}"'
        if self.namespace:
            target += f' in the namespace "{self.namespace}"'
        return f"{self.verb} {target}"


def attributes_for(method: str, path: str) -> RequestAttributes:
    """The attributes of ``method path``; ``path`` is the decoded path without the query."""
    method = method.upper()
    parts = [part for part in path.strip("/").split("/") if part]
    # /apis/<group>/<version>/<resource...>: anything shorter is discovery, a non-resource URL.
    if len(parts) < 4 or parts[0] not in _API_PREFIXES:
        return RequestAttributes(verb=_non_resource_verb(method), path=path, resource_request=False)
    group, version, rest = parts[1], parts[2], parts[3:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        namespace = rest[1]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    verbs = _OBJECT_VERBS if name else _COLLECTION_VERBS
    return RequestAttributes(
        verb=verbs.get(method, method.lower()),
        path=path,
        resource_request=True,
        api_group=group,
        api_version=version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
    )


def _non_resource_verb(method: str) -> str:
    return "get" if method == "HEAD" else method.lower()
