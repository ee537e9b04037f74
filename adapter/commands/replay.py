"""``foresight replay``: a real traffic trace through the HPA simulation, reactive vs predictive vs
oracle, as a table or one JSON object, with an optional plot; with ``--frontier``, the sweep of
reactive and predictive HPAs and their cost-versus-SLO frontiers (see
:mod:`forecasting.replay.sweep`).

The command parses and checks its arguments, reads the trace and the HPA manifest, and hands off
to :func:`forecasting.replay.run_replay`. Usage errors return 2 and failures 1, each with one
line on standard error and no traceback (see :mod:`adapter.commands.exit_codes`).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from adapter.commands import command_options as option
from adapter.commands.command_options import UsageError
from adapter.commands.exit_codes import exit_code
from adapter.commands.progress import Progress
from forecasting import InputError

if TYPE_CHECKING:
    from forecasting import ReplaySettings, Trace, Workload

COMMAND = "foresight replay"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", type=Path, required=True,
                        help="timestamp,requests CSV trace (or timestamp,requests,prompt_tokens,generation_tokens)")
    parser.add_argument("--demand", choices=("requests", "prompt_tokens", "generation_tokens"), default="requests",
                        help="the trace's column replayed: requests (default), or prompt_tokens or generation_tokens, "
                        "whose HPAs scale on prompt_tokens_per_second or generation_tokens_per_second")
    parser.add_argument("--capacity-per-replica", required=True, metavar="R",
                        help="requests (or, with a token --demand, tokens) per second one ready replica serves "
                        "within the latency SLO")
    parser.add_argument("--startup", required=True, help="time from a replica being asked for to it serving (e.g. 3m)")
    parser.add_argument("--slo-latency", default="200ms", help="latency SLO of a request (default 200ms)")
    parser.add_argument("--service-latency", help="latency of a request that does not queue (default: half the SLO)")
    parser.add_argument("--hpa", type=Path, help="an autoscaling/v2 HorizontalPodAutoscaler manifest (YAML) "
                        "for the reactive controller; the predictive one adds requests_per_second_forecast to it")
    parser.add_argument("--target-share",
                        help="HPA target and oracle level as a share of the capacity per replica (default 0.8)")
    parser.add_argument("--min-replicas", default="1", help="minReplicas of the default HPA (default 1; 0 scales to zero)")
    parser.add_argument("--max-replicas", default="1000", help="maxReplicas of the default HPA (default 1000)")
    parser.add_argument("--span", help="replay only the trace's last span (e.g. 7d); the history before it "
                        "warms the forecaster up (default: the whole trace)")
    parser.add_argument("--forecast-window", default="5m", help="window H after the lead (default 5m); with "
                        "--frontier or --recommend, a comma-separated list sweeps each (e.g. 1m,5m)")
    parser.add_argument("--forecast-lead", help="with --frontier or --recommend, the leads L swept, comma-separated "
                        "(default: the start-up; a longer lead scales up earlier)")
    parser.add_argument("--forecast-step", default="1m", help="the adapter's forecasts.step: a finer trace is "
                        "forecast from its mean rate over steps this long (default 1m)")
    parser.add_argument("--quantile", help="upper quantile the forecast serves (default 0.9)")
    parser.add_argument("--forecast-peak", metavar="DURATION",
                        help="forecast each step's peak rate over windows this long (e.g. 10s) instead of its mean "
                        "rate: peak-aware demand, for a trace finer than the forecast step")
    parser.add_argument("--calibration",
                        help="the forecast's bound, as the adapter's forecasts.calibration: conformal (calibrated "
                        "on the series' past windows, the default) or none (the model's own interval)")
    parser.add_argument("--gpus-per-replica", default="1", help="GPUs per replica (default 1)")
    parser.add_argument("--idle-watts", default="100", help="power of an idle GPU (default 100)")
    parser.add_argument("--max-watts", default="700", help="power of a fully used GPU (default 700)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--plot", type=Path, metavar="OUT", help="write a plot: .html or .svg (or .png with "
                        "matplotlib); with --frontier, the frontiers")
    parser.add_argument("--frontier", action="store_true",
                        help="sweep the reactive HPAs (target share 0.5-0.95, scale-down stabilisation 0, 60, 300 s) "
                        "and the predictive ones (the same, with the forecast at quantile 0.5 (its mean), 0.7, 0.8, "
                        "0.9, 0.95), and compare the two cost-versus-SLO frontiers; the oracle is at 0.8")
    parser.add_argument("--recommend", action="store_true",
                        help="run the --frontier sweep and print the cheapest configuration that kept the requests "
                        "over the SLO within --max-slo-violations, with its HPA and forecast settings, beside the "
                        "cheapest reactive HPA that did")
    parser.add_argument("--max-slo-violations", metavar="SHARE",
                        help="the budget of --recommend: the share of requests over the SLO, as 1%% or 0.01 "
                        "(default 1%%)")
    parser.add_argument("--workload", default="inference",
                        help="the Deployment (and its app label) the recommended HPA scales (default inference)")
    parser.add_argument("--namespace", default="default", help="its namespace (default default)")
    parser.add_argument("--workers", help="worker processes: the forecast's selections, and the simulations of "
                        "--frontier (default: one per core)")


def run(args: argparse.Namespace) -> int:
    return exit_code(COMMAND, functools.partial(_run, args),
                     killed="a worker process of the sweep was killed (out of memory?); nothing was written")


def _run(args: argparse.Namespace) -> int:
    # the model libraries load only for this command
    from forecasting import (
        REPLAY_SIGNALS,
        ReplaySettings,
        ServiceSettings,
        Workload,
        check_plot_path,
        hpa_from_manifest,
        read_trace,
        replay_json,
        replay_table,
        run_replay,
        usable_cores,
        write_replay_plot,
    )

    sweeping = args.frontier or args.recommend
    if sweeping:
        given = [flag for flag, value in (("--hpa", args.hpa), ("--target-share", args.target_share),
                                          ("--quantile", args.quantile)) if value is not None]
        if given:
            raise UsageError(f"--frontier and --recommend sweep the HPA's target and the forecast's quantile: "
                              f"{', '.join(given)} cannot be given with them")
    if args.recommend and args.forecast_peak is not None:
        raise UsageError("--forecast-peak cannot be recommended: the adapter forecasts a signal's rate, not its peak "
                          "(compare the two with --frontier)")
    if args.max_slo_violations is not None and not args.recommend:
        raise UsageError("--max-slo-violations is the budget of --recommend")
    workers = None if args.workers is None else option.whole(args.workers, "--workers", least=1)
    if args.calibration not in (None, "conformal", "none"):
        raise UsageError(f"--calibration: {args.calibration!r} is neither conformal nor none")
    budget = option.share(args.max_slo_violations or "1%", "--max-slo-violations") if args.recommend else None
    windows = [option.duration(text, "--forecast-window") for text in args.forecast_window.split(",")]
    if len(windows) > 1 and not sweeping:
        raise UsageError("--forecast-window: one window, unless --frontier or --recommend sweeps a list")
    if args.forecast_lead is not None and not sweeping:
        raise UsageError("--forecast-lead is swept by --frontier and --recommend; a replay's lead is --startup")
    leads = None if args.forecast_lead is None else [option.duration(text, "--forecast-lead")
                                                     for text in args.forecast_lead.split(",")]
    hpa = None if args.hpa is None else hpa_from_manifest(_manifest(args.hpa), source=str(args.hpa))
    try:
        service = ServiceSettings(
            capacity_per_replica=option.positive(args.capacity_per_replica, "--capacity-per-replica"),
            startup_seconds=option.duration(args.startup, "--startup"),
            slo_latency_seconds=option.duration(args.slo_latency, "--slo-latency"),
            service_latency_seconds=(None if args.service_latency is None
                                     else option.duration(args.service_latency, "--service-latency")),
            gpus_per_replica=option.whole(args.gpus_per_replica, "--gpus-per-replica", least=1),
            idle_watts=option.number(args.idle_watts, "--idle-watts"),
            max_watts=option.number(args.max_watts, "--max-watts"),
        )
        settings = ReplaySettings(
            service=service, target_share=option.number(args.target_share or "0.8", "--target-share"),
            min_replicas=option.whole(args.min_replicas, "--min-replicas", least=0),
            max_replicas=option.whole(args.max_replicas, "--max-replicas", least=1), hpa=hpa,
            window_seconds=windows[0],
            forecast_step_seconds=option.duration(args.forecast_step, "--forecast-step"),
            quantile=option.number(args.quantile or "0.9", "--quantile"),
            span_seconds=None if args.span is None else option.duration(args.span, "--span"),
            **({} if args.calibration is None else {"calibration": args.calibration}),
            peak_seconds=None if args.forecast_peak is None else option.duration(args.forecast_peak, "--forecast-peak"),
            signal=REPLAY_SIGNALS[args.demand],
        )
        settings.hpas()  # refuse metrics the replay cannot simulate before reading the trace
        if args.plot is not None:
            check_plot_path(args.plot)
    except ValueError as error:
        raise UsageError(str(error)) from error
    if args.plot is not None:
        _check_plot_directory(args.plot)
    trace = read_trace(args.trace).demand(args.demand)
    if sweeping:
        return _frontier(trace, settings, workers, windows, leads, as_json=args.json, plot=args.plot,
                         budget=budget, show_frontier=args.frontier, workload=Workload(args.workload, args.namespace))
    progress = Progress(f"replay {trace.name}")
    try:
        result = run_replay(trace, settings, progress=progress, workers=workers or usable_cores())
    finally:
        progress.close()
    print(json.dumps(replay_json(result)) if args.json else replay_table(result))
    if args.plot is not None:
        write_replay_plot(result, args.plot)
    return 0


def _frontier(trace: Trace, settings: ReplaySettings, workers: int | None, windows: list[float],
              leads: list[float] | None, *, as_json: bool, plot: Path | None, budget: float | None,
              show_frontier: bool, workload: Workload) -> int:
    """The sweep; its frontiers (with ``show_frontier`` or ``as_json``) and, for a ``budget``,
    the recommendation."""
    from forecasting import (
        frontier_json,
        frontier_table,
        recommend,
        recommendation_json,
        recommendation_table,
        run_frontier,
        write_frontier_plot,
    )

    progress = Progress(f"frontier {trace.name}")
    try:
        result = run_frontier(trace, settings, windows=windows, leads=leads, workers=workers, progress=progress)
    finally:
        progress.close()
    recommendation = None if budget is None else recommend(result, budget)
    if as_json:
        chosen = None if recommendation is None else recommendation_json(recommendation, settings, workload)
        print(json.dumps(frontier_json(result, chosen)))
    else:
        parts = [frontier_table(result)] if show_frontier else []
        if recommendation is not None:
            parts.append(recommendation_table(recommendation, settings, workload))
        print("\n\n".join(parts))
    if plot is not None:
        write_frontier_plot(result, plot)
    return 0


def _check_plot_directory(path: Path) -> None:
    """Refuse a plot that no file could hold before the replay, not after minutes of it."""
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"--plot {path}: there is no directory {directory}")
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"--plot {path}: the directory {directory} is not writable")


def _manifest(path: Path) -> object:
    """The first HorizontalPodAutoscaler in ``path`` (a file may hold several documents)."""
    try:
        with path.open(encoding="utf-8") as file:
            documents = [document for document in yaml.safe_load_all(file) if document is not None]
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not YAML: {error}") from error
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "HorizontalPodAutoscaler":
            return document
    return documents[0] if documents else None
