"""A replay's result, or a frontier sweep's, for people and for programs: the terminal table and the
JSON object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from forecasting.replay.frontier import Point
from forecasting.replay.metrics import ControllerJson
from forecasting.replay.simulation import CONTROLLERS, ReplayResult
from forecasting.replay.sweep import MEAN_QUANTILE, FrontierResult


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


class PointJson(TypedDict):
    gpu_hours: float
    slo_violation_share: float
    config: dict[str, object]


class FrontiersJson(TypedDict):
    reactive: list[PointJson]
    predictive: list[PointJson]


class ComparisonJson(TypedDict):
    slo_violation_share: float
    reactive_gpu_hours: float
    predictive_gpu_hours: float | None
    """What predictive's frontier needs for the same share; null outside its shares."""
    predictive_slo_violation_share: float | None
    """The share predictive's frontier reaches with reactive's GPU-hours; null below its cheapest point."""


class OracleJson(TypedDict):
    gpu_hours: float


class FrontierJson(TypedDict):
    frontier: FrontiersJson
    comparison: list[ComparisonJson]
    oracle: OracleJson
    default_reactive: PointJson
    """The reactive HPA plain ``foresight replay`` runs (default target, no ``behavior`` section)."""
    recommendation: None
    """The configuration to serve: not computed yet (always null for now)."""


def _point_json(point: Point) -> PointJson:
    return PointJson(gpu_hours=point.gpu_hours, slo_violation_share=point.slo_violation_share,
                     config=dict(point.config))


def frontier_json(result: FrontierResult) -> FrontierJson:
    return FrontierJson(
        frontier=FrontiersJson(reactive=[_point_json(point) for point in result.frontier(False)],
                               predictive=[_point_json(point) for point in result.frontier(True)]),
        comparison=[ComparisonJson(slo_violation_share=row.slo_violation_share, reactive_gpu_hours=row.reactive_gpu_hours,
                                   predictive_gpu_hours=row.predictive_gpu_hours,
                                   predictive_slo_violation_share=row.predictive_slo_violation_share)
                    for row in result.comparison()],
        oracle=OracleJson(gpu_hours=result.oracle.gpu_hours),
        default_reactive=_point_json(result.default_reactive.point()),
        recommendation=None,
    )


def _config_text(config: Mapping[str, object]) -> str:
    stabilization = config["scale_down_stabilization_seconds"]
    text = f"target {config['target_share']:g}, " + ("the HPA's default behaviour" if stabilization is None
                                                      else f"scale-down stabilisation {stabilization} s")
    if "quantile" in config:
        quantile = config["quantile"]
        text += ", forecast mean" if quantile == MEAN_QUANTILE else f", forecast p{float(quantile) * 100:g}"  # type: ignore[arg-type]
    return text


def _optional(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def frontier_table(result: FrontierResult) -> str:
    settings, service = result.settings, result.settings.service
    reactive, predictive = result.points(False), result.points(True)
    lines = [
        (f"{result.trace}: {len(reactive)} reactive and {len(predictive)} predictive HPAs replayed, "
         f"{service.capacity_per_replica:g} req/s per replica, start-up {service.startup_seconds:g} s, "
         f"SLO {service.slo_latency_seconds * 1000:g} ms, forecast over [now + {service.startup_seconds:g} s, "
         f"now + {service.startup_seconds + settings.window_seconds:g} s] fitted once ({result.forecast_steps} steps)"),
    ]
    for name, front in (("reactive", result.frontier(False)), ("predictive", result.frontier(True))):
        lines += ["", f"{name} frontier", f"{'GPU-h':>11}{'over SLO':>10}  configuration"]
        lines += [f"{point.gpu_hours:>11.1f}{point.slo_violation_share:>10.3%}  {_config_text(point.config)}"
                  for point in front]
    lines += ["", "predictive at each point of reactive's frontier (- where predictive's frontier does not reach)",
              f"{'over SLO':>10}{'reactive GPU-h':>16}{'predictive GPU-h':>18}{'predictive over SLO':>21}",
              f"{'':>10}{'':>16}{'(same share)':>18}{'(same GPU-h)':>21}"]
    for row in result.comparison():
        lines.append(f"{row.slo_violation_share:>10.3%}{row.reactive_gpu_hours:>16.1f}"
                     f"{_optional(row.predictive_gpu_hours, '.1f'):>18}"
                     f"{_optional(row.predictive_slo_violation_share, '.3%'):>21}")
    default = result.default_reactive.point()
    lines += ["", f"oracle at target {settings.target_share:g}: {result.oracle.gpu_hours:.1f} GPU-h",
              f"default reactive HPA ({_config_text(default.config)}): {default.gpu_hours:.1f} GPU-h, "
              f"{default.slo_violation_share:.3%} over SLO"]
    return "\n".join(lines)
