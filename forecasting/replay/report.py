"""A replay's result, or a frontier sweep's, for people and for programs: the terminal table and the
JSON object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import yaml

from forecasting.replay.controllers import demand_unit
from forecasting.replay.frontier import Point
from forecasting.replay.metrics import ControllerJson
from forecasting.replay.recommend import Recommendation, Workload, forecast_settings, hpa_document
from forecasting.replay.simulation import CONTROLLERS, ReplayResult, ReplaySettings
from forecasting.replay.sweep import MEAN_QUANTILE, FrontierResult, Run


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
    unit = demand_unit(settings.signal)
    lines = [
        (f"{result.trace}: {hours:.1f} h replayed, {service.capacity_per_replica:g} {unit}/s per replica, "
         f"target {settings.target_per_replica:g} {unit}/s, start-up {service.startup_seconds:g} s, "
         f"SLO {service.slo_latency_seconds * 1000:g} ms"),
        (f"{'controller':<12}{'over SLO':>10}{'under-prov':>12}{'peak queue':>12}{'replica-h':>11}{'GPU-h':>11}"
         f"{'kWh':>11}{'J/' + unit:>11}{'scalings':>10}"),
    ]
    for name in CONTROLLERS:
        m = result.controllers[name]
        lines.append(f"{name:<12}{m.slo_violation_share:>10.3%}{m.underprovisioned_minutes:>10.1f} m"
                     f"{m.peak_queue:>12.4g}{m.replica_hours:>11.1f}{m.gpu_hours:>11.1f}{m.energy_kwh:>11.4g}"
                     f"{m.energy_per_request_joules:>11.4g}{m.scale_events:>10d}")
    reactive, predictive, oracle = (result.controllers[name] for name in CONTROLLERS)
    cut = 1 - ratio(predictive.slo_violation_share, reactive.slo_violation_share)
    lines.append(f"predictive vs reactive: {cut:.0%} fewer {'requests' if unit == 'req' else 'tokens'} over the SLO, "
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


class ReactiveChoiceJson(TypedDict):
    gpu_hours: float
    slo_violation_share: float
    config: dict[str, object]
    hpa_yaml: str


class RecommendationJson(TypedDict):
    max_slo_violation_share: float
    meets_budget: bool
    family: str | None
    """``predictive`` or ``reactive``; null when no configuration met the budget."""
    reason: str
    gpu_hours: float
    """Of the recommended configuration, or of the closest to the budget when none met it."""
    slo_violation_share: float
    config: dict[str, object]
    hpa_yaml: str
    forecast_settings: dict[str, Any] | None
    """The ``forecasts`` section of the adapter's config the predictive configuration needs."""
    reactive: ReactiveChoiceJson | None
    """The cheapest reactive HPA within the budget; null when none is."""


class FrontierJson(TypedDict):
    frontier: FrontiersJson
    comparison: list[ComparisonJson]
    oracle: OracleJson
    default_reactive: PointJson
    """The reactive HPA plain ``foresight replay`` runs (default target, no ``behavior`` section)."""
    recommendation: RecommendationJson | None
    """The configuration to serve, when a budget was given."""


def _point_json(point: Point) -> PointJson:
    return PointJson(gpu_hours=point.gpu_hours, slo_violation_share=point.slo_violation_share,
                     config=dict(point.config))


def recommendation_json(recommendation: Recommendation, settings: ReplaySettings,
                        workload: Workload) -> RecommendationJson:
    shown = recommendation.chosen or recommendation.closest
    reactive = recommendation.reactive
    return RecommendationJson(
        max_slo_violation_share=recommendation.max_slo_violation_share,
        meets_budget=recommendation.chosen is not None,
        family=None if recommendation.chosen is None else _family(recommendation.chosen),
        reason=recommendation.reason,
        gpu_hours=shown.metrics.gpu_hours, slo_violation_share=shown.metrics.slo_violation_share,
        config=shown.config.to_json(), hpa_yaml=_hpa_yaml(shown, settings, workload),
        forecast_settings=forecast_settings(shown, settings, workload),
        reactive=None if reactive is None else ReactiveChoiceJson(
            gpu_hours=reactive.metrics.gpu_hours, slo_violation_share=reactive.metrics.slo_violation_share,
            config=reactive.config.to_json(), hpa_yaml=_hpa_yaml(reactive, settings, workload)),
    )


def _family(run: Run) -> str:
    return "predictive" if run.config.predictive else "reactive"


def _hpa_yaml(run: Run, settings: ReplaySettings, workload: Workload) -> str:
    return yaml.safe_dump(hpa_document(run, settings, workload), sort_keys=False)


def frontier_json(result: FrontierResult, recommendation: RecommendationJson | None = None) -> FrontierJson:
    return FrontierJson(
        frontier=FrontiersJson(reactive=[_point_json(point) for point in result.frontier(False)],
                               predictive=[_point_json(point) for point in result.frontier(True)]),
        comparison=[ComparisonJson(slo_violation_share=row.slo_violation_share, reactive_gpu_hours=row.reactive_gpu_hours,
                                   predictive_gpu_hours=row.predictive_gpu_hours,
                                   predictive_slo_violation_share=row.predictive_slo_violation_share)
                    for row in result.comparison()],
        oracle=OracleJson(gpu_hours=result.oracle.gpu_hours),
        default_reactive=_point_json(result.default_reactive.point()),
        recommendation=recommendation,
    )


def _config_text(config: Mapping[str, object]) -> str:
    stabilization = config["scale_down_stabilization_seconds"]
    text = f"target {config['target_share']:g}, " + ("the HPA's default behaviour" if stabilization is None
                                                      else f"scale-down stabilisation {stabilization} s")
    if "quantile" in config:
        quantile = config["quantile"]
        text += ", forecast mean" if quantile == MEAN_QUANTILE else f", forecast p{float(quantile) * 100:g}"  # type: ignore[arg-type]
        text += f" over {float(config['window_seconds']):g} s"  # type: ignore[arg-type]
    return text


def _optional(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def frontier_table(result: FrontierResult) -> str:
    settings, service = result.settings, result.settings.service
    reactive, predictive = result.points(False), result.points(True)
    lines = [
        (f"{result.trace}: {len(reactive)} reactive and {len(predictive)} predictive HPAs replayed, "
         f"{service.capacity_per_replica:g} {demand_unit(settings.signal)}/s per replica, "
         f"start-up {service.startup_seconds:g} s, "
         f"SLO {service.slo_latency_seconds * 1000:g} ms, forecast from now + {service.startup_seconds:g} s over "
         f"each window fitted once ({result.forecast_steps} steps)"),
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


def recommendation_table(recommendation: Recommendation, settings: ReplaySettings, workload: Workload) -> str:
    """The recommendation, then the manifests to apply: the HPA and, for a predictive one, the
    adapter's forecast settings."""
    budget = recommendation.max_slo_violation_share
    lines = [f"recommendation for at most {budget:.3g} of requests over the SLO on this history: {recommendation.reason}"]
    for label, run in (("recommended", recommendation.chosen), ("cheapest reactive", recommendation.reactive),
                       ("cheapest predictive", recommendation.predictive)):
        if run is not None:
            lines.append(f"  {label + ':':<22}{run.metrics.gpu_hours:>9.1f} GPU-h{run.metrics.slo_violation_share:>9.3%}"
                         f" over SLO  {_family(run)}, {_config_text(run.config.to_json())}")
    shown = recommendation.chosen or recommendation.closest
    if recommendation.chosen is None:
        lines.append(f"  closest:              {shown.metrics.gpu_hours:>9.1f} GPU-h"
                     f"{shown.metrics.slo_violation_share:>9.3%} over SLO  {_family(shown)}, "
                     f"{_config_text(shown.config.to_json())}")
    lines += ["", "# the HorizontalPodAutoscaler", _hpa_yaml(shown, settings, workload).rstrip()]
    section = forecast_settings(shown, settings, workload)
    if section is not None:
        lines += ["", "# the adapter's config: serve its forecast",
                  yaml.safe_dump({"forecasts": section}, sort_keys=False).rstrip()]
    return "\n".join(lines)
