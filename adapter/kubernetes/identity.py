"""Who is asking: the user a request authenticated as, in the shape of Kubernetes ``UserInfo``."""

from __future__ import annotations

from dataclasses import dataclass, field

AUTHENTICATED_GROUP = "system:authenticated"


@dataclass(frozen=True)
class Identity:
    """An authenticated user. Hashable, so authorization decisions can be cached by it."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    """``(key, values)`` pairs sorted by key: ``UserInfo.extra`` in a hashable form."""

    def with_authenticated_group(self) -> Identity:
        """Every authenticated user is in ``system:authenticated``, as the kube-apiserver adds it."""
        if AUTHENTICATED_GROUP in self.groups:
            return self
        return Identity(self.user, (*self.groups, AUTHENTICATED_GROUP), self.uid, self.extra)


def extra_from(mapping: dict[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``UserInfo.extra`` as :attr:`Identity.extra`."""
    return tuple(sorted((key, tuple(values)) for key, values in mapping.items()))
