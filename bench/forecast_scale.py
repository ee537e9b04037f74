"""How many tracked forecast series one adapter replica carries: the cost of each kind of pass
through the forecasting workers, the memory it takes, and how long the event loop stalls.

Runs the adapter's own worker pool and jobs (``adapter.forecast_pool``) over synthetic series of
7 days at a 1-minute step (a daily cycle, a weekly one, noise and bursts), in three passes that
follow the schedule a tracker follows:

1. first step: model selection and a fit of the chosen model, for every series;
2. a minute later: only an update and a forecast (what every minute costs);
3. at the next hourly boundary: a refit without selection.

Then the freshness of the steady state: new series, each with the phase the tracker gives it
(:func:`forecasting.schedule.phase_for`), so selections and refits spread over their periods. After
their first step (a restart: everything selects at once) they are stepped through the
``--minutes`` busiest consecutive minutes of the six-hour phase cycle, each pass with the selections
and refits whose deadlines fall in it. A pass must finish within its minute, or series skip a step
and their forecasts age.

A ticking coroutine measures the longest event-loop stall meanwhile. Figures are printed, and
scaled linearly to ``--target`` series (1,000 by default) when fewer were run. The busiest minute
does not scale linearly (a thousand phases spread more evenly than a hundred), so for the target
it is estimated from the phases of as many keys and this run's cost per selection, refit and
update.

    python bench/forecast_scale.py [--series 100] [--workers 2] [--target 1000] [--minutes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapter.forecast_pool import ForecastPool  # noqa: E402
from adapter.forecast_worker import Job  # noqa: E402
from forecasting.plan import Plan  # noqa: E402
from forecasting.schedule import DEFAULT_SCHEDULE, phase_for  # noqa: E402

STEP = 60.0
POINTS = 7 * 1440
PLAN = Plan(lead_steps=3, window_steps=5, slack_steps=5)


def synthetic(index: int, end: float, points: int = POINTS) -> np.ndarray:
    """``points`` minutes of a demand-like series: daily and weekly cycles, noise, a few bursts."""
    rng = np.random.default_rng(index)
    t = end - STEP * np.arange(points - 1, -1, -1)
    level = rng.uniform(5, 500)
    day = 1 + 0.6 * np.sin(2 * np.pi * (t / 86400 + rng.uniform()))
    week = 1 + 0.15 * np.sin(2 * np.pi * t / 604800)
    values = level * day * week * rng.lognormal(0, 0.08, points)
    for start in rng.integers(0, points - 30, 3):
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


@dataclass(frozen=True)
class Pass:
    seconds: float
    models: Counter[str]
    selected: int
    refitted: int


async def one_pass(pool: ForecastPool, series: list[np.ndarray], start: float, now: float,
                   plans: Sequence[Plan], keys: Sequence[str]) -> Pass:
    begun = time.perf_counter()
    outcomes = await asyncio.gather(*(pool.run(Job(key, values, STEP, start, now, plan))
                                      for key, values, plan in zip(keys, series, plans, strict=True)))
    return Pass(time.perf_counter() - begun, Counter(outcome.model or "warming" for outcome in outcomes),
                sum(outcome.selected for outcome in outcomes), sum(outcome.refitted for outcome in outcomes))


def phased_key(index: int) -> str:
    """A series key shaped like the tracker's, for the phase it gives."""
    return f"requests_per_second|bench|series-{index}"


def deadlines_per_minute(phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Selections and refits due in each minute of the selection cycle, for series with these
    phases (deadlines at ``phase`` + whole periods; one at second p falls in minute ceil(p / STEP))."""
    cycle = round(DEFAULT_SCHEDULE.select_every_seconds / STEP)
    refit_every = round(DEFAULT_SCHEDULE.refit_every_seconds / STEP)
    selections = np.bincount(np.ceil(phases / STEP).astype(int) % cycle, minlength=cycle)
    refit_minute = np.ceil((phases % DEFAULT_SCHEDULE.refit_every_seconds) / STEP).astype(int) % refit_every
    refits = np.tile(np.bincount(refit_minute, minlength=refit_every), cycle // refit_every)
    return selections, refits


def busiest_start(phases: np.ndarray, minutes: int, select_cost: float, refit_cost: float) -> int:
    """The minute of the selection cycle after which the next ``minutes`` minutes hold the most
    selection and refit work."""
    selections, refits = deadlines_per_minute(phases)
    work = select_cost * selections + refit_cost * refits
    following = [work[(start + 1 + np.arange(minutes)) % work.size].sum() for start in range(work.size)]
    return int(np.argmax(following))


def busiest_minute_at(target: int, update_cost: float, select_cost: float, refit_cost: float) -> tuple[int, int, float]:
    """The busiest minute of ``target`` tracked series: its selections, refits and estimated pass."""
    keys = [phased_key(index) for index in range(target)]
    selections, refits = deadlines_per_minute(np.array([phase_for(key, DEFAULT_SCHEDULE) for key in keys]))
    seconds = target * update_cost + select_cost * selections + refit_cost * refits
    busiest = int(np.argmax(seconds))
    return int(selections[busiest]), int(refits[busiest]), float(seconds[busiest])


async def steady_state(pool: ForecastPool, count: int, minutes: int, select_cost: float,
                       refit_cost: float) -> tuple[Pass, list[Pass], float]:
    """A restart of ``count`` phased series, then their busiest ``minutes`` minutes; the longest
    event-loop stall over the minutes."""
    keys = [phased_key(index) for index in range(count)]
    plans = [replace(PLAN, phase_seconds=phase_for(key, DEFAULT_SCHEDULE)) for key in keys]
    cycle = DEFAULT_SCHEDULE.select_every_seconds
    offset = busiest_start(np.array([plan.phase_seconds for plan in plans]), minutes, select_cost, refit_cost)
    restart = (math.floor(time.time() / cycle) - 1) * cycle + offset * STEP
    start = restart - (POINTS - 1) * STEP
    grown = [synthetic(count + index, restart + minutes * STEP, POINTS + minutes) for index in range(count)]
    first = await one_pass(pool, [values[:POINTS] for values in grown], start, restart, plans, keys)
    passes = []
    with StallMeter() as stall:
        for minute in range(1, minutes + 1):
            passes.append(await one_pass(pool, [values[: POINTS + minute] for values in grown], start,
                                         restart + minute * STEP, plans, keys))
    return first, passes, stall.longest


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--target", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=10, help="busiest minutes stepped in the steady state")
    args = parser.parse_args()

    hour = 3600.0
    first = math.floor(time.time() / hour) * hour + 60  # a minute past an hour
    start = first - (POINTS - 1) * STEP
    series = [synthetic(index, first) for index in range(args.series)]
    keys = [f"series-{index}" for index in range(args.series)]
    plans = [PLAN] * args.series
    pool = ForecastPool(args.workers)
    scale = args.target / args.series
    later = [np.append(values[1:], values[-1]) for values in series]
    stalls: list[float] = []
    try:
        with StallMeter() as stall:
            selection = await one_pass(pool, series, start, first, plans, keys)
        stalls.append(stall.longest)
        with StallMeter() as stall:
            update = await one_pass(pool, later, start + STEP, first + STEP, plans, keys)
        stalls.append(stall.longest)
        with StallMeter() as stall:
            refit = await one_pass(pool, series, start, first + hour, plans, keys)
        stalls.append(stall.longest)
        select_cost = max(selection.seconds - update.seconds, 0.0) / args.series
        refit_cost = max(refit.seconds - update.seconds, 0.0) / args.series
        restart, minutes, minutes_stall = await steady_state(pool, args.series, args.minutes, select_cost, refit_cost)
        workers = [process.pid for executor in pool._executors if executor is not None for process in executor._processes.values()]  # noqa: SLF001
        worker_mib = [rss_mib(pid) for pid in workers]
    finally:
        pool.close()
    parent_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.series} series of 7 days at 1 min, {args.workers} worker processes "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}); scaled ×{scale:g} to {args.target} series")
    print(f"{'pass':<34}{'measured':>12}{f'at {args.target}':>14}{'longest stall':>16}")
    passes = (("select + fit (first step)", selection.seconds),
              ("update + forecast (every minute)", update.seconds),
              ("refit (hourly)", refit.seconds))
    for (label, seconds), longest in zip(passes, stalls, strict=True):
        print(f"{label:<34}{seconds:>11.1f}s{seconds * scale:>13.1f}s{longest * 1000:>13.1f} ms")
    print("(the first pass also starts the worker processes)")
    print(f"peak memory: server process {parent_mib:.0f} MiB, workers {', '.join(f'{m:.0f}' for m in worker_mib)} MiB")
    print(f"models chosen: {', '.join(f'{name} ×{count}' for name, count in sorted(selection.models.items()))}")
    print(f"\nsteady state of {args.series} series phased as the tracker phases them: a restart (everything "
          f"selects) took {restart.seconds:.1f} s ({restart.seconds * scale:.0f} s at {args.target}); their busiest "
          f"{args.minutes} minutes:")
    print(f"{'minute':<8}{'selections':>11}{'refits':>8}{'pass':>9}")
    for index, minute in enumerate(minutes, start=1):
        print(f"{index:<8}{minute.selected:>11}{minute.refitted:>8}{minute.seconds:>8.2f}s")
    longest = max(minute.seconds for minute in minutes)
    print(f"longest pass {longest:.2f} s, longest stall {minutes_stall * 1000:.1f} ms")
    selections, refits, estimate = busiest_minute_at(args.target, update.seconds / args.series, select_cost, refit_cost)
    verdict = (f"every series steps each minute, so a served forecast is from the latest minute and at most "
               f"{STEP + estimate:.0f} s old" if estimate < STEP else "series fall behind and skip steps")
    print(f"busiest minute of {args.target} series: {selections} selections and {refits} refits, about {estimate:.1f} s "
          f"of the {STEP:g} s step: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
