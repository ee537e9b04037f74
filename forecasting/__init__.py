"""Pure forecasting library: traces, models, selection and simulation. No network, no adapter.

This module is its public face: the adapter imports from here and nowhere deeper (an import-linter
contract holds it). Names load on first use, so a process that only needs series and plans, such as
the adapter's server, never imports the model libraries: they load in the worker processes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forecasting.backtest import run_backtest as run_backtest
    from forecasting.core import DAY_SECONDS as DAY_SECONDS
    from forecasting.core import ForecastError as ForecastError
    from forecasting.core import InputError as InputError
    from forecasting.core import Series as Series
    from forecasting.core import steps_for as steps_for
    from forecasting.cores import usable_cores as usable_cores
    from forecasting.hpa.manifest import hpa_from_manifest as hpa_from_manifest
    from forecasting.plan import DEFAULT_CALIBRATION as DEFAULT_CALIBRATION
    from forecasting.plan import Calibration as Calibration
    from forecasting.plan import Plan as Plan
    from forecasting.plan import StepOutcome as StepOutcome
    from forecasting.quantity import format_quantity as format_quantity
    from forecasting.replay import ReplaySettings as ReplaySettings
    from forecasting.replay import ServiceSettings as ServiceSettings
    from forecasting.replay import run_replay as run_replay
    from forecasting.replay.controllers import SIGNALS as REPLAY_SIGNALS
    from forecasting.replay.frontier_plot import write_frontier_plot as write_frontier_plot
    from forecasting.replay.plot import check_plot_path as check_plot_path
    from forecasting.replay.plot import write_plot as write_replay_plot
    from forecasting.replay.recommend import Workload as Workload
    from forecasting.replay.recommend import recommend as recommend
    from forecasting.replay.report import frontier_json as frontier_json
    from forecasting.replay.report import frontier_table as frontier_table
    from forecasting.replay.report import recommendation_json as recommendation_json
    from forecasting.replay.report import recommendation_table as recommendation_table
    from forecasting.replay.report import table as replay_table
    from forecasting.replay.report import to_json as replay_json
    from forecasting.replay.sweep import run_frontier as run_frontier
    from forecasting.report import CarbonIntensity as CarbonIntensity
    from forecasting.report import ReportError as ReportError
    from forecasting.report import ReportSettings as ReportSettings
    from forecasting.report import WorkloadHistory as WorkloadHistory
    from forecasting.report import WorkloadReport as WorkloadReport
    from forecasting.report import build_report as build_report
    from forecasting.report import capacity_of as capacity_of
    from forecasting.report import check_history as check_history
    from forecasting.report import check_output as check_output
    from forecasting.report import report_files as report_files
    from forecasting.report import write_folder as write_folder
    from forecasting.report.settings import HOURS_PER_DAY as HOURS_PER_DAY
    from forecasting.schedule import Schedule as Schedule
    from forecasting.schedule import phase_for as phase_for
    from forecasting.threads import one_thread_per_process as one_thread_per_process
    from forecasting.traces import Trace as Trace
    from forecasting.traces import read_trace as read_trace
    from forecasting.validation import validation_problems as validation_problems
    from forecasting.worker import Job as Job
    from forecasting.worker import forget_series as forget_series
    from forecasting.worker import run_job as run_job
    from forecasting.worker import warm_up_worker as warm_up_worker

_EXPORTS: dict[str, tuple[str, str]] = {
    "run_backtest": ("forecasting.backtest", "run_backtest"),
    "usable_cores": ("forecasting.cores", "usable_cores"),
    "DAY_SECONDS": ("forecasting.core", "DAY_SECONDS"),
    "ForecastError": ("forecasting.core", "ForecastError"),
    "InputError": ("forecasting.core", "InputError"),
    "Series": ("forecasting.core", "Series"),
    "steps_for": ("forecasting.core", "steps_for"),
    "hpa_from_manifest": ("forecasting.hpa.manifest", "hpa_from_manifest"),
    "DEFAULT_CALIBRATION": ("forecasting.plan", "DEFAULT_CALIBRATION"),
    "Calibration": ("forecasting.plan", "Calibration"),
    "Plan": ("forecasting.plan", "Plan"),
    "StepOutcome": ("forecasting.plan", "StepOutcome"),
    "format_quantity": ("forecasting.quantity", "format_quantity"),
    "ReplaySettings": ("forecasting.replay", "ReplaySettings"),
    "ServiceSettings": ("forecasting.replay", "ServiceSettings"),
    "run_replay": ("forecasting.replay", "run_replay"),
    "REPLAY_SIGNALS": ("forecasting.replay.controllers", "SIGNALS"),
    "write_frontier_plot": ("forecasting.replay.frontier_plot", "write_frontier_plot"),
    "check_plot_path": ("forecasting.replay.plot", "check_plot_path"),
    "write_replay_plot": ("forecasting.replay.plot", "write_plot"),
    "Workload": ("forecasting.replay.recommend", "Workload"),
    "recommend": ("forecasting.replay.recommend", "recommend"),
    "frontier_json": ("forecasting.replay.report", "frontier_json"),
    "frontier_table": ("forecasting.replay.report", "frontier_table"),
    "recommendation_json": ("forecasting.replay.report", "recommendation_json"),
    "recommendation_table": ("forecasting.replay.report", "recommendation_table"),
    "replay_table": ("forecasting.replay.report", "table"),
    "replay_json": ("forecasting.replay.report", "to_json"),
    "run_frontier": ("forecasting.replay.sweep", "run_frontier"),
    "CarbonIntensity": ("forecasting.report", "CarbonIntensity"),
    "ReportError": ("forecasting.report", "ReportError"),
    "ReportSettings": ("forecasting.report", "ReportSettings"),
    "WorkloadHistory": ("forecasting.report", "WorkloadHistory"),
    "WorkloadReport": ("forecasting.report", "WorkloadReport"),
    "build_report": ("forecasting.report", "build_report"),
    "capacity_of": ("forecasting.report", "capacity_of"),
    "check_history": ("forecasting.report", "check_history"),
    "check_output": ("forecasting.report", "check_output"),
    "report_files": ("forecasting.report", "report_files"),
    "write_folder": ("forecasting.report", "write_folder"),
    "HOURS_PER_DAY": ("forecasting.report.settings", "HOURS_PER_DAY"),
    "Schedule": ("forecasting.schedule", "Schedule"),
    "phase_for": ("forecasting.schedule", "phase_for"),
    "one_thread_per_process": ("forecasting.threads", "one_thread_per_process"),
    "Trace": ("forecasting.traces", "Trace"),
    "read_trace": ("forecasting.traces", "read_trace"),
    "validation_problems": ("forecasting.validation", "validation_problems"),
    "Job": ("forecasting.worker", "Job"),
    "forget_series": ("forecasting.worker", "forget_series"),
    "run_job": ("forecasting.worker", "run_job"),
    "warm_up_worker": ("forecasting.worker", "warm_up_worker"),
}
"""Each public name: the module that defines it, and its name there."""
__all__ = [
    "Calibration",
    "CarbonIntensity",
    "DAY_SECONDS",
    "DEFAULT_CALIBRATION",
    "ForecastError",
    "HOURS_PER_DAY",
    "InputError",
    "Job",
    "Plan",
    "REPLAY_SIGNALS",
    "ReplaySettings",
    "ReportError",
    "ReportSettings",
    "Schedule",
    "Series",
    "ServiceSettings",
    "StepOutcome",
    "Trace",
    "Workload",
    "WorkloadHistory",
    "WorkloadReport",
    "build_report",
    "capacity_of",
    "check_history",
    "check_output",
    "check_plot_path",
    "forget_series",
    "format_quantity",
    "frontier_json",
    "frontier_table",
    "hpa_from_manifest",
    "one_thread_per_process",
    "phase_for",
    "read_trace",
    "recommend",
    "recommendation_json",
    "recommendation_table",
    "replay_json",
    "replay_table",
    "report_files",
    "run_backtest",
    "run_frontier",
    "run_job",
    "run_replay",
    "steps_for",
    "usable_cores",
    "validation_problems",
    "warm_up_worker",
    "write_folder",
    "write_frontier_plot",
    "write_replay_plot",
]


def __getattr__(name: str) -> Any:
    """Load a public name's module the first time the name is asked for."""
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value
