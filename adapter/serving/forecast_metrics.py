"""Every forecast as a Prometheus series on ``/metrics``, read from the tracker at scrape time,
so Grafana can draw forecast against actual and any replica can read a forecast back, and a
restarted one the model selected for each series (``adapter.tracking.known_models``)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapter.tracking.tracker import ForecastTracker

_KEY_LABELS = ["metric", "namespace", "selector"]


class ForecastCollector(Collector):
    """``foresight_forecast{metric,namespace,selector,bound}``, how each forecast is made and how
    far ahead it looks."""

    def __init__(self, tracker: ForecastTracker) -> None:
        self._tracker = tracker

    def collect(self) -> Iterator[Metric]:
        forecast = GaugeMetricFamily(
            "foresight_forecast",
            "Forecast of a signal over [now+lead, now+lead+window]: the served upper bound and the mean",
            labels=[*_KEY_LABELS, "bound"],
        )
        info = GaugeMetricFamily(
            "foresight_forecast_info", "The model serving each forecast, the model selected for it, and its state",
            labels=[*_KEY_LABELS, "model", "selected", "state"],
        )
        error = GaugeMetricFamily(
            "foresight_forecast_recent_mae",
            "Mean absolute error of the recent point forecasts at the lead, against what happened",
            labels=_KEY_LABELS,
        )
        backtest_error = GaugeMetricFamily(
            "foresight_forecast_backtest_mae",
            "Mean absolute error at the lead of the selected model in its selection backtest",
            labels=_KEY_LABELS,
        )
        history = GaugeMetricFamily(
            "foresight_forecast_history_points", "Known points in the history kept for each series", labels=_KEY_LABELS
        )
        age = GaugeMetricFamily(
            "foresight_forecast_age_seconds", "Time since each series' latest forecast was made", labels=_KEY_LABELS
        )
        lead = GaugeMetricFamily(
            "foresight_forecast_lead_seconds",
            "How far ahead each series is forecast: its workload's pod start-up, measured or configured",
            labels=[*_KEY_LABELS, "source"],
        )
        now = self._tracker.clock()
        tracked = 0
        for item in self._tracker.views():
            tracked += 1
            key = [item.key.signal, item.key.namespace, item.key.selector]
            view = item.view
            if view.upper is not None and view.mean is not None:
                forecast.add_metric([*key, "upper"], view.upper)
                forecast.add_metric([*key, "mean"], view.mean)
            info.add_metric([*key, view.model or "", view.selected or "", view.state], 1.0)
            if item.recent_mae is not None:
                error.add_metric(key, item.recent_mae)
            if item.backtest_mae is not None:
                backtest_error.add_metric(key, item.backtest_mae)
            history.add_metric(key, item.history_points)
            if view.made_at is not None:
                age.add_metric(key, max(0.0, now - view.made_at))
            lead.add_metric([*key, item.lead.source], item.lead.seconds)
        yield from (forecast, info, error, backtest_error, history, age, lead)
        fallbacks = CounterMetricFamily(
            "foresight_forecast_fallbacks", "Forecasts replaced by the seasonal-naive baseline, by reason", labels=["reason"]
        )
        for reason, count in sorted(self._tracker.fallbacks.items()):
            fallbacks.add_metric([reason], count)
        yield fallbacks
        yield CounterMetricFamily("foresight_forecast_refits", "Model refits across all series", value=self._tracker.refits)
        yield CounterMetricFamily("foresight_forecast_selections", "Model selections across all series",
                                  value=self._tracker.selections)
        yield GaugeMetricFamily("foresight_forecast_tracked_series", "Series with a tracked forecast", value=tracked)
