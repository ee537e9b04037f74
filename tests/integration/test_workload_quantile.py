"""A workload's own served quantile against the real test Prometheus: ``quantile: 0.5`` serves the
forecast's mean, another quantile is the one its series is fitted and served at, and a workload
without one takes ``forecasts.quantile``. Model fits run in real worker processes.

The signal is a sawtooth (the time modulo ten minutes) wherever the workload has pods, so its
forecast has a band for an upper quantile to differ from the mean."""

from __future__ import annotations

import pytest

from adapter.settings.config import Settings
from adapter.signals.presets import resolve_rules
from adapter.tracking.tracker import FITTED_FOR_MEAN, ForecastKey

from .adapter_client import adapter_settings, running_adapter
from .prometheus import PrometheusServer
from .recorded_jobs import record_jobs

pytestmark = pytest.mark.integration
WAVE = ForecastKey("wave", "inference", "app=llama")
SAWTOOTH = {"name": "wave", "workload_selector": "pod_labels",
            "query": "sum(kube_pod_labels{<<.PodLabelMatchers>>}) * 0 + (time() % 600)"}


def with_quantile(prometheus: PrometheusServer, quantile: float | None) -> Settings:
    """``app=llama``'s sawtooth tracked from start-up, with ``quantile`` (or none) in its workload entry."""
    workload: dict[str, object] = {"namespace": "inference", "selector": "app=llama",
                                   "track": ["wave_forecast"]}
    if quantile is not None:
        workload["quantile"] = quantile
    forecasts = {"signals": ["wave"], "quantile": 0.95, "workers": 1, "workloads": [workload]}
    return adapter_settings(prometheus.url, {"metrics": [SAWTOOTH], "forecasts": forecasts})


async def test_each_workload_serves_its_own_quantile_and_the_mean_at_one_half(
    prometheus: PrometheusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = with_quantile(prometheus, 0.5)
    async with running_adapter(settings) as adapter:
        tracker = adapter.tracker
        assert tracker is not None
        jobs = record_jobs(tracker, monkeypatch)
        await tracker.refresh_now()
        mean = tracker.view(WAVE)
        assert mean.upper is not None and mean.upper == mean.mean, mean.reason
        for quantile, fitted in ((0.8, 0.8), (None, 0.95)):
            changed = with_quantile(prometheus, quantile)
            tracker.reconfigure(changed.forecasts, resolve_rules(changed, source="test config"))
            adapter.clock.offset += 60  # a step later
            await tracker.refresh_now()
            assert jobs[-1].plan.quantile == fitted
            view = tracker.view(WAVE)
            assert view.upper is not None and view.mean is not None and view.upper > view.mean  # a band, not the mean
        assert jobs[0].plan.quantile == FITTED_FOR_MEAN
