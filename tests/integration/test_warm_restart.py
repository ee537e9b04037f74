"""A restarted adapter reads each series' selected model back from the real Prometheus and refits it
without selecting again, serving seasonal naive (said so) in the meantime; with Prometheus down at
that moment, the series selects as on a first start.

The Prometheus here is the suite's kind, with the workload's history backfilled, plus
``foresight_forecast_info`` samples planted in that history as an earlier adapter would have
published them: an older selection and a newer one of the same series, so only the newer counts,
and a newer still that another deployment published under another job, which is not this
deployment's to read back. Model fits run in real worker processes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from adapter.kubernetes.selectors import parse_selector
from adapter.settings.config import ForecastSettings, MetricRule
from adapter.signals.presets import resolve_rules
from adapter.signals.rules import QueryScope
from adapter.sources.prometheus import PrometheusSource
from adapter.tracking.forecast_pool import ForecastPool
from adapter.tracking.known_models import read_known_models
from adapter.tracking.tracker import ForecastKey, ForecastTracker
from forecasting.schedule import Schedule

from .adapter_client import ManualClock, adapter_settings
from .conftest import HISTORY_S, JOB
from .prometheus import PrometheusServer
from .workload_exporter import WorkloadExporter, grid_time

pytestmark = pytest.mark.integration
KEY = ForecastKey("requests_per_second", "inference", "app=llama")
OLDER, NEWER = "holt_winters", "arima"
"""Selected for :data:`KEY` 50 minutes ago and in the last ten minutes: ``arima`` costs a fit, so
seasonal naive stands in for it at the first step."""
ELSEWHERE, OTHER_JOB = "persistence", "foresight-staging"
"""Selected for the same series later still by another deployment on the same Prometheus, whose
series Prometheus scrapes under another job."""


def planted_info(now: float) -> str:
    """``foresight_forecast_info`` of :data:`KEY` as the replicas of two deployments published it
    (OpenMetrics lines)."""
    series = f'metric="{KEY.signal}",namespace="{KEY.namespace}",selector="{KEY.selector}"'
    planted = [("foresight", OLDER, range(grid_time(now) - 3000, grid_time(now) - 2400, 15)),
               ("foresight", NEWER, range(grid_time(now) - 600, grid_time(now) - 120, 15)),
               (OTHER_JOB, ELSEWHERE, range(grid_time(now) - 300, grid_time(now) - 60, 15))]
    return "\n".join(f'foresight_forecast_info{{job="{job}",{series},model="{model}",selected="{model}",state="ready"}} 1 {when}'
                     for job, model, times in planted for when in times)


@pytest.fixture(scope="module")
def planted(workload_exporter: WorkloadExporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    history = workload_exporter.history(HISTORY_S, {"job": JOB, "instance": workload_exporter.target})
    body = history.removesuffix("# EOF\n")
    server = PrometheusServer(
        tmp_path_factory.mktemp("planted-prometheus"),
        [workload_exporter.target],
        ready_queries=["rate(vllm:request_success_total[1m])", "foresight_forecast_info[1h]"],
        job=JOB,
        backfill=f"{body}{planted_info(time.time())}\n# EOF\n",
    )
    with server:
        yield server


@pytest.fixture
async def trackers(planted: PrometheusServer) -> AsyncIterator[Callable[..., ForecastTracker]]:
    """Trackers of :data:`KEY` on the planted Prometheus, as a restarted adapter starts them."""
    settings = adapter_settings(planted.url, {"forecasts": {"workers": 1}})
    assert settings.prometheus is not None
    rules = resolve_rules(settings, source="test config")
    source = PrometheusSource.open(settings.prometheus, max_concurrency=2)
    await source.start()
    forecasts: ForecastSettings = settings.forecasts
    made: list[ForecastTracker] = []

    def make(tick_seconds: float | None = None) -> ForecastTracker:
        made.append(ForecastTracker(source, ForecastPool(1), settings=forecasts,
                                    schedule=Schedule(history_seconds=forecasts.history), clock=ManualClock(),
                                    idle_after=600.0, tick_seconds=tick_seconds))
        rule: MetricRule = rules[KEY.signal]
        made[-1].track(KEY, rule, QueryScope(KEY.namespace, parse_selector(KEY.selector)), pinned=True)
        return made[-1]

    try:
        yield make
    finally:
        for tracker in made:
            tracker.pool.close()
        await source.close()


@pytest.fixture
def tracker(trackers: Callable[..., ForecastTracker]) -> ForecastTracker:
    return trackers()


async def test_a_restarted_tracker_serves_seasonal_naive_then_refits_the_latest_published_model(
    tracker: ForecastTracker,
) -> None:
    await tracker.refresh_now()
    first = tracker.view(KEY)
    assert (first.state, first.model, first.selected) == ("ready", "seasonal_naive", NEWER), first.reason
    assert first.reason is not None and NEWER in first.reason

    tracker.clock.offset = 60.0  # type: ignore[attr-defined]  # the next step
    await tracker.refresh_now()
    second = tracker.view(KEY)
    assert (second.state, second.model, second.selected) == ("ready", NEWER, NEWER), second.reason
    assert tracker.selections == 0 and tracker.refits == 2


async def test_a_pass_with_no_time_left_puts_the_fit_off_and_seasonal_naive_keeps_serving(
    trackers: Callable[..., ForecastTracker],
) -> None:
    """A tick so short that no fit may start in it: each pass still gives a fresh forecast."""
    tracker = trackers(tick_seconds=1e-6)
    await tracker.refresh_now()
    tracker.clock.offset = 60.0  # type: ignore[attr-defined]
    second_pass = tracker.clock()
    await tracker.refresh_now()
    view = tracker.view(KEY)
    assert (view.state, view.model, view.selected) == ("ready", "seasonal_naive", NEWER)
    assert view.made_at is not None and view.made_at >= second_pass
    assert tracker.selections == 0 and tracker.refits == 1


async def test_with_prometheus_down_at_the_read_back_the_series_selects_as_on_a_first_start(
    tracker: ForecastTracker, planted: PrometheusServer, caplog: pytest.LogCaptureFixture
) -> None:
    planted.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="adapter.tracking.known_models"):
            await tracker.refresh_now()  # neither the selection nor the history can be read
    finally:
        planted.start()
    assert any("cannot read the selected models back" in record.getMessage() for record in caplog.records)
    assert tracker.view(KEY).state == "warming"

    await tracker.refresh_now()
    view = tracker.view(KEY)
    assert view.state in ("ready", "fallback") and view.model == view.selected, view.reason
    assert tracker.selections == 1


async def test_only_this_deployments_published_selections_are_read_back(planted: PrometheusServer) -> None:
    settings = adapter_settings(planted.url, {})
    assert settings.prometheus is not None
    source = PrometheusSource.open(settings.prometheus, max_concurrency=2)
    await source.start()
    key = (KEY.signal, KEY.namespace, KEY.selector)
    try:
        assert await read_known_models(source, settings.forecasts.published_labels) == {key: NEWER}
        assert await read_known_models(source, {"job": OTHER_JOB}) == {key: ELSEWHERE}
        assert await read_known_models(source, {}) == {key: ELSEWHERE}  # every deployment's: the latest
    finally:
        await source.close()
