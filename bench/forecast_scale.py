"""How many tracked forecast series one adapter replica carries: the cost of each kind of pass
through the forecasting workers, how long a restart takes to serve again, the memory it all takes,
and how long the event loop stalls.

Runs the adapter's own worker pool and jobs (``adapter.tracking.forecast_pool``) over synthetic series of
7 days at a 1-minute step (a daily cycle, a weekly one, noise and bursts), sent with the six hours
more the tracker keeps, in passes that follow the schedule a tracker follows:

1. a cold restart: fresh worker processes, nothing known, so every series selects a model and
   fits it (on the first ``--cold`` series only, where selecting all of them would take too long);
2. a warm restart of all the series: fresh worker processes, every series' selected model known
   (as read back from Prometheus; beyond the ``--cold`` series, those chosen for them, repeated).
   Its first pass serves seasonal naive where the known model costs a fit; the next ones, a tick
   apart as the tracker's, fit the known models while time is left in their tick. Restart-to-ready
   and restart-to-selected are printed against the cold restart, measured in the same run;
3. a minute later: only an update and a forecast (what every minute costs);
4. an hour later: the hourly refit, without selection (the passes are placed so that no selection
   deadline falls between them, and the bench stops if one selects): the statistical models refit,
   the learned ones only update (they refit every six hours, with their selection). The memory of
   every process together is taken after it.

Then the freshness of the steady state: new series, each with the phase the tracker gives it
(:func:`forecasting.schedule.phase_for`), so selections and refits spread over their periods. After
their first step (a restart: everything selects at once) they are stepped through the
``--minutes`` busiest consecutive minutes of the six-hour phase cycle, each pass with the selections
and refits whose deadlines fall in it. A pass must finish within its minute, or series skip a step
and their forecasts age. ``--minutes 0`` skips it.

A ticking coroutine measures the longest event-loop stall meanwhile, beside the same ticker in an
idle process of its own: what the machine's load alone makes a loop wait, at the server's priority
(the workers run at a lower one, ``--worker-niceness``). Memory is the resident memory
of every process together (the server's and each worker's), now and at peak. Figures are printed,
and scaled linearly to ``--target`` series (1,000 by default) when fewer were run. The busiest
minute does not scale linearly (a thousand phases spread more evenly than a hundred), so for the
target it is estimated from the phases of as many keys and this run's cost per selection, refit
and update.

    python bench/forecast_scale.py [--series 100] [--cold 100] [--workers 2] [--target 1000] [--minutes 10]
                                    [--worker-niceness 10]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapter.tracking.forecast_pool import WORKER_NICENESS, ForecastPool  # noqa: E402
from adapter.tracking.tracker import CATCH_UP, CATCH_UP_SHARE, FIRST_SELECTION, STEADY  # noqa: E402
from forecasting.plan import DEFAULT_CALIBRATION, Plan, StepOutcome  # noqa: E402
from forecasting.schedule import DEFAULT_SCHEDULE, phase_for  # noqa: E402
from forecasting.worker import Job, warm_up_worker  # noqa: E402

STEP = 60.0
POINTS = 7 * 1440
SENT = POINTS + round(DEFAULT_SCHEDULE.select_every_seconds / STEP)
"""Points a job carries: the tracker keeps a selection period more than models see."""
PLAN = Plan(lead_steps=3, window_steps=5, slack_steps=5, calibration=DEFAULT_CALIBRATION)
HOUR = 3600.0
TICK = STEP
"""The tracker's pause between the starts of two passes, unless a pass takes longer."""
HISTORY_END = 1_800_000_000.0


def synthetic(index: int, end: float, points: int = SENT) -> np.ndarray:
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


@functools.cache
def history(index: int) -> np.ndarray:
    """Series ``index``, made once: each pass sends the same points, as of its own time (what a
    fit costs does not depend on which week it sees), and making them never stalls a pass."""
    return synthetic(index, HISTORY_END)


def job_at(index: int, key: str, now: float, plan: Plan = PLAN, known: str | None = None) -> Job:
    """The job the tracker sends for series ``index`` at ``now``: the points up to the step before."""
    return Job(key, history(index), STEP, now - SENT * STEP, now, plan, known)


def pass_times(wall: float) -> tuple[float, float]:
    """When the first pass and the refit pass run: a minute into a selection period (of a series of
    phase 0, as :data:`PLAN`'s) and an hour later, so a refit deadline lies between them and no
    selection deadline does. Both in the past of ``wall``."""
    period = DEFAULT_SCHEDULE.select_every_seconds
    first = (math.floor(wall / period) - 1) * period + STEP
    return first, first + HOUR


IDLE_TICKER = """
import asyncio, sys, threading, time
longest, last = 0.0, time.perf_counter()
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
async def tick():
    global longest, last
    while not stop.is_set():
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        longest, last = max(longest, now - last - 0.01), now
asyncio.run(tick())
print(longest)
"""
"""The same ticker in a process of its own with nothing else to do: what the machine's load alone
makes an event loop wait at the server's priority."""


class StallMeter:
    """The longest gap between ticks of a coroutine that asks to run every 10 ms, and of the same
    ticker in an idle process beside it (the baseline: a stall the loop's own work did not cause)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.idle_longest = math.nan
        self._task: asyncio.Task[None] | None = None
        self._idle: subprocess.Popen[str] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - 0.01)
            last = now

    def __enter__(self) -> StallMeter:
        self._idle = subprocess.Popen([sys.executable, "-c", IDLE_TICKER], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None and self._idle is not None
        self._task.cancel()
        output, _ = self._idle.communicate("", timeout=60)
        self.idle_longest = float(output)


def memory_mib(pid: int, field: str) -> float:
    """Resident memory of a process, MiB: ``VmRSS`` now, ``VmHWM`` at peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return math.nan


def worker_pids(pool: ForecastPool) -> list[int]:
    return [process.pid for executor in pool._executors if executor is not None  # noqa: SLF001
            for process in (executor._processes or {}).values() if process.pid is not None]  # noqa: SLF001


@dataclass(frozen=True)
class Pass:
    seconds: float
    outcomes: tuple[StepOutcome, ...]

    @property
    def models(self) -> Counter[str]:
        return Counter(outcome.model or "warming" for outcome in self.outcomes)

    @property
    def selected(self) -> int:
        return sum(outcome.selected for outcome in self.outcomes)

    @property
    def refitted(self) -> int:
        return sum(outcome.refitted for outcome in self.outcomes)

    @property
    def standing_in(self) -> int:
        return sum(outcome.standing_in for outcome in self.outcomes)


async def one_pass(pool: ForecastPool, jobs: Sequence[Job], priorities: Sequence[int] | None = None) -> Pass:
    """Every job at once, as a tracker's pass sends them, each with its priority in the worker."""
    begun = time.perf_counter()
    outcomes = await asyncio.gather(*(pool.run(job, priority=priority) for job, priority
                                      in zip(jobs, priorities or [STEADY] * len(jobs), strict=True)))
    return Pass(time.perf_counter() - begun, tuple(outcomes))


@dataclass(frozen=True)
class Restart:
    """A warm restart: how long until every series serves a ready forecast, and its selected model."""

    startup: float
    """Until every worker has imported the model libraries: paid once, whatever the count."""
    to_ready: float
    to_selected: float
    passes: tuple[Pass, ...]
    """The first pass, then those that caught up on the known models' fits, a tick apart."""

    def at(self, scale: float) -> tuple[float, float]:
        """Restart-to-ready and restart-to-selected with ``scale`` times the series: the start-up
        once, the work scaled, the catch-up fits at the share of each tick they may start in."""
        ready = self.startup + (self.to_ready - self.startup) * scale
        catch_up = sum(one.seconds for one in self.passes[1:])
        return ready, max(TICK, ready) + catch_up * scale / CATCH_UP_SHARE


async def warm_restart(pool: ForecastPool, workers: int, keys: Sequence[str], known: Sequence[str],
                       now: float) -> Restart:
    """``pool``'s fresh workers (a restarted replica) given every series' known model, stepped as the
    tracker steps them: a pass a tick (or the pass, when longer) after the last began, each starting
    known models' fits in the first :data:`CATCH_UP_SHARE` of its tick, until every series serves
    its known model."""
    begun = time.perf_counter()
    spawned = await asyncio.gather(*(asyncio.to_thread(pool._executor(index).submit, warm_up_worker)  # noqa: SLF001
                                     for index in range(workers)))
    await asyncio.gather(*(asyncio.wrap_future(future) for future in spawned))
    startup = time.perf_counter() - begun
    passes: list[Pass] = []
    to_ready = 0.0
    while not passes or any(outcome.standing_in for outcome in passes[-1].outcomes):
        started = time.perf_counter()
        fit_by = time.time() + CATCH_UP_SHARE * TICK
        priorities = [CATCH_UP if outcome.standing_in else STEADY for outcome in passes[-1].outcomes] if passes else None
        jobs = [replace(job_at(index, key, now + len(passes) * STEP, known=model), fit_by=fit_by)
                for index, (key, model) in enumerate(zip(keys, known, strict=True))]
        passes.append(await one_pass(pool, jobs, priorities))
        to_ready = to_ready or time.perf_counter() - begun
        if any(outcome.standing_in for outcome in passes[-1].outcomes):
            await asyncio.sleep(max(0.0, TICK - (time.perf_counter() - started)))
    return Restart(startup, to_ready, time.perf_counter() - begun, tuple(passes))


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
                       refit_cost: float) -> tuple[Pass, list[Pass], StallMeter]:
    """A restart of ``count`` phased series, then their busiest ``minutes`` minutes; the longest
    event-loop stall over the minutes."""
    keys = [phased_key(index) for index in range(count)]
    plans = [replace(PLAN, phase_seconds=phase_for(key, DEFAULT_SCHEDULE)) for key in keys]
    for index in range(count):
        history(count + index)
    cycle = DEFAULT_SCHEDULE.select_every_seconds
    offset = busiest_start(np.array([plan.phase_seconds for plan in plans]), minutes, select_cost, refit_cost)
    restart = (math.floor(time.time() / cycle) - 1) * cycle + offset * STEP
    first = await one_pass(pool, [job_at(count + index, key, restart, plan)
                                  for index, (key, plan) in enumerate(zip(keys, plans, strict=True))])
    passes = []
    with StallMeter() as stall:
        for minute in range(1, minutes + 1):
            passes.append(await one_pass(pool, [job_at(count + index, key, restart + minute * STEP, plan)
                                                for index, (key, plan) in enumerate(zip(keys, plans, strict=True))]))
    return first, passes, stall


def say(line: str) -> None:
    """Print at once: a long run cut short still shows the stages it finished."""
    print(line, flush=True)


def row(label: str, series: int, seconds: float, at_target: float, stall: StallMeter) -> None:
    say(f"{label:<36}{series:>7}{seconds:>9.1f}s{at_target:>11.0f}s{stall.longest * 1000:>13.1f} ms"
        f"{stall.idle_longest * 1000:>11.1f} ms")


@dataclass(frozen=True)
class Memory:
    """Resident memory, MiB, of this process (the server's part: the histories and the jobs) and
    of each of the pool's workers (the fitted models)."""

    server: float
    workers: tuple[float, ...]
    peak: float
    """The sum of each one's peak."""

    @property
    def total(self) -> float:
        return self.server + sum(self.workers)

    def __str__(self) -> str:
        return (f"{self.total:.0f} MiB (server {self.server:.0f}, workers "
                f"{', '.join(f'{worker:.0f}' for worker in self.workers)})")


def memory_of(pool: ForecastPool) -> Memory:
    pids = worker_pids(pool)
    return Memory(memory_mib(os.getpid(), "VmRSS"), tuple(memory_mib(pid, "VmRSS") for pid in pids),
                  sum(memory_mib(pid, "VmHWM") for pid in [os.getpid(), *pids]))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--cold", type=int, default=None, help="series of the cold restart (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--target", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=10, help="busiest minutes stepped in the steady state (0: none)")
    parser.add_argument("--worker-niceness", type=int, default=WORKER_NICENESS,
                        help=f"added to the workers' nice value (the adapter's: {WORKER_NICENESS})")
    args = parser.parse_args()
    cold_count = min(args.cold or args.series, args.series)

    first, refit_at = pass_times(time.time())
    keys = [f"series-{index}" for index in range(args.series)]
    for index in range(args.series):
        history(index)
    scale = args.target / args.series
    cold_scale = args.target / cold_count
    say(f"{args.series} series of 7 days at 1 min ({cold_count} of them in the cold restart), {args.workers} worker "
        f"processes (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1, as the pool sets it')}); scaled to "
        f"{args.target} series")
    say(f"{'pass':<36}{'series':>7}{'measured':>10}{f'at {args.target}':>12}{'longest stall':>16}{'idle loop':>14}")
    cold_pool = ForecastPool(args.workers, niceness=args.worker_niceness)
    try:
        with StallMeter() as stall:
            selection = await one_pass(cold_pool, [job_at(index, key, first) for index, key in enumerate(keys[:cold_count])],
                                       [FIRST_SELECTION] * cold_count)
        row("cold restart: select + fit", cold_count, selection.seconds, selection.seconds * cold_scale, stall)
        if args.minutes:
            select_estimate = selection.seconds / cold_count
            restart, minutes, minutes_stall = await steady_state(cold_pool, cold_count, args.minutes, select_estimate, 0.0)
    finally:
        cold_pool.close()
    chosen = [outcome.chosen or "seasonal_naive" for outcome in selection.outcomes]
    known = [chosen[index % cold_count] for index in range(args.series)]
    cold_all = selection.seconds * args.series / cold_count
    pool = ForecastPool(args.workers, niceness=args.worker_niceness)
    try:
        with StallMeter() as stall:
            warm = await warm_restart(pool, args.workers, keys, known, first + STEP)
        ready_at, selected_at = warm.at(scale)
        row("warm restart: to ready", args.series, warm.to_ready, ready_at, stall)
        row("warm restart: to selected model", args.series, warm.to_selected, selected_at, stall)
        with StallMeter() as stall:
            update = await one_pass(pool, [job_at(index, key, first + (len(warm.passes) + 1) * STEP)
                                              for index, key in enumerate(keys)])  # a minute after the last
        row("update + forecast (every minute)", args.series, update.seconds, update.seconds * scale, stall)
        fitted = memory_of(pool)
        with StallMeter() as stall:
            refit = await one_pass(pool, [job_at(index, key, refit_at) for index, key in enumerate(keys)])
        row(f"hourly refit ({refit.refitted} refit; no selection)", args.series, refit.seconds, refit.seconds * scale,
            stall)
        if refit.selected or any(one.selected for one in warm.passes):
            raise SystemExit("a pass that should not select did: its figures would be a selection's")
        refitted = memory_of(pool)
    finally:
        pool.close()
    update_cost = update.seconds / args.series
    select_cost = max(selection.seconds / cold_count - update_cost, 0.0)
    refit_cost = max(refit.seconds - update.seconds, 0.0) / args.series
    say("(the cold restart and the warm one each start their worker processes: "
        f"{warm.startup:.1f} s of the warm one, counted once at {args.target})")
    say(f"models chosen: {', '.join(f'{name} ×{count}' for name, count in sorted(selection.models.items()))}; "
        f"{warm.passes[0].standing_in} of {args.series} served seasonal naive standing in at the warm restart, "
        f"on their known models after {len(warm.passes) - 1} more passes "
        f"({', '.join(f'{one.seconds:.0f} s' for one in warm.passes)})")
    say(f"\nrestart to ready:    warm / cold = {warm.to_ready:.1f} s / {cold_all:.1f} s = {warm.to_ready / cold_all:.3f}"
        " (goal at 1000 series: 60 s)")
    say(f"restart to selected: warm / cold = {warm.to_selected:.1f} s / {cold_all:.1f} s = "
        f"{warm.to_selected / cold_all:.3f} (goal at 1000 series: 300 s; it includes the tick the tracker waits "
        "after the first pass, which dominates at a few series)")
    say(f"hourly refit: {refit.seconds:.1f} s for {args.series} series, {refit.refitted} of them refit "
        "(goal at 1000 series: 600 s)")
    say(f"memory of every process together (server and {args.workers} workers, {args.series} series): "
        f"{fitted} with every model fit, {refitted} after the refit, "
        f"{refitted.peak:.0f} MiB summing each one's peak (goal at 1000 series: 1024 MiB)")
    if args.minutes:
        say(f"\nsteady state of {cold_count} series phased as the tracker phases them: a restart (everything "
            f"selects) took {restart.seconds:.1f} s; their busiest {args.minutes} minutes:")
        say(f"{'minute':<8}{'selections':>11}{'refits':>8}{'pass':>9}")
        for index, minute in enumerate(minutes, start=1):
            say(f"{index:<8}{minute.selected:>11}{minute.refitted:>8}{minute.seconds:>8.2f}s")
        longest = max(minute.seconds for minute in minutes)
        say(f"longest pass {longest:.2f} s, longest stall {minutes_stall.longest * 1000:.1f} ms "
            f"(an idle loop beside it: {minutes_stall.idle_longest * 1000:.1f} ms)")
    selections, refits, estimate = busiest_minute_at(args.target, update_cost, select_cost, refit_cost)
    verdict = (f"every series steps each minute, so a served forecast is from the latest minute and at most "
               f"{STEP + estimate:.0f} s old" if estimate < STEP else "series fall behind and skip steps")
    say(f"busiest minute of {args.target} series: {selections} selections and {refits} refits, about {estimate:.1f} s "
        f"of the {STEP:g} s step: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
