"""``<signal>_planned`` against the real test Prometheus: the larger of the signal's current value
and its forecast bound, the current value while the forecast warms up, and the signal's own error
or staleness answer whenever the signal has one. Model fits run in real worker processes.

Signals with known values: a rule whose value steps at a time ``T`` taken as the test starts.
Instant queries (the current value) run after ``T``; the tracker runs two minutes behind on the
test's clock, so every point of the history it fits lies before ``T``. So the forecast learns one
level and the current value is another, whichever model is selected.
"""

from __future__ import annotations

import time

import pytest

from adapter.tracking.tracker import ForecastKey
from forecasting.quantity import parse_quantity

from .adapter_client import RunningAdapter, adapter_settings, running_adapter
from .prometheus import PrometheusServer
from .workload_exporter import ground_truth

pytestmark = pytest.mark.integration
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1/namespaces/inference"
SELECTOR = "?labelSelector=app%3Dllama"
TRACKER_BEHIND_S = 120.0
"""How far the test's clock runs behind: the newest history point is older than ``T``."""


def stepping_rule(name: str, expression: str) -> dict[str, str]:
    """A rule worth ``expression`` (of the scalar ``after``: 1 from ``T`` on, else 0) wherever the
    workload has pods, so it has history as long as the pods' series."""
    return {
        "name": name,
        "workload_selector": "pod_labels",
        "query": f"sum(kube_pod_labels{{<<.PodLabelMatchers>>}}) * 0 + ({expression})",
    }


def at_step(expression: str, step_at: float) -> str:
    return expression.replace("after", f"(time() >= bool {step_at:.3f})")


async def served(adapter: RunningAdapter, metric: str) -> tuple[float, dict[str, str] | None]:
    [item] = (await adapter.get_json(f"{EXTERNAL}/{metric}{SELECTOR}"))["items"]
    return float(parse_quantity(item["value"])), item["metricLabels"]


async def test_planned_is_the_larger_of_the_current_value_and_the_forecast(prometheus: PrometheusServer) -> None:
    step_at = time.time()
    rules = [
        stepping_rule("rising", at_step("10 + 1000 * after", step_at)),
        stepping_rule("falling", at_step("1010 - 1000 * after", step_at)),
    ]
    settings = adapter_settings(
        prometheus.url, {"metrics": rules, "forecasts": {"signals": ["rising", "falling"], "workers": 1}}
    )
    async with running_adapter(settings) as adapter:
        adapter.clock.offset = -TRACKER_BEHIND_S
        assert (await served(adapter, "rising_planned"))[0] == 1010.0  # tracks both series
        assert (await served(adapter, "falling_planned"))[0] == 10.0
        assert adapter.tracker is not None
        await adapter.tracker.refresh_now()

        for signal in ("rising", "falling"):
            view = adapter.tracker.view(ForecastKey(signal, "inference", "app=llama"))
            assert view.upper is not None and view.model is not None, view.reason
            current, _ = await served(adapter, signal)
            forecast, _ = await served(adapter, f"{signal}_forecast")
            planned, labels = await served(adapter, f"{signal}_planned")
            assert forecast == pytest.approx(view.upper, abs=0.001)
            assert planned == pytest.approx(max(current, view.upper), abs=0.001)
            assert labels == {"foresight.io/state": view.state, "foresight.io/model": view.model}
        # each branch of the max is taken: the current value above the forecast, then below it
        assert (await served(adapter, "rising"))[0] > (await served(adapter, "rising_forecast"))[0]
        assert (await served(adapter, "falling"))[0] < (await served(adapter, "falling_forecast"))[0]


async def test_warming_planned_serves_the_current_value_marked(prometheus: PrometheusServer) -> None:
    settings = adapter_settings(prometheus.url, {"forecasts": {"workers": 1}})
    truth = ground_truth("inference", "llama").requests_per_second
    async with running_adapter(settings, exact_rates_from=prometheus) as adapter:
        value, labels = await served(adapter, "requests_per_second_planned")
        assert labels == {"foresight.io/state": "warming"}
        assert value == pytest.approx(truth, rel=0.001)  # milli rounding


async def test_planned_answers_the_signals_error_while_its_forecast_is_ready(prometheus: PrometheusServer) -> None:
    """The signal turns NaN (on_nan: error) at ``T``, after its history: a ready forecast must not
    stand in for a signal that cannot be read."""
    step_at = time.time()
    rule = stepping_rule("vanishing", at_step("10 * (1 - after) / (1 - after)", step_at))
    workload = {"namespace": "inference", "selector": "app=llama", "track": ["vanishing_planned"]}
    settings = adapter_settings(
        prometheus.url,
        {"metrics": [rule], "forecasts": {"signals": ["vanishing"], "workers": 1, "workloads": [workload]}},
    )
    async with running_adapter(settings) as adapter:
        adapter.clock.offset = -TRACKER_BEHIND_S
        assert adapter.tracker is not None
        await adapter.tracker.refresh_now()
        view = adapter.tracker.view(ForecastKey("vanishing", "inference", "app=llama"))
        assert view.upper is not None, view.reason

        signal = await adapter.get_json(f"{EXTERNAL}/vanishing{SELECTOR}", status=503)
        planned = await adapter.get_json(f"{EXTERNAL}/vanishing_planned{SELECTOR}", status=503)
        assert "NaN" in signal["message"]
        assert planned == signal


async def both(adapter: RunningAdapter) -> tuple[float, float]:
    """The values of the signal and of its planned metric, which are equal while it warms up."""
    signal, _ = await served(adapter, "requests_per_second")
    planned, _ = await served(adapter, "requests_per_second_planned")
    assert planned == signal
    return signal, planned


@pytest.fixture
def outage_prometheus(restartable_prometheus: PrometheusServer) -> PrometheusServer:
    """The Prometheus this test may stop and start."""
    return restartable_prometheus


async def test_planned_follows_its_signal_through_an_outage(outage_prometheus: PrometheusServer) -> None:
    settings = adapter_settings(outage_prometheus.url, {"refresh": {"staleness": "2m"}, "forecasts": {"workers": 1}})
    async with running_adapter(settings) as adapter:
        good = await both(adapter)
        outage_prometheus.stop()
        try:
            await adapter.store.refresh_now()  # fails: Prometheus is down
            adapter.clock.offset = 60  # within the staleness bound: the last good value
            assert await both(adapter) == good

            adapter.clock.offset = 180  # past it: the signal's 503, never the forecast alone
            await adapter.store.refresh_now()
            signal = await adapter.get_json(f"{EXTERNAL}/requests_per_second{SELECTOR}", status=503)
            planned = await adapter.get_json(f"{EXTERNAL}/requests_per_second_planned{SELECTOR}", status=503)
            assert planned == signal and signal["reason"] == "ServiceUnavailable"
        finally:
            outage_prometheus.start()
