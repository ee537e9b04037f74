"""Allow and deny decisions are remembered for their configured lifetimes and shared while a
review is in flight."""

from __future__ import annotations

import asyncio

import pytest

from adapter.access.authorization import Authorizer, Decision
from adapter.kubernetes.errors import Forbidden
from adapter.kubernetes.identity import Identity
from adapter.kubernetes.request_attributes import RequestAttributes, attributes_for

METRIC = attributes_for("GET", "/apis/external.metrics.k8s.io/v1beta1/namespaces/ns/queue_depth")
ALICE = Identity("alice", ("system:authenticated",))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingReviewer:
    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()

    async def review_access(self, identity: Identity, attributes: RequestAttributes) -> Decision:
        self.calls += 1
        await self.release.wait()
        return Decision(self.allowed, "" if self.allowed else "no rule")


@pytest.mark.parametrize("allowed", [True, False])
async def test_a_decision_is_reused_until_its_lifetime_ends(allowed: bool) -> None:
    clock, reviewer = Clock(), CountingReviewer(allowed)
    authorizer = Authorizer(reviewer, allowed_seconds=10, denied_seconds=3, clock=clock)
    lifetime = 10 if allowed else 3
    for _ in range(3):
        assert (await authorizer.decide(ALICE, METRIC)).allowed is allowed
    assert reviewer.calls == 1
    clock.now = lifetime - 0.1
    await authorizer.decide(ALICE, METRIC)
    assert reviewer.calls == 1
    clock.now = lifetime + 0.1
    await authorizer.decide(ALICE, METRIC)
    assert reviewer.calls == 2


async def test_a_changed_grant_is_seen_once_the_denial_expires() -> None:
    clock, reviewer = Clock(), CountingReviewer(False)
    authorizer = Authorizer(reviewer, denied_seconds=5, clock=clock)
    with pytest.raises(Forbidden, match="alice"):
        await authorizer.authorize(ALICE, METRIC)
    reviewer.allowed = True
    with pytest.raises(Forbidden):
        await authorizer.authorize(ALICE, METRIC)
    clock.now = 6
    await authorizer.authorize(ALICE, METRIC)


async def test_concurrent_requests_with_the_same_question_share_one_review() -> None:
    reviewer = CountingReviewer(True)
    reviewer.release.clear()
    authorizer = Authorizer(reviewer, clock=Clock())
    waiting = [asyncio.create_task(authorizer.decide(ALICE, METRIC)) for _ in range(20)]
    await asyncio.sleep(0)
    reviewer.release.set()
    assert all(decision.allowed for decision in await asyncio.gather(*waiting))
    assert reviewer.calls == 1


async def test_different_users_are_reviewed_separately() -> None:
    reviewer = CountingReviewer(True)
    authorizer = Authorizer(reviewer, clock=Clock())
    await authorizer.decide(ALICE, METRIC)
    await authorizer.decide(Identity("bob"), METRIC)
    await authorizer.decide(Identity("alice", ("other",)), METRIC)
    assert reviewer.calls == 3
