"""The coverage walk of ``foresight backtest``: one walk counts both the model's own bound and the
conformal one, and the conformal column is what a forecaster with conformal calibration serves."""

from __future__ import annotations

import pytest

from forecasting.core import DAY_SECONDS
from forecasting.coverage import walk_coverage, walk_steps
from forecasting.plan import Plan

from .test_calibration import LEAD, SCHEDULE, WINDOW, KnownCycle, coverage, cycle, gaussian, walk

QUANTILES = (0.8, 0.9, 0.95)


def test_one_walk_counts_what_the_forecaster_serves_with_and_without_calibration() -> None:
    series = cycle(5, gaussian, seed=3)
    first = len(series) - series.steps_per(DAY_SECONDS)
    report = walk_coverage(series, lead_steps=LEAD, window_steps=WINDOW, first=first, quantiles=QUANTILES,
                           factories={KnownCycle.name: KnownCycle}, schedule=SCHEDULE, under_weight=3.0)
    steps = walk_steps(series, lead_steps=LEAD, window_steps=WINDOW, first=first)
    warm_up = first - steps.start
    assert warm_up == series.steps_per(DAY_SECONDS) and report.windows == steps.stop - first
    # the walk's origin is the index of the last value seen; the forecaster's end is one past it
    for calibration, column in (("none", "model"), ("conformal", "conformal")):
        plan = Plan(lead_steps=LEAD, window_steps=WINDOW, schedule=SCHEDULE, calibration=calibration)
        stepped = walk(series, plan, QUANTILES, first=steps.start + 1)[warm_up:]
        for index, row in enumerate(report.quantiles):
            assert getattr(row, column) == coverage(series, stepped, index, first=first + 1), (calibration, row.quantile)
    assert [row.quantile for row in report.quantiles] == list(QUANTILES)
    assert all(row.model < 0.5 and row.conformal > row.quantile - 0.05 for row in report.quantiles)


def test_the_conformal_bound_costs_more_headroom_than_the_too_narrow_one() -> None:
    series = cycle(4, gaussian)
    report = walk_coverage(series, lead_steps=LEAD, window_steps=WINDOW, first=len(series) - 100, quantiles=(0.9,),
                           factories={KnownCycle.name: KnownCycle}, schedule=SCHEDULE, under_weight=3.0)
    [row] = report.quantiles
    assert row.model_bound_ratio < 1 < row.conformal_bound_ratio
    assert row.conformal_bound_ratio == pytest.approx(1.0, abs=0.1)
