"""Capacity forecast reports: for each workload, the demand forecast over a horizon with its daily
peaks, the replicas, GPUs, energy, carbon and cost they need, the measured capacity per replica,
the models' backtest, and the replay's recommended HPA; as HTML, Markdown and JSON.

:func:`build_report` builds one workload's (:mod:`.build`); :func:`report_files` renders any
number of them into the files of a report folder, which :func:`write_folder` writes atomically.
"""

from __future__ import annotations

from collections.abc import Sequence

from forecasting.replay.recommend import Workload
from forecasting.report.build import WorkloadReport, build_report, capacity_of
from forecasting.report.content import content
from forecasting.report.document import document, dumps
from forecasting.report.history import WorkloadHistory, check_history
from forecasting.report.output import check_output, write_folder
from forecasting.report.render import html_page, images, markdown
from forecasting.report.settings import CarbonIntensity, ReportError, ReportSettings

__all__ = ["CarbonIntensity", "ReportError", "ReportSettings", "Workload", "WorkloadHistory", "WorkloadReport",
           "build_report", "capacity_of", "check_history", "check_output", "report_files", "write_folder"]


def report_files(reports: Sequence[WorkloadReport], settings: ReportSettings,
                 targets: Sequence[Workload]) -> dict[str, str]:
    """``report.html``, ``report.md`` with its images and ``report.json``, by file name."""
    blocks = content(reports, settings, targets)
    return {"report.html": html_page(blocks), "report.md": markdown(blocks), **images(blocks),
            "report.json": dumps(document(reports, settings, targets))}
