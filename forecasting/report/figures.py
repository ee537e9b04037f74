"""The report's figures, one SVG each, by file name: the history and its forecast, the daily peaks,
the measured capacity, the backtest, the replay and the frontier (the last two as ``foresight
replay`` draws them)."""

from __future__ import annotations

import numpy as np

from forecasting.core import DAY_SECONDS
from forecasting.replay.frontier_plot import frontier_svg
from forecasting.replay.plot import COLOURS
from forecasting.replay.plot import svg as replay_svg
from forecasting.report.build import WorkloadReport
from forecasting.report.charts import Chart

HISTORY_SHOWN_SECONDS = 7 * DAY_SECONDS
"""The forecast figure shows at most the last week of history before the horizon."""
SLO_COLOUR, CAPACITY_COLOUR, MODEL_COLOUR = "#d62728", "#2ca02c", "#1f77b4"


def figures(report: WorkloadReport) -> dict[str, tuple[str, str]]:
    """``{file stem: (caption, svg)}`` in the order the report shows them."""
    shown = {
        "forecast": ("History and forecast with its 10-90 % interval", forecast_svg(report)),
        "peaks": ("Daily forecast peaks and the replicas they need", peaks_svg(report)),
    }
    if report.measured is not None:
        shown["capacity"] = ("Measured capacity: p99 latency against requests per replica", capacity_svg(report))
    shown["backtest"] = ("Backtest: mean absolute error of each model", backtest_svg(report))
    shown["replay"] = ("Replay of recent history: reactive, predictive and oracle", replay_svg(report.replay))
    shown["frontier"] = ("Cost against SLO: the reactive and predictive frontiers", frontier_svg(report.frontier))
    return shown


def forecast_svg(report: WorkloadReport) -> str:
    forecast = report.plan.forecast
    series = report.history.series(report.settings.step_seconds)
    origin = forecast.start
    past = series.times() >= origin - HISTORY_SHOWN_SECONDS
    history_days = (series.times()[past] - origin) / DAY_SECONDS
    ahead = (forecast.times() - origin) / DAY_SECONDS
    top = float(np.nanmax(np.concatenate([series.values[past], forecast.upper])))
    chart = Chart(f"{report.history.name}: demand and forecast ({report.plan.forecast.model})",
                  x_label="days from the end of the history", y_label="requests per second",
                  x_range=(float(history_days[0]), float(ahead[-1])), y_top=top)
    chart.band(list(ahead), list(np.maximum(forecast.lower, 0.0)), list(forecast.upper), colour=COLOURS["band"],
               label="forecast 10-90 %")
    chart.line(list(history_days), list(series.values[past]), colour=COLOURS["demand"], label="history")
    chart.line(list(ahead), list(np.maximum(forecast.mean, 0.0)), colour=MODEL_COLOUR, label="forecast mean")
    return chart.svg()


def peaks_svg(report: WorkloadReport) -> str:
    peaks = report.plan.peaks
    days = [index + 1 for index in range(len(peaks))]
    chart = Chart(f"{report.history.name}: daily peaks at {report.plan.target_per_replica:.4g} req/s per replica",
                  x_label="day of the horizon", y_label="peak requests per second (upper bound)",
                  x_range=(0.4, len(peaks) + 0.6), y_top=max(peak.upper_requests_per_second for peak in peaks),
                  x_tick_labels=[(day, str(day)) for day in days])
    chart.bars(days, [peak.upper_requests_per_second for peak in peaks], width=0.6, colour=MODEL_COLOUR,
               label="peak upper bound", notes=[f"{peak.replicas} replicas, {peak.gpus} GPUs" for peak in peaks])
    return chart.svg()


def capacity_svg(report: WorkloadReport) -> str:
    measured = report.measured
    assert measured is not None
    rates, p99 = measured.rate_per_replica, measured.p99_seconds
    top = max(float(np.max(p99)), measured.slo_latency_seconds) * 1000
    chart = Chart(f"{report.history.name}: capacity {measured.requests_per_second:.4g} req/s per replica",
                  x_label="requests per second per replica", y_label="p99 latency (ms)",
                  x_range=(0.0, float(np.max(rates)) * 1.05), y_top=top)
    chart.points(list(rates), list(p99 * 1000), colour=COLOURS["demand"], label="each step")
    centres = [(b.low + b.high) / 2 for b in measured.bins]
    chart.line(centres, [b.median_p99_seconds * 1000 for b in measured.bins], colour=MODEL_COLOUR,
               label="median per bin", width=2.5)
    chart.hline(measured.slo_latency_seconds * 1000, colour=SLO_COLOUR, label="latency SLO")
    chart.vline(measured.requests_per_second, colour=CAPACITY_COLOUR, label="capacity")
    return chart.svg()


def backtest_svg(report: WorkloadReport) -> str:
    models = report.backtest.models
    positions = list(range(1, len(models) + 1))
    chart = Chart(f"{report.history.name}: backtest at lead {report.backtest.lead_seconds:g} s "
                  f"(selected: {report.backtest.selected})", x_label="model",
                  y_label="mean absolute error (req/s)", x_range=(0.4, len(models) + 0.6),
                  y_top=max(model.mae for model in models),
                  x_tick_labels=[(position, model.name) for position, model in zip(positions, models, strict=True)])
    chart.bars(positions, [model.mae for model in models], width=0.6, colour=MODEL_COLOUR, label="MAE",
               notes=[f"{model.ratio_to_seasonal_naive:.2f}× s-naive" for model in models])
    return chart.svg()
