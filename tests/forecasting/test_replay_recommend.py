"""The recommendation: the cheapest configuration within the budget, predictive only where it saves
enough, with manifests that read back into exactly the HPA that was replayed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yaml

from adapter.settings.config import settings_from_mapping
from forecasting.hpa.manifest import hpa_from_manifest
from forecasting.replay.metrics import ControllerMetrics
from forecasting.replay.recommend import MIN_SAVING, Workload, forecast_settings, hpa_document, recommend
from forecasting.replay.sweep import Config, FrontierResult, Run, run_frontier

from .test_replay_simulation import BASELINES, SETTINGS, trace
from .test_replay_sweep import FEW_TARGETS, daily_ramps


def metrics(gpu_hours: float, share: float) -> ControllerMetrics:
    return ControllerMetrics(slo_violation_share=share, underprovisioned_minutes=0.0, peak_queue=0.0,
                             replica_hours=gpu_hours, gpu_hours=gpu_hours, energy_kwh=0.0,
                             energy_per_request_joules=0.0, scale_events=0, requests=1.0, served=1.0, queued_at_end=0.0)


REACTIVE_CHEAP = Run(Config(0.9, 0), metrics(100.0, 0.05))
REACTIVE_WITHIN = Run(Config(0.7, 0), metrics(130.0, 0.008))
REACTIVE_SAFE = Run(Config(0.5, 300), metrics(180.0, 0.001))
DEFAULT = Run(Config(0.8, None), metrics(140.0, 0.009))


def predictive(gpu_hours: float, share: float, target: float = 0.9) -> Run:
    return Run(Config(target, 0, 0.9, 180.0, 60.0), metrics(gpu_hours, share))


def result(*runs: Run, default: Run = DEFAULT) -> FrontierResult:
    return FrontierResult("hand-made", SETTINGS, runs, metrics(90.0, 0.0), 0, default)


def test_the_cheapest_within_the_budget_is_recommended_beside_the_cheapest_reactive() -> None:
    cheap = predictive(110.0, 0.009)
    chosen = recommend(result(REACTIVE_CHEAP, REACTIVE_WITHIN, REACTIVE_SAFE, cheap, predictive(105.0, 0.02)), 0.01)
    assert chosen.chosen is cheap
    assert chosen.reactive is REACTIVE_WITHIN
    assert "15.4% fewer GPU-hours" in chosen.reason


def test_the_default_reactive_hpa_is_a_candidate_too() -> None:
    default = Run(Config(0.8, None), metrics(120.0, 0.009))
    chosen = recommend(result(REACTIVE_CHEAP, REACTIVE_WITHIN, default=default), 0.01)
    assert chosen.chosen is default is chosen.reactive


def test_predictive_saving_less_than_the_minimum_is_not_worth_serving() -> None:
    barely = predictive(REACTIVE_WITHIN.metrics.gpu_hours * (1 - MIN_SAVING / 2), 0.005)
    chosen = recommend(result(REACTIVE_WITHIN, barely), 0.01)
    assert chosen.chosen is REACTIVE_WITHIN
    assert chosen.predictive is barely
    assert "less than the 2%" in chosen.reason
    enough = predictive(REACTIVE_WITHIN.metrics.gpu_hours * (1 - MIN_SAVING), 0.005)
    assert recommend(result(REACTIVE_WITHIN, enough), 0.01).chosen is enough


def test_a_dearer_predictive_configuration_is_said_to_cost_more_not_to_save_less() -> None:
    dearer = predictive(REACTIVE_WITHIN.metrics.gpu_hours * 1.044, 0.005)
    chosen = recommend(result(REACTIVE_WITHIN, dearer), 0.01)
    assert chosen.chosen is REACTIVE_WITHIN
    assert "costs 4.4% more GPU-hours than the cheapest reactive HPA" in chosen.reason and "saves" not in chosen.reason


def test_when_nothing_meets_the_budget_nothing_is_recommended_and_the_closest_is_shown() -> None:
    chosen = recommend(result(REACTIVE_CHEAP, REACTIVE_SAFE, predictive(150.0, 0.001)), 0.0001)
    assert chosen.chosen is None and chosen.reactive is None and chosen.predictive is None
    assert chosen.closest.metrics.gpu_hours == 150.0  # the cheaper of the two at 0.1 %
    assert "no configuration kept within" in chosen.reason


def test_only_predictive_within_the_budget_is_recommended_whatever_it_costs() -> None:
    dear = predictive(500.0, 0.0005, target=0.5)
    chosen = recommend(result(REACTIVE_CHEAP, REACTIVE_SAFE, dear), 0.0008)
    assert chosen.chosen is dear and chosen.reactive is None


@pytest.mark.parametrize("budget", [-0.01, 1.0, 2.0])
def test_a_budget_outside_a_share_is_refused(budget: float) -> None:
    with pytest.raises(ValueError, match="budget"):
        recommend(result(REACTIVE_CHEAP), budget)


@pytest.mark.parametrize("config", [Config(0.85, 0, 0.9, 180.0, 60.0), Config(0.7, 300), Config(0.8, None),
                                    Config(0.75, 60, 0.5, 600.0, 300.0)])
def test_the_hpa_manifest_reads_back_into_the_hpa_that_was_replayed(config: Config) -> None:
    run = Run(config, metrics(1.0, 0.0))
    document = yaml.safe_load(yaml.safe_dump(hpa_document(run, SETTINGS, Workload("llama", "serving"))))
    assert hpa_from_manifest(document) == config.hpa(SETTINGS)
    assert document["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llama"}
    assert document["metadata"]["namespace"] == "serving"
    for metric in document["spec"]["metrics"]:
        assert metric["external"]["metric"]["selector"] == {"matchLabels": {"app": "llama"}}


def test_a_predictive_run_names_the_forecast_it_needs_and_a_reactive_one_none() -> None:
    workload = Workload("llama", "serving")
    section = forecast_settings(Run(Config(0.85, 0, 0.9, 180.0, 60.0), metrics(1.0, 0.0)), SETTINGS, workload)
    assert section == {"calibration": "conformal", "workloads": [
        {"namespace": "serving", "selector": "app=llama", "lead": "3m", "window": "1m", "quantile": 0.9,
         "track": ["requests_per_second_forecast"]}]}
    assert settings_from_mapping({"forecasts": section}, source="recommendation").forecasts.workloads[0].quantile == 0.9
    assert forecast_settings(REACTIVE_WITHIN, SETTINGS, workload) is None


def test_on_predictable_ramps_the_recommendation_is_predictive_and_cheaper() -> None:
    settings = replace(SETTINGS, service=replace(SETTINGS.service, capacity_per_replica=5.0), span_seconds=86400.0)
    swept = run_frontier(trace(daily_ramps()), settings, targets=FEW_TARGETS, reactive_targets=FEW_TARGETS,
                         stabilizations=(0, 300),
                         quantiles=(0.5, 0.9), windows=(60.0, 300.0), workers=2, factories=BASELINES)
    budget = min(run.metrics.slo_violation_share for run in swept.runs if not run.config.predictive)
    chosen = recommend(swept, max(budget, 0.001))
    assert chosen.chosen is not None and chosen.chosen.config.predictive
    assert chosen.reactive is not None
    assert chosen.chosen.metrics.gpu_hours <= (1 - MIN_SAVING) * chosen.reactive.metrics.gpu_hours


def test_on_white_noise_the_recommendation_is_reactive() -> None:
    noise = np.round(np.random.default_rng(7).normal(3000.0, 300.0, 4 * 1440)).clip(0)
    settings = replace(SETTINGS, service=replace(SETTINGS.service, capacity_per_replica=5.0), span_seconds=86400.0)
    swept = run_frontier(trace(noise), settings, targets=FEW_TARGETS, reactive_targets=FEW_TARGETS,
                         stabilizations=(0, 300),
                         quantiles=(0.5, 0.9), windows=(60.0, 300.0), workers=2, factories=BASELINES)
    for budget in (0.005, 0.01, 0.05):
        chosen = recommend(swept, budget)
        assert chosen.chosen is not None and not chosen.chosen.config.predictive, (budget, chosen.reason)
