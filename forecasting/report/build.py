"""One workload's report, built from the project's own parts: the backtest scores the models and
selects one (:mod:`forecasting.backtest`), the replay sweeps the HPAs and recommends one
(:mod:`forecasting.replay.sweep`, :mod:`forecasting.replay.recommend`), and the plan forecasts the
horizon with the selected model at the recommended HPA's target (:mod:`.plan`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from forecasting.backtest import BacktestReport, run_backtest
from forecasting.core import DAY_SECONDS, NotEnoughData
from forecasting.replay import ReplayResult, ReplaySettings, ServiceSettings, run_replay
from forecasting.replay.recommend import Recommendation, recommend
from forecasting.replay.sweep import FrontierResult, run_frontier
from forecasting.report.capacity import MeasuredCapacity, measure_capacity
from forecasting.report.history import WorkloadHistory, check_history
from forecasting.report.plan import CapacityPlan, plan_capacity
from forecasting.report.settings import ReportError, ReportSettings

BACKTEST_ORIGINS = 100
"""Origins the backtest scores: enough for a stable mean error at a planning step."""
PLANNING_LEAD_SECONDS = DAY_SECONDS
"""The models are scored, and one selected, a day ahead (or the horizon ahead, when shorter): a
plan is read days ahead, and the model best a pod start-up ahead is often persistence, whose
forecast of a week is its last value seven times over."""
REPLAY_SHARE = 1 / 3
MAX_REPLAY_SECONDS = 7 * DAY_SECONDS
"""The replay covers the last third of the history, at most a week; the history before it warms
the forecaster up, as the adapter's backfill does."""
STAGES = ("backtest", "frontier", "replay")
"""The long parts of a build, each reported as a share of the progress."""


@dataclass(frozen=True, eq=False)
class WorkloadReport:
    history: WorkloadHistory
    settings: ReportSettings
    capacity_per_replica: float
    measured: MeasuredCapacity | None
    """How the capacity was measured; None when it was given."""
    backtest: BacktestReport
    frontier: FrontierResult
    recommendation: Recommendation
    replay_settings: ReplaySettings
    replay: ReplayResult
    plan: CapacityPlan

    @property
    def target_share(self) -> float:
        """The recommended HPA's target (of the closest configuration when none met the budget)."""
        shown = self.recommendation.chosen or self.recommendation.closest
        return shown.config.target_share


def build_report(history: WorkloadHistory, settings: ReportSettings, *,
                 progress: Callable[[int, int], None] | None = None) -> WorkloadReport:
    """The report of one workload; raises ReportError for a history that cannot give one."""
    check_history(history, settings)
    capacity, measured = capacity_of(history, settings)
    stage = _Stages(progress)
    series = history.series(settings.step_seconds)
    try:
        backtest = run_backtest(series, name=history.name,
                                lead_seconds=min(settings.horizon_seconds, PLANNING_LEAD_SECONDS),
                                max_origins=BACKTEST_ORIGINS, progress=stage.reporter("backtest"))
    except NotEnoughData as error:
        raise ReportError(f"{history.name}: too little history to backtest the models: {error}") from error
    replay_settings = ReplaySettings(
        ServiceSettings(capacity, settings.startup_seconds, slo_latency_seconds=settings.slo_latency_seconds,
                        gpus_per_replica=settings.gpus_per_replica, idle_watts=settings.idle_watts,
                        max_watts=settings.max_watts),
        span_seconds=min(MAX_REPLAY_SECONDS, REPLAY_SHARE * history.demand.duration_seconds))
    frontier = run_frontier(history.demand, replay_settings, workers=settings.workers,
                            progress=stage.reporter("frontier"))
    recommendation = recommend(frontier, settings.max_slo_violation_share)
    replay = run_replay(history.demand, replay_settings, progress=stage.reporter("replay"))
    shown = recommendation.chosen or recommendation.closest
    plan = plan_capacity(series, backtest.selected, settings, capacity_per_replica=capacity,
                         target_share=shown.config.target_share)
    return WorkloadReport(history, settings, capacity, measured, backtest, frontier, recommendation,
                          replay_settings, replay, plan)


def capacity_of(history: WorkloadHistory, settings: ReportSettings) -> tuple[float, MeasuredCapacity | None]:
    """The capacity per replica given, or measured from the history (with how); raises ReportError
    when it is neither given nor shown by the history. Cheap: callers check every workload's before
    any fit."""
    if settings.capacity_per_replica is not None:
        return settings.capacity_per_replica, None
    if history.latency_p99_seconds is None or history.replicas is None:
        raise ReportError(f"{history.name}: a trace has no latency history to measure the capacity from; "
                          f"give --capacity-per-replica")
    measured = measure_capacity(history.demand.rate_per_second(), history.replicas, history.latency_p99_seconds,
                                slo_latency_seconds=settings.slo_latency_seconds, name=history.name)
    return measured.requests_per_second, measured


class _Stages:
    """Folds each stage's ``(done, total)`` into one progress over :data:`STAGES`."""

    SCALE = 1000

    def __init__(self, progress: Callable[[int, int], None] | None) -> None:
        self._progress = progress

    def reporter(self, name: str) -> Callable[[int, int], None] | None:
        if self._progress is None:
            return None
        progress, before = self._progress, STAGES.index(name) * self.SCALE
        total = len(STAGES) * self.SCALE
        return lambda done, of: progress(before + self.SCALE * done // max(of, 1), total)
