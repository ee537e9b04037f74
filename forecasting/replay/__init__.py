"""Replay of a real traffic trace through a faithful HPA simulation: a service model
(:mod:`.service`, :mod:`.deployment`), the demand and metrics it produces (:mod:`.demand`,
:mod:`.forecasts`), the reactive, predictive and oracle controllers (:mod:`.controllers`), the
run itself (:mod:`.simulation`) and what it measures (:mod:`.metrics`)."""

from forecasting.replay.metrics import ControllerMetrics
from forecasting.replay.service import ServiceSettings
from forecasting.replay.simulation import (
    CONTROLLERS,
    ReplayResult,
    ReplaySettings,
    run_replay,
)

__all__ = ["CONTROLLERS", "ControllerMetrics", "ReplayResult", "ReplaySettings", "ServiceSettings", "run_replay"]
