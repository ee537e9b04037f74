"""May this user do this? SubjectAccessReviews, with allow and deny both remembered briefly.

An HPA asks for the same metric every sync period, so without the cache every metric request
would cost a round trip to the kube-apiserver; concurrent requests with the same question share
one review.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from adapter.kubernetes.errors import Forbidden
from adapter.kubernetes.identity import Identity
from adapter.kubernetes.request_attributes import RequestAttributes

DECISIONS_KEPT = 8192


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


class AccessReviewer(Protocol):
    async def review_access(self, identity: Identity, attributes: RequestAttributes) -> Decision:
        """The authorizer's answer for ``identity`` doing ``attributes``."""


class Authorizer:
    """Answers with a cached :class:`Decision`, raising :class:`Forbidden` on a deny."""

    def __init__(
        self,
        reviewer: AccessReviewer,
        *,
        allowed_seconds: float = 10.0,
        denied_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reviewer = reviewer
        self._allowed_seconds = allowed_seconds
        self._denied_seconds = denied_seconds
        self._clock = clock
        self._decisions: dict[tuple[Identity, RequestAttributes], tuple[float, Decision]] = {}
        self._pending: dict[tuple[Identity, RequestAttributes], asyncio.Task[Decision]] = {}

    async def authorize(self, identity: Identity, attributes: RequestAttributes) -> None:
        decision = await self.decide(identity, attributes)
        if not decision.allowed:
            because = f": {decision.reason}" if decision.reason else ""
            raise Forbidden(f'{attributes.describe()}: user "{identity.user}" is not allowed{because}')

    async def decide(self, identity: Identity, attributes: RequestAttributes) -> Decision:
        key = (identity, attributes)
        remembered = self._decisions.get(key)
        if remembered is not None and remembered[0] > self._clock():
            return remembered[1]
        review = self._pending.get(key)
        if review is None:
            # a task, so a cancelled requester does not cancel the review others wait for
            review = self._pending[key] = asyncio.create_task(self._review(key))
            review.add_done_callback(_retrieve)
        return await asyncio.shield(review)

    async def _review(self, key: tuple[Identity, RequestAttributes]) -> Decision:
        try:
            decision = await self._reviewer.review_access(*key)
        finally:
            del self._pending[key]
        lifetime = self._allowed_seconds if decision.allowed else self._denied_seconds
        if len(self._decisions) >= DECISIONS_KEPT:
            self._decisions.clear()
        self._decisions[key] = (self._clock() + lifetime, decision)
        return decision


def _retrieve(review: asyncio.Task[Decision]) -> None:
    """Mark a review's failure as seen: every requester may have gone before it finished."""
    if not review.cancelled():
        review.exception()
