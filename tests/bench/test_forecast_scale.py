"""``bench/forecast_scale.py`` measures what it says: its refit pass refits without selecting,
whatever the hour it runs at (a selection deadline between its passes would make it report a
selection's cost as a refit's)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.core import Series
from forecasting.pipeline import SeriesForecaster

BENCH = Path(__file__).resolve().parents[2] / "bench" / "forecast_scale.py"
BASELINES = {Persistence.name: Persistence, SeasonalNaive.name: SeasonalNaive}
"""Cheap models: which models are compared does not change when a selection is due."""


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("forecast_scale", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("hour", range(6))  # selection deadlines repeat every six hours
def test_the_refit_pass_refits_and_does_not_select_at_any_hour(bench: ModuleType, hour: int) -> None:
    first, refit = bench.pass_times(1_800_000_000.0 // 86400 * 86400 + hour * 3600 + 1234)
    forecaster = SeriesForecaster(bench.PLAN, factories=BASELINES)
    outcomes = []
    for now in (first, first + bench.STEP, refit):
        job = bench.job_at(7, "series-7", now)
        outcomes.append(forecaster.step(Series(job.values, job.step_seconds, job.start), now=job.now))
    selection, update, refitted = outcomes
    assert selection.selected and not update.refitted
    assert refitted.refitted and not refitted.selected
