"""A sped-up demo judges staleness in real time: a refresh pass slowed down by a busy machine must
not turn its values into 503s, while a source that stopped answering still does, as ``serve``'s
would."""

from __future__ import annotations

from adapter.commands.demo import STALENESS_REAL_SECONDS, demo_refresh

from ..demo_adapter import demo_adapter

SPEED = 10.0
PATH = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/queue_depth?labelSelector=app%3Dllama"


async def test_a_demo_at_speed_serves_a_value_until_it_is_two_real_minutes_old() -> None:
    async with demo_adapter(refresh=demo_refresh(SPEED)) as demo:
        await demo.get(PATH, status=200)
        demo.clock.now += 60 * SPEED  # a minute of real time without a refresh: 600 simulated seconds
        await demo.get(PATH, status=200)
        demo.clock.now += (STALENESS_REAL_SECONDS - 60 + 1) * SPEED
        body = await demo.get(PATH, status=503)
        assert "no fresh data" in body["message"]
