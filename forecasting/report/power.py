"""The GPUs' power model the plan and the replay count energy with: watts per GPU as idle watts
plus a slope times the share of its capacity a replica serves (capped at one).

A GPU's draw at idle and at full load differs by model, clocks and what it serves, so where the
history has the workload's GPU power the model is measured: each step with power, ready replicas
and requests under the capacity gives a sample (load, watts per GPU), and idle and slope are their
least-squares line, kept physical (neither below zero). Steps over capacity are left out: there the
model caps the load at one, and where the measured capacity is a little off they would sit at one
with watts of a slightly different load, tilting a line whose idle end is an extrapolation. Without power history, or with too little of it to
fix a line, the options' fixed idle and maximum watts stand, and the report says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.core import FloatArray
from forecasting.report.history import WorkloadHistory
from forecasting.report.settings import ReportSettings

MIN_SAMPLES = 30
"""Fewer steps than this are too few to fit a line a week's energy rests on."""
MIN_LOAD_SPAN = 0.2
"""The loads seen must span this share of capacity, or the slope is an extrapolation."""


@dataclass(frozen=True, eq=False)
class PowerModel:
    idle_watts: float
    max_watts: float
    """Per GPU, at a load of one (the replica serving its capacity)."""
    measured: bool
    """True when fitted to the history's power; False when the options' values stand."""
    reason: str
    """How the model was found: the fit, or why the options stand."""
    load: FloatArray
    """Each sample's load, the share of the capacity per replica served (empty when not measured)..."""
    watts_per_gpu: FloatArray
    """...and its watts per GPU."""

    @property
    def slope_watts(self) -> float:
        return self.max_watts - self.idle_watts

    @property
    def rms_error_watts(self) -> float | None:
        """The fit's root-mean-square error over its samples; None when not measured."""
        if not self.measured:
            return None
        fitted = self.idle_watts + self.slope_watts * self.load
        return float(np.sqrt(np.mean((self.watts_per_gpu - fitted) ** 2)))


def power_model(history: WorkloadHistory, settings: ReportSettings, capacity_per_replica: float) -> PowerModel:
    """The measured model where ``history`` shows one, else the options' fixed one."""
    empty = np.array([])

    def options(why: str) -> PowerModel:
        return PowerModel(settings.idle_watts, settings.max_watts, False,
                          f"{why}; the fixed --idle-watts and --max-watts apply", empty, empty)

    if history.gpu_watts is None or history.replicas is None:
        return options("no GPU power history")
    rates = history.demand.rate_per_second()
    watts, replicas = history.gpu_watts, history.replicas
    usable = np.isfinite(rates) & np.isfinite(watts) & np.isfinite(replicas) & (replicas > 0) & (watts > 0)
    all_load = rates[usable] / replicas[usable] / capacity_per_replica
    under = all_load < 1.0
    load = all_load[under]
    per_gpu = (watts[usable] / (replicas[usable] * settings.gpus_per_replica))[under]
    if load.size < MIN_SAMPLES:
        return options(f"{load.size} steps with GPU power, replicas and requests under capacity are too few to fit")
    if float(load.max() - load.min()) < MIN_LOAD_SPAN:
        return options(f"the load seen spans {float(load.max() - load.min()):.2f} of capacity, too little to fit")
    idle, slope = _line(load, per_gpu)
    return PowerModel(idle, idle + slope, True,
                      f"least squares over {load.size} steps of GPU power history under capacity", load, per_gpu)


def _line(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    """Intercept and slope of the least-squares line of ``y`` on ``x``, neither below zero."""
    slope, intercept = (float(value) for value in np.polyfit(x, y, 1))
    if slope < 0:
        return max(float(np.mean(y)), 0.0), 0.0
    if intercept < 0:
        return 0.0, max(float(np.dot(x, y) / np.dot(x, x)), 0.0)
    return intercept, slope
