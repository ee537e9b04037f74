"""``foresight report``: a capacity forecast report of one trace, or of workloads read from
Prometheus, written atomically as ``report.html``, ``report.md`` (with its images) and
``report.json`` into ``--out``.

The command parses and checks its arguments, reads the histories (:mod:`adapter.commands.report_history`
for Prometheus) and hands off to :mod:`forecasting.report`. Usage errors return 2 and failures 1,
each with one line on standard error naming what is wrong, no traceback and no report (see
:mod:`adapter.commands.exit_codes`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import logging
import math
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from adapter.commands import command_options as option
from adapter.commands.command_options import UsageError
from adapter.commands.exit_codes import CommandFailed, exit_code
from adapter.commands.progress import Progress
from adapter.observability.logs import LogFormat, configure_logging

if TYPE_CHECKING:
    from forecasting import CarbonIntensity, ReportSettings, Workload, WorkloadHistory, WorkloadReport

COMMAND = "foresight report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("input: a trace, or Prometheus")
    source.add_argument("--trace", type=Path, help="timestamp,requests CSV trace")
    source.add_argument("--prometheus", metavar="URL", help="Prometheus (or Thanos, Mimir) to read the history from")
    source.add_argument("--config", type=Path, help="the adapter's config: its Prometheus connection and rules")
    source.add_argument("--namespace", help="the workloads' namespace (with --prometheus or --config)")
    source.add_argument("--workload", action="append", metavar="SELECTOR",
                        help="a workload's label selector, e.g. app=llama; repeat for several (default: every app "
                        "label of the namespace's pods)")
    source.add_argument("--history", default="14d", help="how far back to read from Prometheus (default 14d)")
    source.add_argument("--history-step", default="1m", help="step of the Prometheus range queries (default 1m)")
    parser.add_argument("--out", type=Path, required=True, help="the report's folder; must not exist, or be empty")
    parser.add_argument("--horizon", default="7d", help="how far ahead to plan (default 7d)")
    parser.add_argument("--step", default="10m", help="the forecast's step (default 10m)")
    parser.add_argument("--slo-latency", default="200ms", help="latency SLO of a request (default 200ms)")
    parser.add_argument("--max-slo-violations", default="1%", metavar="SHARE",
                        help="the recommendation's budget of requests over the SLO, as 1%% or 0.01 (default 1%%)")
    parser.add_argument("--capacity-per-replica", metavar="R", help="requests per second one replica serves "
                        "within the SLO (default: measured from Prometheus' latency and throughput history)")
    parser.add_argument("--gpus-per-replica", default="1", help="GPUs per replica (default 1)")
    parser.add_argument("--startup", default="3m", help="from a replica asked for to it serving (default 3m)")
    parser.add_argument("--carbon-intensity", metavar="G_PER_KWH_OR_CSV",
                        help="grid carbon intensity in gCO2e/kWh: a number, or a timestamp,grams_per_kwh CSV "
                        "whose latest value at or before each forecast step applies to it")
    parser.add_argument("--carbon-intensity-query", metavar="PROMQL",
                        help="grid carbon intensity in gCO2e/kWh as PromQL (with --prometheus or --config; the max "
                        "of its series): its mean in each UTC hour of the day over --history applies to that hour "
                        "of the horizon (default with --config: its signals.carbon)")
    parser.add_argument("--gpu-hour-price", metavar="PRICE", help="price of one GPU-hour, for the cost")
    parser.add_argument("--idle-watts", default="100", help="power of an idle GPU (default 100); where Prometheus "
                        "has the GPUs' power history the power model is measured from it instead, and these stand "
                        "only without it (a trace, no dcgm-exporter)")
    parser.add_argument("--max-watts", default="700", help="power of a GPU serving its capacity (default 700); "
                        "as --idle-watts, the fallback to a measured power model")
    parser.add_argument("--workers", help="worker processes of the replay's sweep (default: one per core)")


def run(args: argparse.Namespace) -> int:
    return exit_code(COMMAND, functools.partial(_run, args),
                     killed="a worker process was killed (out of memory?); no report was written")


def _run(args: argparse.Namespace) -> int:
    # the model libraries load only for this command
    from forecasting import ReportSettings, capacity_of, check_history, check_output, report_files, write_folder

    from_prometheus = args.prometheus is not None or args.config is not None
    if (args.trace is not None) == from_prometheus:
        raise UsageError("give --trace, or --prometheus or --config (one input)")
    if args.prometheus is not None and args.config is not None:
        raise UsageError("--prometheus and --config both name a Prometheus; give one")
    if from_prometheus and args.namespace is None:
        raise UsageError("--namespace: the workloads' namespace is needed with --prometheus or --config")
    if not from_prometheus and (args.namespace is not None or args.workload):
        raise UsageError("--namespace and --workload select workloads in Prometheus, not in a trace")
    if args.carbon_intensity_query is not None and not from_prometheus:
        raise UsageError("--carbon-intensity-query reads Prometheus: give --prometheus or --config")
    if args.carbon_intensity_query is not None and args.carbon_intensity is not None:
        raise UsageError("--carbon-intensity and --carbon-intensity-query both give the carbon intensity; give one")
    if args.trace is not None and args.capacity_per_replica is None:
        raise UsageError("--capacity-per-replica: a trace has no latency history to measure it from")
    try:
        settings = ReportSettings(
            horizon_seconds=option.duration(args.horizon, "--horizon"),
            step_seconds=option.duration(args.step, "--step"),
            slo_latency_seconds=option.duration(args.slo_latency, "--slo-latency"),
            max_slo_violation_share=option.share(args.max_slo_violations, "--max-slo-violations"),
            capacity_per_replica=(None if args.capacity_per_replica is None
                                  else option.number(args.capacity_per_replica, "--capacity-per-replica")),
            gpus_per_replica=option.whole(args.gpus_per_replica, "--gpus-per-replica"),
            startup_seconds=option.duration(args.startup, "--startup"),
            carbon_intensity=None if args.carbon_intensity is None else _carbon(args.carbon_intensity),
            gpu_hour_price=(None if args.gpu_hour_price is None
                            else option.number(args.gpu_hour_price, "--gpu-hour-price")),
            workers=None if args.workers is None else option.whole(args.workers, "--workers"),
            idle_watts=option.number(args.idle_watts, "--idle-watts"),
            max_watts=option.number(args.max_watts, "--max-watts"),
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    check_output(args.out)
    if args.trace is not None:
        histories, targets = _trace_history(args.trace)
    else:
        histories, targets, carbon = _prometheus_histories(args)
        if settings.carbon_intensity is None and carbon is not None:
            settings = dataclasses.replace(settings, carbon_intensity=carbon)
    for history in histories:  # every history is checked, and every capacity measured, before the first fit
        check_history(history, settings)
        capacity_of(history, settings)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        reports = [pool.submit(_build, history, settings, args.log_level, args.log_format).result()
                   for history in histories]
    write_folder(args.out, report_files(reports, settings, targets))
    print(f"{COMMAND}: wrote {args.out}/report.html, report.md and report.json", file=sys.stderr)
    return 0


def _build(history: WorkloadHistory, settings: ReportSettings, log_level: str, log_format: LogFormat) -> WorkloadReport:
    """One workload's report, built in a worker process: the model fits never run in the process
    that reads Prometheus and writes the report, as the adapter's never run on its event loop."""
    from forecasting import build_report

    configure_logging(log_level, log_format)
    progress = Progress(f"report {history.name}")
    try:
        return build_report(history, settings, progress=progress)
    finally:
        progress.close()


def _trace_history(path: Path) -> tuple[list[WorkloadHistory], list[Workload]]:
    from forecasting import Workload, WorkloadHistory, read_trace

    trace = read_trace(path)
    return [WorkloadHistory(trace.name, trace)], [Workload()]


def _prometheus_histories(args: argparse.Namespace
                          ) -> tuple[list[WorkloadHistory], list[Workload], CarbonIntensity | None]:
    from adapter.commands.report_history import HistoryQuery, read_histories
    from adapter.kubernetes.errors import ConfigError, SourceError

    # the command reports a failed query itself, in one line; the source's own warning would repeat it
    logging.getLogger("adapter.sources.prometheus").setLevel(logging.ERROR)
    query = HistoryQuery(namespace=args.namespace, selectors=tuple(args.workload or ()),
                         history_seconds=option.duration(args.history, "--history"),
                         step_seconds=option.duration(args.history_step, "--history-step"),
                         carbon_query=args.carbon_intensity_query)
    try:
        return asyncio.run(read_histories(query, url=args.prometheus, config=args.config))
    except SourceError as error:
        raise SourceError(f"{args.prometheus or args.config}: {error}") from error
    except ConfigError as error:  # reported on the command's own line, as every failure of the report
        raise CommandFailed(str(error)) from error


def _carbon(text: str) -> CarbonIntensity:
    """A constant, or a ``timestamp,grams_per_kwh`` CSV read as a trace's timestamps are."""
    from forecasting import CarbonIntensity, read_trace

    try:
        return CarbonIntensity(constant=float(text))
    except ValueError:
        pass
    path = Path(text)
    if not path.is_file():
        raise UsageError(f"--carbon-intensity: {text!r} is neither a number nor a CSV file")
    series = read_trace(path, value_column="grams_per_kwh")
    known = [(series.start + index * series.step_seconds, float(value)) for index, value in enumerate(series.requests)
             if math.isfinite(value)]
    return CarbonIntensity(times=tuple(time for time, _ in known), values=tuple(value for _, value in known))
