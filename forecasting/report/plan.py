"""The capacity plan over the horizon: the demand forecast with its interval, each day's peak and
the replicas and GPUs it needs at the HPA's target, and what the horizon costs in GPU-hours,
energy, carbon and money.

Replicas at each forecast step are the HPA's: ``ceil(demand / target per replica)``, at least one,
for the forecast's mean (what is expected to run) and, at each day's peak, for the upper bound too
(what must be available). Their GPUs draw power as the replay's service model says: idle watts plus
the share of capacity they serve of the span to maximum watts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.core import DAY_SECONDS, FloatArray, Forecast, Series, steps_for
from forecasting.guard import guarded
from forecasting.registry import create
from forecasting.replay.metrics import JOULES_PER_KWH
from forecasting.replay.service import ServiceSettings
from forecasting.report.settings import ReportSettings
from forecasting.schedule import DEFAULT_SCHEDULE

QUANTILE = 0.9
"""The forecast's interval is its 10th to 90th percentile, the bound the adapter serves."""


@dataclass(frozen=True)
class DailyPeak:
    day_start: float
    peak_time: float
    """When the forecast's upper bound peaks in the day."""
    mean_requests_per_second: float
    """The forecast's mean at that time."""
    upper_requests_per_second: float
    replicas: int
    """Replicas the upper bound needs at the target."""
    gpus: int


@dataclass(frozen=True, eq=False)
class CapacityPlan:
    forecast: Forecast
    fallback_reason: str | None
    """Why the selected model's forecast was replaced by seasonal naive's; None when it was not."""
    target_per_replica: float
    """The HPA target the replicas are counted at: its share of the capacity per replica."""
    replicas: FloatArray
    """Replicas at each forecast step, for the forecast's mean."""
    peaks: tuple[DailyPeak, ...]
    gpu_hours: float
    energy_kwh: float
    carbon_kg: float | None
    cost: float | None


def replicas_for(demand: FloatArray, target_per_replica: float) -> FloatArray:
    """The replicas an HPA at ``target_per_replica`` asks for at each demand (at least one)."""
    return np.maximum(1.0, np.ceil(np.maximum(demand, 0.0) / target_per_replica - 1e-9))


def plan_capacity(series: Series, model: str, settings: ReportSettings, *, capacity_per_replica: float,
                  target_share: float) -> CapacityPlan:
    """Fit ``model`` on the schedule's history of ``series`` and plan the horizon after it."""
    horizon = steps_for(settings.horizon_seconds, series.step_seconds)
    recent = series.tail(series.steps_per(DEFAULT_SCHEDULE.history_seconds))
    result = guarded(lambda: create(model).fit(recent).predict(horizon, quantile=QUANTILE), recent, horizon,
                     quantile=QUANTILE)
    forecast = result.forecast
    mean, upper = np.maximum(forecast.mean, 0.0), np.maximum(forecast.upper, 0.0)
    target = target_share * capacity_per_replica
    replicas = replicas_for(mean, target)
    hours = series.step_seconds / 3600
    service = ServiceSettings(capacity_per_replica, settings.startup_seconds, gpus_per_replica=settings.gpus_per_replica,
                              idle_watts=settings.idle_watts, max_watts=settings.max_watts)
    utilisation = np.minimum(mean / (replicas * capacity_per_replica), 1.0)
    watts = replicas * settings.gpus_per_replica * np.array([service.gpu_watts(float(u)) for u in utilisation])
    kwh_per_step = watts * series.step_seconds / JOULES_PER_KWH
    carbon = (None if settings.carbon_intensity is None
              else float((kwh_per_step * settings.carbon_intensity.at(forecast.times())).sum() / 1000))
    gpu_hours = float(replicas.sum() * settings.gpus_per_replica * hours)
    return CapacityPlan(
        forecast=forecast, fallback_reason=result.reason, target_per_replica=target, replicas=replicas,
        peaks=daily_peaks(forecast.times(), mean, upper, target, settings.gpus_per_replica),
        gpu_hours=gpu_hours, energy_kwh=float(kwh_per_step.sum()), carbon_kg=carbon,
        cost=None if settings.gpu_hour_price is None else gpu_hours * settings.gpu_hour_price,
    )


def daily_peaks(times: FloatArray, mean: FloatArray, upper: FloatArray, target_per_replica: float,
                gpus_per_replica: int) -> tuple[DailyPeak, ...]:
    """Each day's peak of ``upper``, days counted from the first time (a last partial day too)."""
    days = np.floor((times - times[0]) / DAY_SECONDS).astype(int)
    peaks = []
    for day in range(int(days.max()) + 1):
        inside = np.flatnonzero(days == day)
        at = int(inside[np.argmax(upper[inside])])
        replicas = int(replicas_for(upper[at:at + 1], target_per_replica)[0])
        peaks.append(DailyPeak(float(times[0] + day * DAY_SECONDS), float(times[at]), float(mean[at]),
                               float(upper[at]), replicas, replicas * gpus_per_replica))
    return tuple(peaks)

