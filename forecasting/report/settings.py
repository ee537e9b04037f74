"""What a capacity report is asked for: the horizon, the SLO and its budget, the service's shape
and the prices of a GPU-hour and of a kilowatt-hour in carbon."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forecasting.core import DAY_SECONDS, FloatArray, InputError


class ReportError(InputError):
    """The input cannot give a report; the message names what is wrong."""


HOURS_PER_DAY = 24


@dataclass(frozen=True)
class CarbonIntensity:
    """Grid carbon intensity in gCO2e/kWh: a constant; a series (times, values) read at each
    forecast step as the latest value at or before it; or a daily profile, the mean of each UTC
    hour of the day over a history, which a grid's daily cycle repeats over any horizon."""

    constant: float | None = None
    times: tuple[float, ...] = ()
    values: tuple[float, ...] = ()
    daily_profile: tuple[float, ...] = ()
    """gCO2e/kWh in each UTC hour of the day, from midnight."""

    def __post_init__(self) -> None:
        if [self.constant is not None, bool(self.times), bool(self.daily_profile)].count(True) != 1:
            raise ValueError("a carbon intensity is a constant, a series or a daily profile, one of the three")
        if self.daily_profile and len(self.daily_profile) != HOURS_PER_DAY:
            raise ValueError(f"a daily profile has {HOURS_PER_DAY} hourly values, not {len(self.daily_profile)}")
        if any(not (math.isfinite(value) and value >= 0) for value in self.daily_profile):
            raise ValueError("a carbon intensity profile holds non-negative numbers only")
        if self.constant is not None and not (math.isfinite(self.constant) and self.constant >= 0):
            raise ValueError(f"the carbon intensity must be a non-negative number, not {self.constant}")
        if len(self.times) != len(self.values) or list(self.times) != sorted(set(self.times)):
            raise ValueError("a carbon intensity series has one value per time, times rising")
        if any(not (math.isfinite(value) and value >= 0) for value in self.values):
            raise ValueError("a carbon intensity series holds non-negative numbers only")

    def at(self, times: FloatArray) -> FloatArray:
        """gCO2e/kWh at each of ``times``; raises ReportError where the series does not reach."""
        if self.constant is not None:
            return np.full(len(times), self.constant)
        if self.daily_profile:
            hours = np.floor(np.mod(times, DAY_SECONDS) / 3600).astype(int)
            profile: FloatArray = np.array(self.daily_profile)[hours]
            return profile
        known = np.array(self.times)
        index = np.searchsorted(known, times, side="right") - 1
        if (index < 0).any():
            raise ReportError(f"the carbon intensity series starts at {known[0]:.0f}, after the forecast's "
                              f"first step at {float(times[0]):.0f}")
        return np.array(self.values)[index]


@dataclass(frozen=True)
class ReportSettings:
    horizon_seconds: float = 7 * 86400.0
    """How far ahead the capacity is planned."""
    slo_latency_seconds: float = 0.2
    max_slo_violation_share: float = 0.01
    """The recommendation's budget of requests over the SLO on the replayed history."""
    capacity_per_replica: float | None = None
    """Requests per second one replica serves within the SLO; None: measured from the history."""
    gpus_per_replica: int = 1
    startup_seconds: float = 180.0
    carbon_intensity: CarbonIntensity | None = None
    gpu_hour_price: float | None = None
    """Price of one GPU-hour, in the user's currency; None leaves cost out."""
    idle_watts: float = 100.0
    max_watts: float = 700.0
    step_seconds: float = 600.0
    """The forecast's and backtest's step: a finer history is averaged to it (a week ahead at one
    minute would be ten thousand steps of fits no planner reads)."""
    workers: int | None = None
    """Worker processes of the replay's frontier sweep (default: every core)."""

    def __post_init__(self) -> None:
        for name in ("horizon_seconds", "slo_latency_seconds", "startup_seconds", "step_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive, not {value}")
        if not 0 <= self.max_slo_violation_share < 1:
            raise ValueError(f"the budget of requests over the SLO must be a share in [0, 1), "
                             f"not {self.max_slo_violation_share}")
        if self.capacity_per_replica is not None and not self.capacity_per_replica > 0:
            raise ValueError(f"the capacity per replica must be positive, not {self.capacity_per_replica}")
        if self.gpus_per_replica < 1:
            raise ValueError(f"a replica has at least one GPU, not {self.gpus_per_replica}")
        if not 0 <= self.idle_watts <= self.max_watts:
            raise ValueError(f"need 0 ≤ idle watts ≤ max watts, not {self.idle_watts} and {self.max_watts}")
        if self.gpu_hour_price is not None and not (math.isfinite(self.gpu_hour_price) and self.gpu_hour_price >= 0):
            raise ValueError(f"the GPU-hour price must be a non-negative number, not {self.gpu_hour_price}")
