"""The caller's identity as front-proxy headers, the way the kube-apiserver's aggregator asserts
it to an extension API server. Pure: sent only over a front-proxy client certificate."""

from __future__ import annotations

from urllib.parse import quote

from adapter.kubernetes.identity import Identity

USER_HEADER = "X-Remote-User"
GROUP_HEADER = "X-Remote-Group"
EXTRA_PREFIX = "X-Remote-Extra-"
IDENTITY_PREFIX = "x-remote-"
"""Headers a caller may not pass through: only Foresight asserts who the caller is."""


def front_proxy_headers(identity: Identity) -> list[tuple[str, str]]:
    """``identity`` as ``X-Remote-User``, one ``X-Remote-Group`` per group and one
    ``X-Remote-Extra-<key>`` per extra value, keys URL-escaped as k8s.io/apiserver escapes them."""
    headers = [(USER_HEADER, identity.user)]
    headers += [(GROUP_HEADER, group) for group in identity.groups]
    headers += [(EXTRA_PREFIX + quote(key, safe=""), value) for key, values in identity.extra for value in values]
    return headers
