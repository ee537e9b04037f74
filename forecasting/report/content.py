"""The report's content as blocks (headings, text, tables, figures, manifests), written once and
rendered twice: as one self-contained HTML page and as Markdown with its images beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from forecasting.core import duration_text
from forecasting.replay.recommend import Workload, forecast_settings, hpa_document
from forecasting.report.build import WorkloadReport
from forecasting.report.figures import figures
from forecasting.report.settings import ReportSettings


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Figure:
    stem: str
    """The image's file name without ``.svg``, unique in the report."""
    caption: str
    svg: str


@dataclass(frozen=True)
class Code:
    language: str
    text: str


Block = Heading | Text | Table | Figure | Code


def content(reports: Sequence[WorkloadReport], settings: ReportSettings, targets: Sequence[Workload]) -> list[Block]:
    blocks: list[Block] = [
        Heading(1, "Foresight capacity forecast"),
        Text(f"Horizon {duration_text(settings.horizon_seconds)} at a {duration_text(settings.step_seconds)} step; "
             f"latency SLO "
             f"{settings.slo_latency_seconds * 1000:g} ms, at most {settings.max_slo_violation_share:.3g} of requests "
             f"over it; {settings.gpus_per_replica} GPU(s) per replica; start-up {settings.startup_seconds:g} s."),
        Heading(2, "Summary"),
        Table(("workload", "capacity/replica (req/s)", "peak (req/s)", "peak replicas", "peak GPUs", "GPU-hours",
               "energy (kWh)", "carbon (kg CO2e)", "cost", "recommended"),
              tuple(_summary_row(report) for report in reports)),
    ]
    for index, (report, target) in enumerate(zip(reports, targets, strict=True)):
        blocks += _workload(report, target, f"{index + 1}")
    return blocks


def _number(value: float | None, form: str = ".4g") -> str:
    return "-" if value is None else format(value, form)


def _summary_row(report: WorkloadReport) -> tuple[str, ...]:
    plan = report.plan
    peak = max(plan.peaks, key=lambda day: day.upper_requests_per_second)
    shown = report.recommendation.chosen or report.recommendation.closest
    family = "predictive" if shown.config.predictive else "reactive"
    return (report.history.name, _number(report.capacity_per_replica), _number(peak.upper_requests_per_second),
            str(peak.replicas), str(peak.gpus), _number(plan.gpu_hours, ".1f"), _number(plan.energy_kwh, ".1f"),
            _number(plan.carbon_kg, ".1f"), _number(plan.cost, ".2f"),
            family if report.recommendation.chosen is not None else f"none within budget (closest: {family})")


def _workload(report: WorkloadReport, target: Workload, prefix: str) -> list[Block]:
    plan, recommendation, measured = report.plan, report.recommendation, report.measured
    pictures = figures(report)
    blocks: list[Block] = [Heading(2, f"{prefix}. {report.history.name}")]
    if measured is None:
        blocks.append(Text(f"Capacity per replica: {report.capacity_per_replica:.4g} requests/s (given)."))
    else:
        blocks += [Text(f"Capacity per replica: {measured.requests_per_second:.4g} requests/s, measured where the "
                        f"median p99 latency crosses the SLO of {measured.slo_latency_seconds * 1000:g} ms, from "
                        f"{len(measured.rate_per_replica)} steps of history:"),
                   Table(("requests/s per replica", "steps", "median p99 (ms)"),
                         tuple((f"{b.low:.4g}-{b.high:.4g}", str(b.samples), f"{b.median_p99_seconds * 1000:.4g}")
                               for b in measured.bins))]
    fallback = "" if plan.fallback_reason is None else f" (replaced by seasonal naive: {plan.fallback_reason})"
    blocks += [
        Heading(3, "Forecast"),
        Text(f"Model {plan.forecast.model}{fallback}, selected by a backtest "
             f"{report.backtest.lead_seconds / 3600:.3g} h ahead. Replicas are counted at the recommended "
             f"HPA's target of {plan.target_per_replica:.4g} requests/s per replica."),
        Table(("day", "peak at", "mean (req/s)", "upper bound (req/s)", "replicas", "GPUs"),
              tuple((str(index + 1), f"+{(day.peak_time - plan.forecast.start) / 3600:.1f} h",
                     _number(day.mean_requests_per_second), _number(day.upper_requests_per_second), str(day.replicas),
                     str(day.gpus)) for index, day in enumerate(plan.peaks))),
        Table(("GPU-hours", "energy (kWh)", "carbon (kg CO2e)", "cost"),
              ((_number(plan.gpu_hours, ".1f"), _number(plan.energy_kwh, ".1f"), _number(plan.carbon_kg, ".1f"),
                _number(plan.cost, ".2f")),)),
        Heading(3, "Backtest"),
        Table(("model", "MAE (req/s)", "/ persistence", "/ seasonal naive"),
              tuple((model.name, _number(model.mae), _number(model.ratio_to_persistence, ".3f"),
                     _number(model.ratio_to_seasonal_naive, ".3f")) for model in report.backtest.models)),
        Heading(3, "Replay of recent history"),
        Table(("controller", "over SLO", "GPU-hours", "energy (kWh)", "scale events"),
              tuple((name, f"{m.slo_violation_share:.3%}", _number(m.gpu_hours, ".1f"), _number(m.energy_kwh, ".1f"),
                     str(m.scale_events)) for name, m in report.replay.controllers.items())),
        Heading(3, "Recommendation"),
        Text(recommendation.reason[0].upper() + recommendation.reason[1:] + "."),
    ]
    shown = recommendation.chosen or recommendation.closest
    rows = [("recommended" if recommendation.chosen is not None else "closest to the budget", shown)]
    if recommendation.reactive is not None and recommendation.reactive is not shown:
        rows.append(("cheapest reactive", recommendation.reactive))
    blocks.append(Table(("", "family", "GPU-hours replayed", "over SLO"),
                        tuple((label, "predictive" if run.config.predictive else "reactive",
                               f"{run.metrics.gpu_hours:.1f}", f"{run.metrics.slo_violation_share:.3%}")
                              for label, run in rows)))
    settings = report.replay_settings
    blocks.append(Code("yaml", yaml.safe_dump(hpa_document(shown, settings, target), sort_keys=False)))
    section = forecast_settings(shown, settings, target)
    if section is not None:
        blocks += [Text("The adapter's config that serves its forecast:"),
                   Code("yaml", yaml.safe_dump({"forecasts": section}, sort_keys=False))]
    if recommendation.reactive is not None and recommendation.reactive is not shown:
        blocks += [Text("The cheapest reactive HPA:"),
                   Code("yaml", yaml.safe_dump(hpa_document(recommendation.reactive, settings, target),
                                               sort_keys=False))]
    blocks.append(Heading(3, "Figures"))
    blocks += [Figure(f"{prefix}-{stem}", caption, svg) for stem, (caption, svg) in pictures.items()]
    return blocks
