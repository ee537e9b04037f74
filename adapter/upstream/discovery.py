"""One APIResourceList of a group-version from Foresight's and the upstream adapter's.

Foresight's resources come first and win a name both serve; each such name is logged once, as
the upstream's metric of that name is no longer reachable through the API.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from adapter.kubernetes.wire import APIResourceList

log = logging.getLogger(__name__)


class InvalidDiscovery(ValueError):
    """The upstream answered discovery with something that is not an APIResourceList."""


def upstream_resources(body: bytes, group_version: str) -> list[Mapping[str, Any]]:
    """The resources of the upstream's APIResourceList for ``group_version``."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidDiscovery("its discovery answer is not JSON") from None
    if not isinstance(document, dict) or document.get("kind") != "APIResourceList":
        raise InvalidDiscovery("its discovery answer is not an APIResourceList")
    if document.get("groupVersion") != group_version:
        raise InvalidDiscovery(f"its discovery answer is for {document.get('groupVersion')!r}, not {group_version!r}")
    resources = document.get("resources") or []
    if not isinstance(resources, list) or not all(
        isinstance(resource, dict) and isinstance(resource.get("name"), str) for resource in resources
    ):
        raise InvalidDiscovery("its discovery answer has resources without names")
    return resources


class DiscoveryMerge:
    """Merges one group-version's lists, remembering which clashes were already logged."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._warned: set[str] = set()

    def merge(self, own: APIResourceList, upstream: list[Mapping[str, Any]]) -> dict[str, Any]:
        """``own`` with the upstream's resources whose names it does not have."""
        names = {resource["name"] for resource in own["resources"]}
        merged: list[Mapping[str, Any]] = list(own["resources"])
        for resource in upstream:
            name = resource["name"]
            if name not in names:
                merged.append(resource)
                names.add(name)
            elif name not in self._warned:
                self._warned.add(name)
                log.warning(
                    "%s serves %s too; Foresight's %s answers it and the upstream's is not reachable",
                    self._where, name, name,
                )
        return {**own, "resources": merged}
