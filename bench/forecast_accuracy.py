"""Forecast accuracy of every model, and of selection (``auto``), on every real trace.

Runs the walk-forward backtest of ``foresight backtest`` at a 5-minute lead on each CSV in
``../shared/traces`` (next to the repository) and prints, per trace, each model's MAE ratio to
persistence and to seasonal naive, what selection picked, how often auto's served bound held with
the model's own interval and calibrated, and the wall time. The summary checks the goal: ``auto``
beats both baselines on every trace with daily structure (at least two days long, lag-one-day
autocorrelation at least 0.3), and is never more than 5 % worse than the better baseline on any
trace.

    python bench/forecast_accuracy.py [--only SUBSTRING] [--max-origins 300]
"""

from __future__ import annotations

# one BLAS/OpenMP thread, as in the adapter's workers: two threads under contention make fits
# many times slower on a 2-core machine (see DESIGN.md, cost facts)
from forecasting.threads import one_thread_per_process

one_thread_per_process()

import argparse
import sys
import time
from collections.abc import Callable

from shared_traces import STRUCTURE_AUTOCORRELATION, autocorrelation, traces_folder

from forecasting.backtest import AUTO, BacktestReport, run_backtest
from forecasting.core import DAY_SECONDS, Series
from forecasting.traces import read_trace

LEAD_SECONDS = 300.0
TOLERANCE = 1.05
"""``auto`` may be at most this much worse than the better baseline on any trace."""


def progress_bar(label: str) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if sys.stderr.isatty():
            filled = 30 * done // total
            sys.stderr.write(f"\r{label:<40} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    return show


def ratios(report: BacktestReport, name: str) -> tuple[float, float]:
    score = next(model for model in report.models if model.name == name)
    return score.ratio_to_persistence, score.ratio_to_seasonal_naive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="only traces whose name contains this")
    parser.add_argument("--max-origins", type=int, default=300, help="scored origins per trace (default 300)")
    args = parser.parse_args()
    paths = sorted(path for path in traces_folder().glob("*.csv") if args.only in path.stem)
    summary = []
    for path in paths:
        trace = read_trace(path)
        series = Series(trace.rate_per_second(), trace.step_seconds, trace.start)
        started = time.perf_counter()
        report = run_backtest(series, name=trace.name, lead_seconds=LEAD_SECONDS, max_origins=args.max_origins,
                              progress=progress_bar(trace.name))
        seconds = time.perf_counter() - started
        print(report.table())
        print(f"wall time {seconds:.0f} s\n", flush=True)
        correlation = autocorrelation(series.values, series.steps_per(DAY_SECONDS))
        structured = correlation is not None and correlation >= STRUCTURE_AUTOCORRELATION
        to_persistence, to_seasonal = ratios(report, AUTO)
        # auto over the better baseline is the larger of the two ratios
        worst = max(to_persistence, to_seasonal)
        met = worst < 1 if structured else worst <= TOLERANCE
        picked = sorted({pick for _, pick in report.selections})
        summary.append((trace.name, correlation, structured, to_persistence, to_seasonal, ",".join(picked), met, seconds))

    print(f"goal: auto < both baselines where daily structure (≥ 2 days, lag-1-day autocorrelation ≥ "
          f"{STRUCTURE_AUTOCORRELATION}); auto ≤ {TOLERANCE:g} × the better baseline everywhere")
    print(f"{'trace':<40}{'ac(1d)':>7}{'daily':>6}{'auto/persist':>13}{'auto/s-naive':>13}  {'goal':<5}{'wall':>6}  picks")
    for name, correlation, structured, to_persistence, to_seasonal, picks, met, seconds in summary:
        shown = "-" if correlation is None else f"{correlation:.2f}"
        print(f"{name:<40}{shown:>7}{'yes' if structured else 'no':>6}{to_persistence:>13.3f}{to_seasonal:>13.3f}  "
              f"{'met' if met else 'MISS':<5}{seconds:>5.0f}s  {picks}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
