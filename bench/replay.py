"""Predictive against reactive autoscaling on every real trace, on the cost-versus-SLO frontier,
through ``foresight replay --frontier --recommend``'s sweep, at several pod start-ups.

Each trace is replayed over its last 14 days (all of it when shorter; the history before the span
warms the forecaster up, as the adapter's backfill does). A replica's capacity is set so that the
99th percentile of the request rate over the replayed span needs 20 replicas at the 0.8 target —
the same rule for every trace, so no trace is tuned for. For each trace and start-up it prints:

* at each point of reactive's frontier with 0.5 % to 5 % of requests over the SLO, the GPU-hours
  predictive's frontier needs for the same share, as a ratio of reactive's (the worst and the
  best of those points; ``-`` where predictive's frontier does not reach that share);
* the recommendation at a 1 % budget (``--budget``): its family and its GPU-hours against the
  oracle's (exactly the replicas the target needs, ready at once);
* the sweep's wall time.

Then the goal: on traces with daily or weekly structure (lag-one-day or lag-one-week
autocorrelation ≥ 0.3), predictive needs at most 0.85× reactive's GPU-hours at every such point
and the recommendation at most 1.15× the oracle's; on the others, predictive's frontier is never
more than 2 % above reactive's. With ``--cost`` it also times one plain replay of each trace
beside its sweep, the sweep's cost as a ratio of a replay's measured in the same run. With
``--out DIR`` it writes each sweep's frontier plot (SVG) and JSON there, to show why a goal is
out of reach where it is.

    python bench/replay.py [--only SUBSTRING,...] [--startups 1m,3m,10m] [--span-days 14]
                           [--parallel 2] [--budget 1%] [--cost] [--out DIR]
"""

from __future__ import annotations

import os

# one BLAS/OpenMP thread per process, as in the adapter's workers (see DESIGN.md, cost facts)
from forecasting.threads import one_thread_per_process

one_thread_per_process()

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from shared_traces import STRUCTURE_AUTOCORRELATION, autocorrelation, traces_folder

from adapter.settings.durations import parse_duration
from forecasting.core import DAY_SECONDS, WEEK_SECONDS, duration_text
from forecasting.replay import ReplaySettings, ServiceSettings, run_replay
from forecasting.replay.frontier_plot import write_frontier_plot
from forecasting.replay.recommend import Workload, recommend
from forecasting.replay.report import frontier_json, ratio, recommendation_json
from forecasting.replay.sweep import run_frontier
from forecasting.traces import Trace, read_trace

REPLICAS_AT_P99 = 20
TARGET_SHARE = 0.8
SHARES = (0.005, 0.05)
"""The reactive frontier points compared: 0.5 % to 5 % of requests over the SLO."""
GPU_OVER_REACTIVE = 0.85
GPU_OVER_ORACLE = 1.15
UNSTRUCTURED_TOLERANCE = 1.02


def capacity_per_replica(trace: Trace, span_seconds: float) -> float:
    steps = max(1, round(span_seconds / trace.step_seconds))
    replayed = trace.rate_per_second()[-steps:]
    return float(np.nanpercentile(replayed, 99)) / (TARGET_SHARE * REPLICAS_AT_P99)


@dataclass(frozen=True)
class Outcome:
    name: str
    startup_seconds: float
    structured: bool
    ratios: tuple[float | None, ...]
    """Predictive's GPU-hours over reactive's at each compared point of reactive's frontier."""
    family: str | None
    recommended_over_oracle: float | None
    seconds: float
    replay_seconds: float | None

    @property
    def reached(self) -> list[float]:
        return [value for value in self.ratios if value is not None]

    def met(self) -> bool:
        if not self.structured:
            return all(value <= UNSTRUCTURED_TOLERANCE for value in self.reached)
        return (bool(self.ratios) and len(self.reached) == len(self.ratios)
                and max(self.reached) <= GPU_OVER_REACTIVE
                and self.recommended_over_oracle is not None and self.recommended_over_oracle <= GPU_OVER_ORACLE)


def structured(trace: Trace) -> bool:
    rates = trace.rate_per_second()
    return any(value is not None and value >= STRUCTURE_AUTOCORRELATION
               for value in (autocorrelation(rates, round(DAY_SECONDS / trace.step_seconds)),
                             autocorrelation(rates, round(WEEK_SECONDS / trace.step_seconds))))


def sweep(path: Path, startup: float, span_days: float, budget: float, workers: int, cost: bool,
          out: Path | None) -> Outcome:
    trace = read_trace(path)
    span = span_days * DAY_SECONDS
    service = ServiceSettings(capacity_per_replica=capacity_per_replica(trace, span), startup_seconds=startup)
    settings = ReplaySettings(service, target_share=TARGET_SHARE, span_seconds=span)
    started = time.perf_counter()
    result = run_frontier(trace, settings, workers=workers)
    seconds = time.perf_counter() - started
    replay_seconds = None
    if cost:
        started = time.perf_counter()
        run_replay(trace, settings)
        replay_seconds = time.perf_counter() - started
    ratios = tuple(None if row.predictive_gpu_hours is None else row.predictive_gpu_hours / row.reactive_gpu_hours
                   for row in result.comparison() if SHARES[0] <= row.slo_violation_share <= SHARES[1])
    recommendation = recommend(result, budget)
    chosen = recommendation.chosen
    if out is not None:
        stem = out / f"{trace.name}_{duration_text(startup)}"
        write_frontier_plot(result, stem.with_suffix(".svg"))
        stem.with_suffix(".json").write_text(json.dumps(frontier_json(
            result, recommendation_json(recommendation, settings, Workload()))))
    return Outcome(trace.name, startup, structured(trace), ratios,
                   None if chosen is None else ("predictive" if chosen.config.predictive else "reactive"),
                   None if chosen is None else ratio(chosen.metrics.gpu_hours, result.oracle.gpu_hours),
                   seconds, replay_seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="only traces whose name contains one of these (comma-separated)")
    parser.add_argument("--startups", default="1m,3m,10m", help="pod start-ups (default 1m,3m,10m)")
    parser.add_argument("--span-days", type=float, default=14.0, help="days replayed per trace (default 14)")
    parser.add_argument("--parallel", type=int, default=2, help="sweeps run at once, one process each (default 2)")
    parser.add_argument("--budget", default="1%", help="share over the SLO the recommendation may reach (default 1%%)")
    parser.add_argument("--cost", action="store_true", help="also time one plain replay of each trace")
    parser.add_argument("--out", type=Path, help="write each sweep's frontier plot and JSON to this folder")
    args = parser.parse_args()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    budget = float(args.budget.rstrip("%")) / 100 if args.budget.endswith("%") else float(args.budget)
    startups = [parse_duration(text) for text in args.startups.split(",")]
    wanted = args.only.split(",")
    paths = sorted(path for path in traces_folder().glob("*.csv") if any(part in path.stem for part in wanted))
    jobs = sorted(((path, startup) for path in paths for startup in startups),
                  key=lambda job: -job[0].stat().st_size)  # the longest traces first, so none is left alone at the end
    print(f"frontier sweeps of {len(paths)} traces at start-ups {', '.join(map(duration_text, startups))}; "
          f"recommendation at {budget:.3g} over the SLO\n", flush=True)
    header = (f"{'trace':<38}{'start':>6}{'struct':>7}{'points':>7}{'worst p/r':>10}{'best p/r':>9}"
              f"{'recommended':>13}{'rec/oracle':>11}{'goal':>6}{'wall':>7}{'sweep/replay':>13}")
    print(header, flush=True)
    outcomes = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.parallel, mp_context=context) as pool:
        futures = [pool.submit(sweep, path, startup, args.span_days, budget, max(1, (os.cpu_count() or 1)
                                                                                 // args.parallel), args.cost,
                               args.out)
                   for path, startup in jobs]
        for future in futures:
            outcome = future.result()
            outcomes.append(outcome)
            reached = outcome.reached
            print(f"{outcome.name:<38}{duration_text(outcome.startup_seconds):>6}"
                  f"{'yes' if outcome.structured else 'no':>7}{len(outcome.ratios):>7}"
                  f"{_shown(max(reached) if reached else None):>10}{_shown(min(reached) if reached else None):>9}"
                  f"{outcome.family or 'none':>13}{_shown(outcome.recommended_over_oracle):>11}"
                  f"{'met' if outcome.met() else 'MISS':>6}{outcome.seconds:>6.0f}s"
                  f"{_shown(None if outcome.replay_seconds is None else outcome.seconds / outcome.replay_seconds):>13}",
                  flush=True)
    print(f"\ngoal: structured traces: predictive ≤ {GPU_OVER_REACTIVE:g}× reactive's GPU-hours at every reactive "
          f"frontier point from {SHARES[0]:.1%} to {SHARES[1]:.0%} over the SLO, recommendation ≤ {GPU_OVER_ORACLE:g}× "
          f"the oracle's; others: predictive ≤ {UNSTRUCTURED_TOLERANCE:g}× reactive's at every point. "
          f"{sum(outcome.met() for outcome in outcomes)} of {len(outcomes)} met.")
    return 0


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
