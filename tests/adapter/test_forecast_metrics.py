"""Forecast metrics through the API, over the demo fleet with real worker processes: warming up
serves the current value, a ready forecast serves its upper bound with the model named, every
forecast is published on /metrics, and a forecast never errors while its signal can be read."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapter.settings.config import ForecastSettings
from adapter.tracking.tracker import ForecastKey
from forecasting.quantity import parse_quantity

from .demo_adapter import DemoAdapter, demo_adapter

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
FORECAST = f"{EXTERNAL}/namespaces/default/requests_per_second_forecast?labelSelector=app%3Dllama"
CURRENT = f"{EXTERNAL}/namespaces/default/requests_per_second?labelSelector=app%3Dllama"
KEY = ForecastKey("requests_per_second", "default", "app=llama")
SETTINGS = ForecastSettings(history="1h", workers=1)


async def value_and_labels(demo: DemoAdapter, path: str) -> tuple[float, dict[str, str] | None]:
    body = await demo.get(path, status=200)
    [item] = body["items"]
    return float(parse_quantity(item["value"])), item["metricLabels"]


async def test_forecast_metric_is_listed_in_discovery() -> None:
    async with demo_adapter(forecasts=SETTINGS) as demo:
        names = {resource["name"] for resource in (await demo.get(EXTERNAL, status=200))["resources"]}
        assert {"requests_per_second_forecast", "requests_per_second_planned"} <= names
        assert not {"queue_depth_forecast", "queue_depth_planned"} & names  # only configured signals are forecast


async def test_warming_forecast_serves_the_current_value_marked() -> None:
    async with demo_adapter(forecasts=SETTINGS) as demo:
        current, _ = await value_and_labels(demo, CURRENT)
        value, labels = await value_and_labels(demo, FORECAST)
        assert value == current
        assert labels == {"foresight.io/state": "warming"}


async def test_ready_forecast_serves_the_upper_bound_and_names_its_model() -> None:
    async with demo_adapter(forecasts=SETTINGS) as demo:
        await value_and_labels(demo, FORECAST)  # starts tracking
        assert demo.tracker is not None
        await demo.tracker.refresh_now()
        view = demo.tracker.view(KEY)
        assert view.state in ("ready", "fallback") and view.model is not None and view.upper is not None
        value, labels = await value_and_labels(demo, FORECAST)
        assert labels is not None
        assert labels["foresight.io/state"] == view.state
        assert labels["foresight.io/model"] == view.model
        assert value == pytest.approx(view.upper, abs=0.001)
        assert view.upper >= view.mean  # type: ignore[operator]


async def test_every_forecast_is_published_on_metrics() -> None:
    async with demo_adapter(forecasts=SETTINGS) as demo:
        await value_and_labels(demo, FORECAST)
        assert demo.tracker is not None
        await demo.tracker.refresh_now()
        text = await (await demo.client.get("/metrics")).text()
        families = {family.name: family for family in text_string_to_metric_families(text)}
        samples = {
            sample.labels["bound"]: sample.value
            for sample in families["foresight_forecast"].samples
            if sample.labels["metric"] == "requests_per_second" and sample.labels["selector"] == "app=llama"
        }
        view = demo.tracker.view(KEY)
        assert samples == {"upper": pytest.approx(view.upper), "mean": pytest.approx(view.mean)}
        [info] = families["foresight_forecast_info"].samples
        assert info.labels["model"] == view.model and info.labels["state"] == view.state
        assert info.labels["selected"] == view.selected != ""  # what a restarted replica reads back
        assert families["foresight_forecast_tracked_series"].samples[0].value == 1
        [age] = families["foresight_forecast_age_seconds"].samples
        assert age.value == 0  # the test's clock has not moved since the forecast was made
        [item] = demo.tracker.views()
        assert item.backtest_mae is not None and item.backtest_mae > 0  # the demo's demand is noisy
        [backtest] = families["foresight_forecast_backtest_mae"].samples
        assert backtest.value == pytest.approx(item.backtest_mae)


async def test_forecast_follows_its_signal_errors_only() -> None:
    """No series for the selector: the signal itself is an error, so the forecast is the same one."""
    async with demo_adapter(forecasts=SETTINGS) as demo:
        body = await demo.get(FORECAST.replace("app%3Dllama", "app%3Dnobody"), status=404)
        assert body["reason"] == "NotFound"


async def test_series_cap_serves_the_current_value_instead_of_an_error() -> None:
    async with demo_adapter(forecasts=ForecastSettings(history="1h", workers=1, max_series=1)) as demo:
        await value_and_labels(demo, FORECAST)
        current, _ = await value_and_labels(demo, CURRENT.replace("llama", "mistral"))
        value, labels = await value_and_labels(demo, FORECAST.replace("llama", "mistral"))
        assert value == current
        assert labels == {"foresight.io/state": "fallback", "foresight.io/reason": "too-many-series"}


async def test_config_tracks_forecasts_from_start_up_with_the_workload_lead() -> None:
    settings = ForecastSettings.model_validate(
        {
            "history": "1h",
            "workers": 1,
            "workloads": [
                {"namespace": "default", "selector": "app = llama", "lead": "6m", "track": ["requests_per_second_forecast"]}
            ],
        }
    )
    async with demo_adapter(forecasts=settings) as demo:
        assert demo.tracker is not None
        [tracked] = list(demo.tracker.views())
        assert tracked.key == KEY  # the selector as the HPA sends it: canonical
        assert demo.tracker.lead_and_window("default", "app=llama") == (360.0, 300.0)
