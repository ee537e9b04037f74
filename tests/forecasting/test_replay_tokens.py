"""A replay of a trace's tokens: the HPAs scale on the token signal the adapter serves, its
forecast beside it, and the capacity per replica is in tokens per second; on the converted
Mooncake trace, the oracle holds exactly the replicas the generated tokens need."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from forecasting.baselines import Persistence, SeasonalNaive
from forecasting.hpa import HpaSpec, MetricSpec, MetricTarget, to_milli
from forecasting.replay.service import ServiceSettings
from forecasting.replay.simulation import ReplaySettings, run_replay
from forecasting.traces import read_trace

MOONCAKE = Path(__file__).resolve().parents[1] / "data" / "traces" / "mooncake_conversation_tokens_3s.csv"
BASELINES = {Persistence.name: Persistence, SeasonalNaive.name: SeasonalNaive}
GENERATION = "generation_tokens_per_second"
SERVICE = ServiceSettings(capacity_per_replica=200.0, startup_seconds=180.0)


def test_a_token_replay_scales_on_the_token_signal_and_its_forecast() -> None:
    reactive, predictive = ReplaySettings(SERVICE, signal=GENERATION).hpas()
    assert [metric.name for metric in reactive.metrics] == [GENERATION]
    assert [metric.name for metric in predictive.metrics] == [GENERATION, f"{GENERATION}_forecast"]
    assert predictive.metrics[1].target == MetricTarget("AverageValue", to_milli(160.0))


def test_a_token_replay_refuses_an_hpa_on_requests_and_an_unknown_signal() -> None:
    hpa = HpaSpec(max_replicas=10, metrics=(MetricSpec("External", "requests_per_second",
                                                       MetricTarget("AverageValue", 1000)),))
    with pytest.raises(ValueError, match=f"'requests_per_second' is not simulated; a replay serves the External metrics {GENERATION}"):
        ReplaySettings(SERVICE, hpa=hpa, signal=GENERATION).hpas()
    with pytest.raises(ValueError, match="the signal must be one of"):
        ReplaySettings(SERVICE, signal="tokens_per_second")


def test_the_oracle_holds_the_replicas_the_generated_tokens_need() -> None:
    tokens = read_trace(MOONCAKE).demand("generation_tokens")
    settings = ReplaySettings(SERVICE, signal=GENERATION)
    result = run_replay(tokens, settings, factories=BASELINES)
    needed = [max(1, math.ceil(rate / settings.target_per_replica - 1e-12)) for rate in tokens.rate_per_second()]
    assert result.controllers["oracle"].replica_hours == pytest.approx(sum(needed) * tokens.step_seconds / 3600)
    requests = run_replay(read_trace(MOONCAKE), ReplaySettings(SERVICE), factories=BASELINES)
    assert result.controllers["oracle"].replica_hours > 5 * requests.controllers["oracle"].replica_hours
