"""Reactive vs predictive vs oracle autoscaling on every real trace, through ``foresight replay``'s
simulation with a 3-minute start-up.

Each trace is replayed over its last 14 days (all of it when shorter; the history before the span
warms the forecaster up, as the adapter's backfill does). A replica's capacity is set so that the
99th percentile of the request rate over the replayed span needs 20 replicas at the 0.8 target —
the same rule for every trace, so no trace is tuned for, and a span quieter than the rest of its
trace is not served by a handful of oversized replicas. Prints each trace's table and wall time, then the goal:

* on traces with daily or weekly structure (lag-one-day or lag-one-week autocorrelation ≥ 0.3):
  predictive cuts the share of requests over the SLO by at least 60 % against reactive, with at
  most 10 % more GPU-hours than reactive and within 25 % of the oracle's GPU-hours;
* on the others: predictive is never more than 5 % worse than reactive on either figure.

Predictive can only add replicas to reactive's, so it is also compared with the plain way to spend
the same GPU-hours: the reactive HPA with its target lowered until it runs as many GPU-hours as
predictive did (within 1 %). Where that headroom serves fewer requests over the SLO than the
forecast does, the forecast bought nothing that a lower target would not.

    python bench/replay.py [--only SUBSTRING,...] [--workers 2] [--span-days 14] [--quantile 0.9] [--window 300]

``--quantile`` and ``--window`` set the forecast the predictive HPA reads (the adapter's per-workload
``quantile`` and ``window``), to compare serving rules on the same traces.
"""

from __future__ import annotations

import os

# one BLAS/OpenMP thread per process, as in the adapter's workers (see DESIGN.md, cost facts)
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from shared_traces import STRUCTURE_AUTOCORRELATION, autocorrelation, traces_folder

from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.core import DAY_SECONDS, WEEK_SECONDS, Model
from forecasting.replay import ReplayResult, ReplaySettings, ServiceSettings, run_replay
from forecasting.replay.metrics import ControllerMetrics
from forecasting.replay.report import ratio, table
from forecasting.traces import Trace, read_trace

STARTUP_SECONDS = 180.0
REPLICAS_AT_P99 = 20
TARGET_SHARE = 0.8
SLO_CUT = 0.6
GPU_OVER_REACTIVE = 1.10
GPU_OVER_ORACLE = 1.25
TOLERANCE = 1.05


def capacity_per_replica(trace: Trace, span_seconds: float) -> float:
    steps = max(1, round(span_seconds / trace.step_seconds))
    replayed = trace.rate_per_second()[-steps:]
    return float(np.nanpercentile(replayed, 99)) / (TARGET_SHARE * REPLICAS_AT_P99)


HEADROOM_MATCH = 0.01
"""The headroom comparison lowers the target until its GPU-hours are within this share of predictive's."""
HEADROOM_TRIES = 4
CHEAP_FACTORIES: dict[str, Callable[[], Model]] = {Persistence.name: Persistence, SeasonalNaive.name: SeasonalNaive}
"""The headroom runs read only the reactive controller, so their forecaster need not fit real models."""


@dataclass(frozen=True)
class Headroom:
    """The reactive HPA at the target share that spends predictive's GPU-hours."""

    target_share: float
    metrics: ControllerMetrics


@dataclass(frozen=True)
class Outcome:
    name: str
    result: ReplayResult
    headroom: Headroom
    seconds: float
    daily: float | None
    weekly: float | None


@dataclass(frozen=True)
class ForecastRule:
    quantile: float
    window_seconds: float


def replay(path: Path, span_days: float, rule: ForecastRule) -> Outcome:
    trace = read_trace(path)
    span_seconds = span_days * DAY_SECONDS
    service = ServiceSettings(capacity_per_replica=capacity_per_replica(trace, span_seconds),
                              startup_seconds=STARTUP_SECONDS)
    settings = ReplaySettings(service, target_share=TARGET_SHARE, span_seconds=span_seconds,
                              quantile=rule.quantile, window_seconds=rule.window_seconds)
    started = time.perf_counter()
    result = run_replay(trace, settings)
    seconds = time.perf_counter() - started
    rates = trace.rate_per_second()
    daily = autocorrelation(rates, round(DAY_SECONDS / trace.step_seconds))
    weekly = autocorrelation(rates, round(WEEK_SECONDS / trace.step_seconds))
    headroom = same_cost_headroom(trace, settings, result.controllers["predictive"].gpu_hours,
                                  result.controllers["reactive"].gpu_hours)
    return Outcome(trace.name, result, headroom, seconds, daily, weekly)


def same_cost_headroom(trace: Trace, settings: ReplaySettings, gpu_hours: float, reactive_gpu_hours: float) -> Headroom:
    """The reactive HPA with its target share scaled down until it spends ``gpu_hours`` (GPU-hours
    are nearly inversely proportional to the target, so a few rescalings converge); the closest
    try when none comes within the match."""
    share = min(settings.target_share * reactive_gpu_hours / gpu_hours, 1.0)
    closest: Headroom | None = None
    for _ in range(HEADROOM_TRIES):
        reactive = run_replay(trace, replace(settings, target_share=share), factories=CHEAP_FACTORIES).controllers["reactive"]
        miss = abs(ratio(reactive.gpu_hours, gpu_hours) - 1)
        if closest is None or miss < abs(ratio(closest.metrics.gpu_hours, gpu_hours) - 1):
            closest = Headroom(share, reactive)
        if miss <= HEADROOM_MATCH or share >= 1.0:
            break
        share = min(share * ratio(reactive.gpu_hours, gpu_hours), 1.0)
    assert closest is not None
    return closest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="only traces whose name contains one of these (comma-separated)")
    parser.add_argument("--workers", type=int, default=2, help="traces replayed at once (default 2)")
    parser.add_argument("--span-days", type=float, default=14.0, help="days replayed per trace (default 14)")
    parser.add_argument("--quantile", type=float, default=0.9, help="upper quantile of the forecast (default 0.9)")
    parser.add_argument("--window", type=float, default=300.0,
                        help="seconds of forecast window H after the lead (default 300)")
    args = parser.parse_args()
    rule = ForecastRule(args.quantile, args.window)
    wanted = args.only.split(",")
    paths = sorted(path for path in traces_folder().glob("*.csv") if any(part in path.stem for part in wanted))
    outcomes = []
    print(f"forecast served: upper {rule.quantile:g} quantile over [now + {STARTUP_SECONDS:g} s, "
          f"now + {STARTUP_SECONDS + rule.window_seconds:g} s]\n", flush=True)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for outcome in pool.map(replay, paths, [args.span_days] * len(paths), [rule] * len(paths)):
            print(table(outcome.result))
            headroom = outcome.headroom
            print(f"reactive at target share {headroom.target_share:.3f}, {headroom.metrics.gpu_hours:.0f} GPU-hours "
                  f"against predictive's {outcome.result.controllers['predictive'].gpu_hours:.0f}: "
                  f"{headroom.metrics.slo_violation_share:.3%} over the SLO")
            print(f"wall time {outcome.seconds:.0f} s\n", flush=True)
            outcomes.append(outcome)

    print(f"goal: with daily or weekly structure (autocorrelation ≥ {STRUCTURE_AUTOCORRELATION} at one day or one "
          f"week): SLO share cut ≥ {SLO_CUT:.0%}, GPU-h ≤ {GPU_OVER_REACTIVE:g} × reactive and ≤ {GPU_OVER_ORACLE:g} × "
          f"oracle; otherwise SLO share and GPU-h ≤ {TOLERANCE:g} × reactive")
    print(f"{'trace':<38}{'ac 1d':>6}{'ac 1w':>6}{'struct':>7}{'over SLO r/p/o':>24}{'GPU-h r/p/o':>26}"
          f"{'cut':>6}{'p/r GPU':>8}{'p/o GPU':>8}  {'goal':<5}{'headroom':>9}{'wall':>6}")
    for outcome in outcomes:
        reactive, predictive, oracle = (outcome.result.controllers[name] for name in ("reactive", "predictive", "oracle"))
        structured = any(value is not None and value >= STRUCTURE_AUTOCORRELATION
                         for value in (outcome.daily, outcome.weekly))
        cut = 1 - ratio(predictive.slo_violation_share, reactive.slo_violation_share)
        over_reactive = ratio(predictive.gpu_hours, reactive.gpu_hours)
        over_oracle = ratio(predictive.gpu_hours, oracle.gpu_hours)
        if structured:
            met = cut >= SLO_CUT and over_reactive <= GPU_OVER_REACTIVE and over_oracle <= GPU_OVER_ORACLE
        else:
            met = (ratio(predictive.slo_violation_share, reactive.slo_violation_share) <= TOLERANCE
                   and over_reactive <= TOLERANCE)
        shares = (f"{reactive.slo_violation_share:.2%}/{predictive.slo_violation_share:.2%}/"
                  f"{oracle.slo_violation_share:.0%}")
        hours = f"{reactive.gpu_hours:.0f}/{predictive.gpu_hours:.0f}/{oracle.gpu_hours:.0f}"
        print(f"{outcome.name:<38}{_shown(outcome.daily):>6}{_shown(outcome.weekly):>6}{'yes' if structured else 'no':>7}"
              f"{shares:>24}{hours:>26}{cut:>6.0%}{over_reactive:>8.3f}{over_oracle:>8.3f}  "
              f"{'met' if met else 'MISS':<5}{outcome.headroom.metrics.slo_violation_share:>9.2%}{outcome.seconds:>5.0f}s")
    return 0


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
