"""Units read from metric names: the presets', Prometheus's base-unit suffixes, and forecasts."""

from __future__ import annotations

import pytest

from adapter.signals.units import unit_of


@pytest.mark.parametrize(
    ("metric", "unit"),
    [
        ("gpu_utilization", "%"),
        ("latency_p99_seconds", "s"),
        ("queue_depth", "requests"),
        ("requests_per_second", "requests/s"),
        ("energy_per_request_joules", "J/request"),
        ("carbon_per_request_milligrams", "mg CO2e/request"),
        ("requests_per_second_forecast", "requests/s"),
        ("queue_depth_forecast", "requests"),
        ("requests_per_second_planned", "requests/s"),
        ("latency_p99_seconds_planned", "s"),
        ("tokens_per_second", "tokens/s"),
        ("time_to_first_token_seconds", "s"),
        ("water_per_request_milligrams", "mg/request"),
        ("kv_cache_usage_percent", "%"),
        ("gpu_power_watts", "W"),
        ("pending_jobs", ""),
    ],
)
def test_unit_of(metric: str, unit: str) -> None:
    assert unit_of(metric) == unit
