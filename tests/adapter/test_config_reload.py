"""A running adapter follows its config file: valid changes serve from the next request, and a
broken or restart-only change is logged while the config in force keeps serving."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from adapter.app.assembly import assemble
from adapter.app.config_reload import ConfigReloader
from adapter.settings.config import load_settings
from adapter.signals.presets import resolve_rules
from adapter.sources.protocol import RangeSeries, Sample

PATH = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/jobs?labelSelector=app%3Dworker"
ANSWERS = {"jobs_waiting": 5.0, "jobs_pending": 9.0}


class MetricNameSource:
    """Answers each query with the value of the series name it reads, so a test can tell which
    rule produced an answer."""

    async def instant(self, query: str, *, at: float | None = None) -> list[Sample]:
        return [Sample({}, value) for name, value in ANSWERS.items() if name in query]

    async def range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        return []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


def config(series: str, **extra: Any) -> dict[str, Any]:
    return {
        "prometheus": {"url": "http://prometheus.monitoring.svc:9090"},
        "signals": {"gpu": "none", "server": "none"},
        "metrics": [{"name": "jobs", "query": f"sum({series}{{<<.LabelMatchers>>}})"}],
        **extra,
    }


class Running:
    def __init__(self, client: TestClient, reloader: ConfigReloader, path: Path) -> None:
        self.client, self.reloader, self.path = client, reloader, path

    def write(self, document: dict[str, Any]) -> None:
        self.path.write_text(yaml.safe_dump(document))

    async def value(self) -> Any:
        response = await self.client.get(PATH)
        body = await response.json()
        return body["items"][0]["value"] if response.status == 200 else body["reason"]


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config("jobs_waiting")))
    settings = load_settings(path)
    adapter = assemble(
        rules=resolve_rules(settings, source=str(path)), source=MetricNameSource(), refresh=settings.refresh,
        refresh_in_background=False,
    )
    reloader = ConfigReloader(path, settings, adapter.reconfigure)
    async with TestClient(TestServer(adapter.app)) as client:
        yield Running(client, reloader, path)


async def test_a_changed_query_serves_from_the_next_request(running: Running) -> None:
    assert await running.value() == "5"
    running.write(config("jobs_pending"))
    assert running.reloader.check_now()
    assert await running.value() == "9"


async def test_a_changed_window_is_served_from_the_next_request(running: Running) -> None:
    """The window comes from the rule alone, so a body rendered before the reload must not be
    served after it."""
    assert (await (await running.client.get(PATH)).json())["items"][0]["window"] == 60
    document = config("jobs_waiting")
    document["metrics"][0]["window"] = "2m"
    running.write(document)
    assert running.reloader.check_now()
    assert (await (await running.client.get(PATH)).json())["items"][0]["window"] == 120


async def test_an_unchanged_file_is_not_reloaded(running: Running) -> None:
    running.write(config("jobs_waiting"))
    assert not running.reloader.check_now()


async def test_a_removed_metric_stops_being_served(running: Running) -> None:
    assert await running.value() == "5"
    document = config("jobs_waiting")
    document["metrics"][0]["name"] = "jobs_total"
    running.write(document)
    assert running.reloader.check_now()
    assert await running.value() == "NotFound"


async def test_an_invalid_change_is_logged_by_field_and_the_old_config_serves(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    running.write(config("jobs_pending", refresh={"interval": "soon"}))
    with caplog.at_level(logging.ERROR, logger="adapter.app.config_reload"):
        assert not running.reloader.check_now()
    assert "refresh.interval" in caplog.text and "previous config keeps serving" in caplog.text
    assert await running.value() == "5"


async def test_a_restart_only_change_is_refused_whole(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    document = config("jobs_pending")
    document["prometheus"]["url"] = "http://elsewhere:9090"
    running.write(document)
    with caplog.at_level(logging.ERROR, logger="adapter.app.config_reload"):
        assert not running.reloader.check_now()
    assert "prometheus only change on restart" in caplog.text
    assert await running.value() == "5"


async def test_new_key_caps_apply_to_new_keys(running: Running) -> None:
    running.write(config("jobs_waiting", refresh={"max_keys": 1}))
    assert running.reloader.check_now()
    assert await running.value() == "5"
    response = await running.client.get(PATH.replace("worker", "other"))
    assert response.status == 429


async def test_a_file_that_is_not_utf8_is_a_logged_rejection_and_later_changes_apply(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    running.path.write_bytes(yaml.safe_dump(config("jobs_pending")).encode("utf-16"))
    with caplog.at_level(logging.ERROR, logger="adapter.app.config_reload"):
        assert not running.reloader.check_now()
    assert f"{running.path}: (file): not UTF-8 text: byte 0 is 0xff" in caplog.text
    assert await running.value() == "5"
    running.write(config("jobs_pending"))
    assert running.reloader.check_now()
    assert await running.value() == "9"


async def test_an_unforeseen_failure_while_loading_is_a_logged_rejection_and_later_changes_apply(
    running: Running, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a preset that cannot be resolved")

    monkeypatch.setattr("adapter.app.config_reload.resolve_rules", broken)
    running.write(config("jobs_pending"))
    with caplog.at_level(logging.ERROR, logger="adapter.app.config_reload"):
        assert not running.reloader.check_now()
    assert "could not be read" in caplog.text and "a preset that cannot be resolved" in caplog.text
    monkeypatch.undo()
    running.write(config("jobs_pending", refresh={"interval": "20s"}))
    assert running.reloader.check_now()
    assert await running.value() == "9"
