"""``report.json``: every figure of the report, and the recommended manifests, for other tools.
The schema is documented in the README ("Capacity reports"); non-finite numbers are null."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from forecasting.replay.recommend import Workload
from forecasting.replay.report import frontier_json, recommendation_json, to_json
from forecasting.report.build import WorkloadReport
from forecasting.report.settings import ReportSettings

SCHEMA_VERSION = 1


def document(reports: Sequence[WorkloadReport], settings: ReportSettings,
             targets: Sequence[Workload]) -> dict[str, Any]:
    """The whole ``report.json``; ``targets`` are what each report's manifests name."""
    workloads = [workload_json(report, target) for report, target in zip(reports, targets, strict=True)]
    whole: dict[str, Any] = _finite({"schema_version": SCHEMA_VERSION, "settings": settings_json(settings),
                                     "summary": [summary_row(report) for report in reports], "workloads": workloads})
    return whole


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, allow_nan=False) + "\n"


def settings_json(settings: ReportSettings) -> dict[str, Any]:
    carbon = settings.carbon_intensity
    return {"horizon_seconds": settings.horizon_seconds, "step_seconds": settings.step_seconds,
            "slo_latency_seconds": settings.slo_latency_seconds,
            "max_slo_violation_share": settings.max_slo_violation_share,
            "gpus_per_replica": settings.gpus_per_replica, "startup_seconds": settings.startup_seconds,
            "idle_watts": settings.idle_watts, "max_watts": settings.max_watts,
            "carbon_intensity_grams_per_kwh": None if carbon is None else (
                carbon.constant if carbon.constant is not None
                else {"times": list(carbon.times), "values": list(carbon.values)}),
            "gpu_hour_price": settings.gpu_hour_price}


def summary_row(report: WorkloadReport) -> dict[str, Any]:
    plan, recommendation = report.plan, report.recommendation
    peak = max(plan.peaks, key=lambda day: day.upper_requests_per_second)
    shown = recommendation.chosen or recommendation.closest
    return {"workload": report.history.name, "capacity_per_replica": report.capacity_per_replica,
            "peak_requests_per_second": peak.upper_requests_per_second, "peak_replicas": peak.replicas,
            "peak_gpus": peak.gpus, "gpu_hours": plan.gpu_hours, "energy_kwh": plan.energy_kwh,
            "carbon_kg": plan.carbon_kg, "cost": plan.cost, "meets_budget": recommendation.chosen is not None,
            "recommended_family": "predictive" if shown.config.predictive else "reactive",
            "recommended_gpu_hours_replayed": shown.metrics.gpu_hours}


def workload_json(report: WorkloadReport, workload: Workload) -> dict[str, Any]:
    history, plan, forecast = report.history, report.plan, report.plan.forecast
    measured = report.measured
    return {
        "name": history.name,
        "history": {"start": history.demand.start, "step_seconds": history.demand.step_seconds,
                    "steps": len(history.demand)},
        "capacity": {
            "requests_per_second_per_replica": report.capacity_per_replica,
            "source": "given" if measured is None else "measured",
            "measurement": None if measured is None else {
                "slo_latency_seconds": measured.slo_latency_seconds, "samples": len(measured.rate_per_replica),
                "bins": [{"low": b.low, "high": b.high, "samples": b.samples, "median_p99_seconds": b.median_p99_seconds}
                         for b in measured.bins]},
        },
        "forecast": {"model": forecast.model, "fallback_reason": plan.fallback_reason, "start": forecast.start,
                     "step_seconds": forecast.step_seconds, "quantile": forecast.quantile,
                     "mean": [max(value, 0.0) for value in forecast.mean.tolist()],
                     "lower": [max(value, 0.0) for value in forecast.lower.tolist()],
                     "upper": [max(value, 0.0) for value in forecast.upper.tolist()]},
        "target_share": report.target_share,
        "target_per_replica": plan.target_per_replica,
        "replicas": plan.replicas.tolist(),
        "daily_peaks": [{"day_start": day.day_start, "peak_time": day.peak_time,
                         "mean_requests_per_second": day.mean_requests_per_second,
                         "upper_requests_per_second": day.upper_requests_per_second,
                         "replicas": day.replicas, "gpus": day.gpus} for day in plan.peaks],
        "totals": {"gpu_hours": plan.gpu_hours, "energy_kwh": plan.energy_kwh, "carbon_kg": plan.carbon_kg,
                   "cost": plan.cost},
        "backtest": report.backtest.to_json(),
        "replay": {"start": report.replay.start, "end": report.replay.end,
                   "controllers": to_json(report.replay)["controllers"]},
        "frontier": frontier_json(report.frontier, recommendation_json(report.recommendation,
                                                                       report.replay_settings, workload)),
    }


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, for strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
