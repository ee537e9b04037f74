"""ARIMA and Holt-Winters fits, and the ``backtest`` and ``replay`` commands, against a git
revision's code (``--baseline``, default ``main``) and statsforecast, measured in one run and
printed as ratios.

* ARIMA: the same ARIMA(2,1,1) with drift and six daily Fourier terms fitted on 7-day windows of
  the NASA trace at one minute (statsforecast gets the 15-minute buckets the models fit on, and
  their Fourier columns); the median fit of each, interleaved window by window.
* Holt-Winters: walked over the last 96 origins of a smooth half-hourly series (``--smooth``, a
  trace CSV; by default a synthetic electricity-like one), fitted on the week before each origin
  and forecasting one step: failures (an error or a non-finite forecast, served as the value a day
  earlier), MAE and the median fit, beside statsforecast's ``AutoETS`` (additive, damped, the same
  season).
* Commands: ``foresight backtest`` on the last 12 weeks of worldcup98 at 30 minutes and
  ``foresight replay`` of NASA's last 14 days at one minute, the baseline's tree (``git archive``)
  and this one run one after the other, each in a process of its own; with what each measured
  (every model's MAE, the predictive HPA's share over the SLO and GPU-hours), baseline → new.

statsforecast 2.1 pins pandas below 3, so it runs in an interpreter of its own
(``--statsforecast-python``; see ``bench/statsforecast_reference.py``); without one its columns
are left out.

    python bench/fit_speed.py [--baseline main] [--statsforecast-python PATH] [--smooth CSV]
                              [--rounds 3] [--skip-commands | --skip-fits]
"""

from __future__ import annotations

import os

# one BLAS/OpenMP thread, as in the adapter's workers (see DESIGN.md, cost facts)
from forecasting.threads import one_thread_per_process

one_thread_per_process()

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from shared_traces import traces_folder

from forecasting.core import DAY_SECONDS, WEEK_SECONDS, Forecast, ForecastError, Series, filled
from forecasting.models.arima import DAILY_HARMONICS, Arima, fourier_terms
from forecasting.models.holt_winters import HoltWinters, bucket_factor, downsample
from forecasting.replay.forecasts import block_means
from forecasting.traces import read_trace

ROOT = Path(__file__).resolve().parents[1]
ARIMA_WINDOWS = 8
HW_ORIGINS = 96
HALF_HOUR = 1800.0


def baseline_module(revision: str, path: str, name: str) -> types.ModuleType:
    """``path`` as it is at ``revision``, imported under ``name`` beside today's modules."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:{path}"], capture_output=True, text=True,
                            check=True).stdout
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)  # noqa: S102 - the project's own code
    return module


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def arima_windows() -> list[Series]:
    """7-day windows of NASA at one minute whose 15-minute buckets are all measured."""
    trace = read_trace(traces_folder() / "nasa_http_1995_1min.csv")
    series = Series(trace.rate_per_second(), trace.step_seconds, trace.start)
    week, windows = round(WEEK_SECONDS / series.step_seconds), []
    for end in range(len(series), week, -round(DAY_SECONDS / series.step_seconds)):
        window = Series(series.values[end - week:end], series.step_seconds, series.start + (end - week) * 60.0)
        if np.isfinite(downsample(window, bucket_factor(60.0)).values).all():
            windows.append(window)
        if len(windows) == ARIMA_WINDOWS:
            break
    return windows


def smooth_series(path: Path | None) -> Series:
    """12 weeks at 30 minutes: the trace given, or two daily peaks, lower at weekends, slight noise."""
    if path is not None:
        trace = read_trace(path)
        return Series(trace.rate_per_second() * trace.step_seconds, trace.step_seconds, trace.start)
    times = 1.6e9 + HALF_HOUR * np.arange(12 * 7 * 48)
    day = 2 * np.pi * np.mod(times, DAY_SECONDS) / DAY_SECONDS
    weekend = (times // DAY_SECONDS + 3) % 7 >= 5
    noise = np.random.default_rng(0).normal(0, 50, times.shape[0])
    return Series((30000 + 6000 * np.sin(day - 2) + 2500 * np.sin(2 * day)) * np.where(weekend, 0.9, 1.0) + noise,
                  HALF_HOUR, float(times[0]))


def one_step(model: Any, history: Series) -> float:
    """The forecast one step ahead, or NaN where the model fails."""
    try:
        forecast: Forecast = model.fit(history).predict(1)
    except ForecastError:
        return float("nan")
    return float(forecast.mean[0]) if np.isfinite(forecast.upper).all() else float("nan")


def reference(python: str | None, inputs: dict[str, np.ndarray], folder: Path) -> dict[str, list[float]] | None:
    if python is None:
        return None
    np.savez(folder / "reference.npz", **inputs)
    subprocess.run([python, str(ROOT / "bench" / "statsforecast_reference.py"), str(folder / "reference.npz"),
                    str(folder / "reference.json")], check=True)
    result: dict[str, list[float]] = json.loads((folder / "reference.json").read_text())
    return result


def served_mae(means: list[float], history: Series, origins: range) -> tuple[int, float]:
    """Failures, and the MAE of what is served: a failed forecast serves the value a day earlier."""
    actual = history.values[np.array(origins) + 1]
    day = round(DAY_SECONDS / history.step_seconds)
    fallback = history.values[np.array(origins) + 1 - day]
    forecast = np.array(means)
    failed = ~np.isfinite(forecast)
    return int(failed.sum()), float(np.mean(np.abs(np.where(failed, fallback, forecast) - actual)))


def fits(args: argparse.Namespace, folder: Path) -> None:
    old_hw = baseline_module(args.baseline, "forecasting/models/holt_winters.py", "baseline_holt_winters")
    old_arima = baseline_module(args.baseline, "forecasting/models/arima.py", "baseline_arima")
    windows = arima_windows()
    buckets = [downsample(window, bucket_factor(window.step_seconds)) for window in windows]
    smooth = smooth_series(args.smooth)
    week = round(WEEK_SECONDS / smooth.step_seconds)
    origins = range(len(smooth) - 1 - HW_ORIGINS, len(smooth) - 1)
    histories = [Series(smooth.values[origin + 1 - week:origin + 1], smooth.step_seconds,
                        smooth.start + (origin + 1 - week) * smooth.step_seconds) for origin in origins]
    inputs = {"arima_count": np.array(len(buckets)), "ets_count": np.array(len(histories)),
              "season": np.array(round(DAY_SECONDS / smooth.step_seconds)), "lead": np.array(1)}
    for index, coarse in enumerate(buckets):
        inputs[f"arima_y{index}"] = filled(coarse.values)
        inputs[f"arima_x{index}"] = fourier_terms(coarse.times(), ((DAY_SECONDS, DAILY_HARMONICS),))
    for index, history in enumerate(histories):
        inputs[f"ets_y{index}"] = filled(history.values)
    times: dict[str, list[float]] = {name: [] for name in ("arima old", "arima new", "arima sf", "hw old", "hw new",
                                                          "hw sf")}
    means: dict[str, list[float]] = {"hw old": [], "hw new": [], "hw sf": []}
    for round_ in range(args.rounds):
        for window in windows:
            times["arima old"].append(timed(lambda: old_arima.Arima().fit(window))[0])
            times["arima new"].append(timed(lambda: Arima().fit(window))[0])
        for history in histories:
            for name, model in (("hw old", old_hw.HoltWinters), ("hw new", HoltWinters)):
                seconds, mean = timed(lambda model=model: one_step(model(), history))
                times[name].append(seconds)
                if round_ == 0:
                    means[name].append(mean)
        answer = reference(args.statsforecast_python, inputs, folder)
        if answer is not None:
            times["arima sf"] += answer["arima_seconds"]
            times["hw sf"] += answer["ets_seconds"]
            means["hw sf"] = answer["ets_means"]
    median = {name: statistics.median(values) if values else float("nan") for name, values in times.items()}
    sf = args.statsforecast_python is not None
    print(f"ARIMA(2,1,1) + drift + 6 Fourier terms, {len(windows)} NASA weeks at 1 min (672 buckets), "
          f"median of {len(times['arima new'])} fits")
    print(f"  baseline {median['arima old'] * 1e3:8.1f} ms   new {median['arima new'] * 1e3:8.1f} ms"
          + (f"   statsforecast {median['arima sf'] * 1e3:8.1f} ms" if sf else ""))
    print(f"  baseline/new {median['arima old'] / median['arima new']:.1f}×"
          + (f"   baseline/statsforecast {median['arima old'] / median['arima sf']:.2f}×   "
             f"new/statsforecast {median['arima new'] / median['arima sf']:.2f}× (goal ≤ 2)" if sf else ""))
    print(f"Holt-Winters on {args.smooth.name if args.smooth else 'a synthetic smooth series'}, "
          f"{len(histories)} origins at 30 min, one step ahead")
    for name, label in (("hw old", "baseline"), ("hw new", "new"), ("hw sf", "statsforecast AutoETS AAdA")):
        if means[name]:
            failed, error = served_mae(means[name], smooth, origins)
            print(f"  {label:<27} failed {failed:>3} of {len(histories)}   MAE {error:10.4g}   "
                  f"median fit {median[name] * 1e3:7.1f} ms")
    if sf:
        print(f"  new/statsforecast time {median['hw new'] / median['hw sf']:.2f}× (goal ≤ 1)")


def command_traces(folder: Path) -> tuple[Path, Path, float]:
    """The backtest's trace (worldcup98's last 12 weeks at 30 minutes, written to ``folder``), the
    replay's (NASA) and its capacity per replica (the span's p99 needs 20 replicas at 0.8)."""
    worldcup = read_trace(traces_folder() / "worldcup98_1min.csv")
    counts = block_means(worldcup.requests[: len(worldcup) // 30 * 30], 30) * 30
    kept = counts[-12 * 7 * 48:]
    first = worldcup.start + (counts.shape[0] - kept.shape[0]) * HALF_HOUR
    path = folder / "worldcup98_30min_12w.csv"
    rows = (f"{round(first + index * HALF_HOUR)},{'' if np.isnan(value) else round(value)}"
            for index, value in enumerate(kept))
    path.write_text("timestamp,requests\n" + "\n".join(rows) + "\n")
    nasa = traces_folder() / "nasa_http_1995_1min.csv"
    rates = read_trace(nasa).rate_per_second()[-14 * 1440:]
    return path, nasa, float(np.nanpercentile(rates, 99)) / (0.8 * 20)


def run_command(tree: Path, argv: list[str]) -> tuple[float, Any]:
    """Seconds ``foresight ARGV --json`` takes with the code of ``tree``, and what it printed. The
    console script's entry point is read from the tree's own ``pyproject.toml``: the CLI module
    moves between revisions."""
    scripts = tomllib.loads((tree / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["foresight"].split(":")
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    entry = f"import sys; from {module} import {function}; sys.exit({function}(sys.argv[1:]))"
    finished = subprocess.run([sys.executable, "-c", entry, *argv], cwd=tree, env=environment, capture_output=True,
                              text=True)
    if finished.returncode != 0:
        raise SystemExit(f"foresight {' '.join(argv)} failed with the code of {tree}:\n{finished.stderr[-2000:]}")
    return time.perf_counter() - started, json.loads(finished.stdout)


def accuracy(old: Any, new: Any) -> str:
    """What each run measured, baseline → new: every model's MAE from a backtest, the predictive
    HPA's share of requests over the SLO and GPU-hours from a replay."""
    if "models" in old:
        before = {model["name"]: model["mae"] for model in old["models"]}
        return "  MAE " + ", ".join(f"{model['name']} {before[model['name']]:.4g} → {model['mae']:.4g}"
                                    for model in new["models"] if model["name"] in before)
    was, now = old["controllers"]["predictive"], new["controllers"]["predictive"]
    return (f"  predictive: over SLO {was['slo_violation_share']:.2%} → {now['slo_violation_share']:.2%}, "
            f"GPU-h {was['gpu_hours']:.1f} → {now['gpu_hours']:.1f}")


def commands(args: argparse.Namespace, folder: Path) -> None:
    baseline = folder / "baseline"
    baseline.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive, check=True)
    backtest, nasa, capacity = command_traces(folder)
    runs = {"backtest 12 weeks at 30 min (worldcup98)": ["backtest", "--trace", str(backtest), "--json"],
            "replay 14 days at 1 min (nasa)": ["replay", "--trace", str(nasa), "--capacity-per-replica", f"{capacity:g}",
                                               "--startup", "3m", "--span", "14d", "--json"]}
    for label, argv in runs.items():
        old, old_report = run_command(baseline, argv)
        new, new_report = run_command(ROOT, argv)
        print(f"{label}: baseline {old:6.1f} s   new {new:6.1f} s   baseline/new {old / new:.2f}× "
              f"(goal: new under 45 s on 2 cores)", flush=True)
        print(accuracy(old_report, new_report), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git revision whose code is the baseline (default main)")
    parser.add_argument("--statsforecast-python", help="an interpreter with statsforecast installed")
    parser.add_argument("--smooth", type=Path, help="a smooth half-hourly trace CSV for Holt-Winters")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the fit comparisons (default 3)")
    stages = parser.add_mutually_exclusive_group()
    stages.add_argument("--skip-commands", action="store_true", help="only the fit comparisons")
    stages.add_argument("--skip-fits", action="store_true", help="only the commands")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_fits:
            fits(args, Path(folder))
        if not args.skip_commands:
            commands(args, Path(folder))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
