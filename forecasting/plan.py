"""What the adapter asks of a series' forecaster, and what it gets back: plain data that crosses
the process boundary, kept apart from the models so the server never imports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from forecasting.core import Forecast
from forecasting.schedule import Schedule

MIN_POINTS = 30
"""Fewer known points than this and the series is still warming up: no forecast is served."""
Calibration = Literal["conformal", "none"]
"""How the served upper bound is made: ``conformal`` from the series' own residuals over the served
window (see :mod:`forecasting.calibration`), ``none`` the model's own interval."""
DEFAULT_CALIBRATION: Calibration = "conformal"
"""What the adapter serves unless configured otherwise. Measured walk-forward over a day of each
public trace (nasa, worldcup, twitter, alibaba, servegen m-mid), the model's own p80, p90 and p95
bounds held in 44-93 % of windows, up to 36 points short of their quantile. Calibrated on each
fit's walk over the history (:mod:`forecasting.calibration`), nasa's held in 75, 88 and 93 % and
worldcup's in 92, 98 and 99 %."""


@dataclass(frozen=True)
class Plan:
    """How one series is forecast."""

    lead_steps: int
    """Steps until a new pod is ready (L)."""
    window_steps: int
    """Steps the forecast must cover after the lead (H)."""
    slack_steps: int = 0
    """Extra steps forecast, so one outcome still covers [now+L, now+L+H] a little later."""
    quantile: float = 0.9
    """Upper quantile served."""
    under_weight: float = 3.0
    """How much worse selection counts under-forecasting than over-forecasting."""
    schedule: Schedule = field(default_factory=Schedule)
    phase_seconds: float = 0.0
    """Offset of this series' selection and refit deadlines within their periods, so a thousand
    series do not all select at the same minute. Derived from the series' key, it is the same on
    every replica."""
    calibration: Calibration = "none"
    """How the upper bound is made. A plan that does not say serves the model's own; the adapter
    asks for :data:`DEFAULT_CALIBRATION`."""

    def __post_init__(self) -> None:
        if self.calibration not in get_args(Calibration):
            raise ValueError(f"calibration must be one of {', '.join(get_args(Calibration))}, not {self.calibration!r}")

    @property
    def horizon(self) -> int:
        return self.lead_steps + self.window_steps + self.slack_steps


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    """The result of one step for one series."""

    model: str | None
    """The model whose forecast is served (``seasonal_naive`` after a fallback); None while the
    series is warming up."""
    forecast: Forecast | None
    """None while the series is warming up."""
    fallback_reason: str | None = None
    """Why the chosen model's forecast was replaced by the baseline."""
    refitted: bool = False
    selected: bool = False
    reason: str | None = None
    """Why there is no forecast yet."""
    scores: tuple[tuple[str, float], ...] = ()
    """Selection losses by model, from the latest selection."""
    backtest_mae: float | None = None
    """The chosen model's mean absolute error at the lead in the latest selection's backtest."""
    chosen: str | None = None
    """The series' selected model, which ``model`` differs from while the baseline stands in for it
    or replaces its forecast."""
    standing_in: bool = False
    """Seasonal naive served while the known model of a restarted series waits for its fit."""
    uncalibrated: Forecast | None = None
    """The forecast as the model (or the guard's replacement) made it, where calibration replaced
    its bound: the coverage report compares the two."""

    @classmethod
    def warming(cls, reason: str) -> StepOutcome:
        """No model and no forecast yet, and why."""
        return cls(model=None, forecast=None, reason=reason)
