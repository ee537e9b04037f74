"""A tracked key's PromQL is rendered once, when the key is registered, and again only when a
reloaded config changes its rule: requests and refreshes read the rendered text."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import CollectorRegistry

from adapter.kubernetes.selectors import parse_selector
from adapter.observability.telemetry import Telemetry
from adapter.serving.server import CONTEXT
from adapter.settings.config import MetricRule, RefreshSettings
from adapter.signals import rules as rule_templates
from adapter.signals.rules import QueryScope
from adapter.sources.protocol import RangeSeries, Sample
from adapter.tracking import store as store_module
from adapter.tracking.store import MetricStore, SeriesKey

from .demo_adapter import START, demo_adapter

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/queue_depth?labelSelector=app%3Dllama"
PODS = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/%2A/queue_depth?labelSelector=app%3Dllama"


class RecordingSource:
    """Answers every query with one value, and keeps the queries it was asked."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        self.queries.append(query)
        return [Sample({}, 1.0)]

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        return []

    async def close(self) -> None:
        pass


def counted_renders(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, QueryScope]]:
    """Renders of the store's queries, by template and scope: by key."""
    renders: Counter[tuple[str, QueryScope]] = Counter()

    def render(template: str, rule: MetricRule, scope: QueryScope) -> str:
        renders[template, scope] += 1
        return rule_templates.render(template, rule, scope)

    monkeypatch.setattr(store_module, "render", render)
    return renders


async def test_a_keys_query_is_rendered_once_across_requests_and_refreshes(monkeypatch: pytest.MonkeyPatch) -> None:
    renders = counted_renders(monkeypatch)
    async with demo_adapter() as demo:
        values = demo.client.server.app[CONTEXT].values
        for _ in range(3):
            await demo.get(EXTERNAL, status=200)
            await demo.get(PODS, status=200)
            # the KEDA scaler parses its trigger on every call
            values.request("external", namespace="default", name="queue_depth", selector="app=llama")
            demo.clock.now += 30
            await demo.store.refresh_now()
        parsed = values.request("external", namespace="default", name="queue_depth", selector="app=llama")
    scope = parsed.key.scope
    assert renders == {(parsed.rule.query, scope): 1, (parsed.rule.pods_query, scope): 1}


def jobs_rule(series: str) -> MetricRule:
    return MetricRule(name="jobs", query=f"sum({series}{{<<.LabelMatchers>>}})")


async def test_a_reload_renders_the_keys_queries_with_the_new_rules() -> None:
    source = RecordingSource()
    store = MetricStore(
        source, settings=RefreshSettings(), telemetry=Telemetry.create(CollectorRegistry()), clock=lambda: START
    )
    key = SeriesKey("jobs", "external", QueryScope("default", parse_selector("app=worker")))
    before = jobs_rule("jobs_waiting")
    await store.read(key, before, store.query(key, before))
    after = jobs_rule("jobs_pending")
    store.reconfigure(RefreshSettings(), {"jobs": after})
    assert store.query(key, before) == 'sum(jobs_pending{namespace="default",app="worker"})'
    await store.refresh_now()
    assert source.queries == [
        'sum(jobs_waiting{namespace="default",app="worker"})', 'sum(jobs_pending{namespace="default",app="worker"})'
    ]


def recording_store() -> MetricStore:
    return MetricStore(
        RecordingSource(), settings=RefreshSettings(), telemetry=Telemetry.create(CollectorRegistry()),
        clock=lambda: START,
    )


async def test_a_reload_drops_a_key_its_new_rule_cannot_express() -> None:
    store = recording_store()
    key = SeriesKey("jobs", "external", QueryScope("default", parse_selector("app.kubernetes.io/name=worker")))
    pod_labels = MetricRule(name="jobs", query="sum(jobs{<<.PodLabelMatchers>>})", workload_selector="pod_labels")
    await store.read(key, pod_labels, store.query(key, pod_labels))
    store.reconfigure(RefreshSettings(), {"jobs": jobs_rule("jobs")})  # series labels: no '.' or '/' in a key
    assert list(store.views()) == []


async def test_a_reload_drops_a_per_pod_key_whose_rule_lost_its_per_pod_query() -> None:
    store = recording_store()
    key = SeriesKey("jobs", "pods", QueryScope("default", parse_selector("app=worker")))
    per_pod = MetricRule(name="jobs", query="sum(jobs{<<.LabelMatchers>>})",
                         pods_query="sum by (pod) (jobs{<<.LabelMatchers>>})")
    await store.read(key, per_pod, store.query(key, per_pod))
    store.reconfigure(RefreshSettings(), {"jobs": jobs_rule("jobs")})
    assert list(store.views()) == []
