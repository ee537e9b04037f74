"""A replay's result for people and for programs: the terminal table and the JSON object."""

from __future__ import annotations

from typing import TypedDict

from forecasting.replay.metrics import ControllerJson
from forecasting.replay.simulation import CONTROLLERS, ReplayResult


class ControllersJson(TypedDict):
    reactive: ControllerJson
    predictive: ControllerJson
    oracle: ControllerJson


class ReplayJson(TypedDict):
    trace: str
    controllers: ControllersJson


def to_json(result: ReplayResult) -> ReplayJson:
    metrics = {name: result.controllers[name].to_json() for name in CONTROLLERS}
    return ReplayJson(trace=result.trace, controllers=ControllersJson(
        reactive=metrics["reactive"], predictive=metrics["predictive"], oracle=metrics["oracle"]))


def ratio(value: float, reference: float) -> float:
    """``value / reference``; 1 when both are 0, infinity when only the reference is."""
    if reference > 0:
        return value / reference
    return 1.0 if value == 0 else float("inf")


def table(result: ReplayResult) -> str:
    settings, service = result.settings, result.settings.service
    hours = (result.end - result.start) / 3600
    lines = [
        (f"{result.trace}: {hours:.1f} h replayed, {service.capacity_per_replica:g} req/s per replica, "
         f"target {settings.target_per_replica:g} req/s, start-up {service.startup_seconds:g} s, "
         f"SLO {service.slo_latency_seconds * 1000:g} ms"),
        (f"{'controller':<12}{'over SLO':>10}{'under-prov':>12}{'peak queue':>12}{'replica-h':>11}{'GPU-h':>11}"
         f"{'kWh':>11}{'J/req':>11}{'scalings':>10}"),
    ]
    for name in CONTROLLERS:
        m = result.controllers[name]
        lines.append(f"{name:<12}{m.slo_violation_share:>10.3%}{m.underprovisioned_minutes:>10.1f} m"
                     f"{m.peak_queue:>12.4g}{m.replica_hours:>11.1f}{m.gpu_hours:>11.1f}{m.energy_kwh:>11.4g}"
                     f"{m.energy_per_request_joules:>11.4g}{m.scale_events:>10d}")
    reactive, predictive, oracle = (result.controllers[name] for name in CONTROLLERS)
    cut = 1 - ratio(predictive.slo_violation_share, reactive.slo_violation_share)
    lines.append(f"predictive vs reactive: {cut:.0%} fewer requests over the SLO, "
                 f"{ratio(predictive.gpu_hours, reactive.gpu_hours) - 1:+.1%} GPU-hours; "
                 f"vs oracle: {ratio(predictive.gpu_hours, oracle.gpu_hours) - 1:+.1%} GPU-hours")
    return "\n".join(lines)
