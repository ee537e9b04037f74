"""Tracked-key caps are fair: keys whose selector matches nothing give up their place, and one
user allowed to read in many namespaces cannot take the places (or the forecast series) the HPA
controller's keys need.

The adapter runs behind its real access control; a stand-in answers the TokenReviews (no
kube-apiserver runs here), naming each token's user after the token, and a stand-in source has
series for every selector but ``app=nothing``.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapter.access.authentication import AuthenticationSettings, Authenticator
from adapter.access.authentication_source import AuthenticationOptions
from adapter.access.control import AccessControl
from adapter.app.assembly import Adapter, assemble
from adapter.kubernetes.identity import Identity
from adapter.settings.config import RefreshSettings, settings_from_mapping
from adapter.signals.presets import resolve_rules
from adapter.sources.protocol import RangeSeries, Sample
from adapter.tracking.store import NO_DATA_IDLE_SECONDS

HPA = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"


class NothingMatchesNothing:
    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        return [] if '"nothing"' in query else [Sample({}, 3.0)]

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        return []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


class TokenIsUser:
    async def review_token(self, token: str) -> Identity | None:
        return Identity(token)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Running:
    def __init__(self, client: TestClient[Any, Any], adapter: Adapter, clock: Clock) -> None:
        self.client, self.adapter, self.clock = client, adapter, clock

    async def get(self, user: str, namespace: str, app: str) -> tuple[int, dict[str, Any]]:
        response = await self.client.get(
            f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/jobs?labelSelector=app%3D{app}",
            headers={"Authorization": f"Bearer {user}"},
        )
        return response.status, await response.json()


async def running(refresh: dict[str, Any], *, forecasts: dict[str, Any] | None = None) -> AsyncIterator[Running]:
    settings = settings_from_mapping({
        "signals": {"gpu": "none", "server": "none"},
        "metrics": [{"name": "jobs", "query": "sum(jobs{<<.LabelMatchers>>})"}],
        "refresh": refresh,
        **({"forecasts": forecasts} if forecasts is not None else {}),
    }, source="test config")
    access = AccessControl(
        Authenticator(AuthenticationSettings(), TokenIsUser()), None,
        options=AuthenticationOptions(skip_lookup=True), config_maps=None,
        tls=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH),
    )
    clock = Clock()
    adapter = assemble(
        rules=resolve_rules(settings, source="test config"), source=NothingMatchesNothing(),
        refresh=settings.refresh, forecasts=settings.forecasts if forecasts is not None else None,
        refresh_in_background=False, access=access, clock=clock,
    )
    async with TestClient(TestServer(adapter.app)) as client:
        yield Running(client, adapter, clock)


@pytest.fixture
async def capped() -> AsyncIterator[Running]:
    async for adapter in running({"max_keys": 4, "max_keys_per_namespace": 4, "max_keys_per_user": 2}):
        yield adapter


async def test_keys_without_data_give_their_place_to_a_key_with_data(capped: Running) -> None:
    for namespace in ("a", "b", "c", "d"):
        status, body = await capped.get(HPA, namespace, "nothing")
        assert status == 404 and body["reason"] == "NotFound"
    status, body = await capped.get(HPA, "e", "llama")
    assert status == 200, body
    assert capped.adapter.registry.get_sample_value("foresight_rejected_keys_total", {"scope": "total"}) is None


async def test_keys_with_data_keep_their_place(capped: Running) -> None:
    for namespace in ("a", "b", "c", "d"):
        assert (await capped.get(HPA, namespace, "llama"))[0] == 200
    status, body = await capped.get(HPA, "e", "llama")
    assert status == 429 and "refresh.max_keys" in body["message"]


async def test_one_user_cannot_take_the_places_the_hpa_controller_needs(capped: Running) -> None:
    for namespace in ("a", "b"):
        assert (await capped.get("reader", namespace, "llama"))[0] == 200
    status, body = await capped.get("reader", "c", "llama")
    assert status == 429 and "user 'reader'" in body["message"] and "max_keys_per_user" in body["message"]
    for namespace in ("c", "d"):
        assert (await capped.get(HPA, namespace, "llama"))[0] == 200, "the HPA controller is not capped per user"


async def test_a_key_the_hpa_controller_also_reads_no_longer_counts_against_the_user(capped: Running) -> None:
    for namespace in ("a", "b"):
        assert (await capped.get("reader", namespace, "llama"))[0] == 200
    assert (await capped.get(HPA, "a", "llama"))[0] == 200
    assert (await capped.get("reader", "c", "llama"))[0] == 200


async def test_a_key_without_data_is_dropped_a_minute_after_its_last_request() -> None:
    async for adapter in running({"idle_after": "10m"}):
        await adapter.get(HPA, "a", "nothing")
        await adapter.get(HPA, "a", "llama")
        adapter.clock.now += NO_DATA_IDLE_SECONDS + 1
        await adapter.adapter.store.refresh_now()
        tracked = [view.key.selector for view in adapter.adapter.store.views()]
        assert tracked == ["app=llama"]


def test_the_hpa_controller_is_trusted_by_default() -> None:
    assert HPA in RefreshSettings().trusted_users


async def test_one_user_cannot_take_the_forecast_series_the_hpa_controller_needs() -> None:
    async for adapter in running({}, forecasts={"signals": ["jobs"], "max_series_per_user": 1}):
        states = []
        for user, namespace in (("reader", "a"), ("reader", "b"), (HPA, "c"), (HPA, "d")):
            response = await adapter.client.get(
                f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/jobs_forecast?labelSelector=app%3Dllama",
                headers={"Authorization": f"Bearer {user}"},
            )
            labels = (await response.json())["items"][0]["metricLabels"]
            states.append(labels.get("foresight.io/reason"))
        assert states == [None, "too-many-series", None, None]
