"""How many tracked forecast series one adapter replica carries: the cost of each kind of pass
through the forecasting workers, the memory it takes, and how long the event loop stalls.

Runs the adapter's own worker pool and jobs (``adapter.forecast_pool``) over synthetic series of
7 days at a 1-minute step (a daily cycle, a weekly one, noise and bursts), in three passes that
follow the schedule a tracker follows:

1. first step: model selection and a fit of the chosen model, for every series;
2. a minute later: only an update and a forecast (what every minute costs);
3. at the next hourly boundary: a refit without selection.

A ticking coroutine measures the longest event-loop stall meanwhile. Figures are printed, and
scaled linearly to ``--target`` series (1,000 by default) when fewer were run.

    python bench/forecast_scale.py [--series 100] [--workers 2] [--target 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapter.forecast_pool import ForecastPool  # noqa: E402
from adapter.forecast_worker import Job  # noqa: E402
from forecasting.plan import Plan  # noqa: E402

STEP = 60.0
POINTS = 7 * 1440


def synthetic(index: int, end: float) -> np.ndarray:
    """One week of a demand-like series: daily and weekly cycles, noise, a few bursts."""
    rng = np.random.default_rng(index)
    t = end - STEP * np.arange(POINTS - 1, -1, -1)
    level = rng.uniform(5, 500)
    day = 1 + 0.6 * np.sin(2 * np.pi * (t / 86400 + rng.uniform()))
    week = 1 + 0.15 * np.sin(2 * np.pi * t / 604800)
    values = level * day * week * rng.lognormal(0, 0.08, POINTS)
    for start in rng.integers(0, POINTS - 30, 3):
        values[start : start + 20] *= 2.5
    return values


class StallMeter:
    """The longest gap between ticks of a coroutine that asks to run every 10 ms."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - 0.01)
            last = now

    def __enter__(self) -> StallMeter:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def rss_mib(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


async def one_pass(pool: ForecastPool, series: list[np.ndarray], start: float, now: float, plan: Plan) -> tuple[float, dict[str, int]]:
    begun = time.perf_counter()
    outcomes = await asyncio.gather(
        *(pool.run(Job(f"series-{index}", values, STEP, start, now, plan)) for index, values in enumerate(series))
    )
    models: dict[str, int] = {}
    for outcome in outcomes:
        models[outcome.model or "warming"] = models.get(outcome.model or "warming", 0) + 1
    return time.perf_counter() - begun, models


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--target", type=int, default=1000)
    args = parser.parse_args()

    hour = 3600.0
    first = math.floor(time.time() / hour) * hour + 60  # a minute past an hour
    start = first - (POINTS - 1) * STEP
    series = [synthetic(index, first) for index in range(args.series)]
    plan = Plan(lead_steps=3, window_steps=5, slack_steps=5)
    pool = ForecastPool(args.workers)
    scale = args.target / args.series
    later = [np.append(values[1:], values[-1]) for values in series]
    stalls: list[float] = []
    try:
        with StallMeter() as stall:
            select_seconds, picks = await one_pass(pool, series, start, first, plan)
        stalls.append(stall.longest)
        with StallMeter() as stall:
            update_seconds, _ = await one_pass(pool, later, start + STEP, first + STEP, plan)
        stalls.append(stall.longest)
        with StallMeter() as stall:
            refit_seconds, _ = await one_pass(pool, series, start, first + hour, plan)
        stalls.append(stall.longest)
        workers = [process.pid for executor in pool._executors if executor is not None for process in executor._processes.values()]  # noqa: SLF001
        worker_mib = [rss_mib(pid) for pid in workers]
    finally:
        pool.close()
    parent_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.series} series of 7 days at 1 min, {args.workers} worker processes "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}); scaled ×{scale:g} to {args.target} series")
    print(f"{'pass':<34}{'measured':>12}{f'at {args.target}':>14}{'longest stall':>16}")
    passes = (("select + fit (first step)", select_seconds),
              ("update + forecast (every minute)", update_seconds),
              ("refit (hourly)", refit_seconds))
    for (label, seconds), longest in zip(passes, stalls, strict=True):
        print(f"{label:<34}{seconds:>11.1f}s{seconds * scale:>13.1f}s{longest * 1000:>13.1f} ms")
    print("(the first pass also starts the worker processes)")
    print(f"peak memory: server process {parent_mib:.0f} MiB, workers {', '.join(f'{m:.0f}' for m in worker_mib)} MiB")
    print(f"models chosen: {', '.join(f'{name} ×{count}' for name, count in sorted(picks.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
