"""The shipped ConfigMap is a config ``foresight serve`` accepts and serves every signal from."""

from __future__ import annotations

from .conftest import ShippedConfig
from .render import MANIFESTS, Rendered

SIGNALS = {"gpu_utilization", "latency_p99_seconds", "queue_depth", "requests_per_second", "energy_per_request_joules"}


def test_shipped_config_serves_every_signal_and_its_forecast(shipped_config: ShippedConfig) -> None:
    assert SIGNALS <= shipped_config.rules.keys()
    assert "requests_per_second_forecast" in shipped_config.served_metrics


def test_shipped_config_names_a_prometheus(shipped_config: ShippedConfig) -> None:
    """``serve`` refuses to start without one."""
    assert shipped_config.settings.prometheus is not None


def test_config_map_holds_the_documented_file(deployment: Rendered) -> None:
    """manifests/base/config.yaml, comments and all, is what users read and edit."""
    [config_map] = deployment.of_kind("ConfigMap")
    assert config_map["data"] == {"config.yaml": (MANIFESTS / "base" / "config.yaml").read_text(encoding="utf-8")}
