"""The example HPAs ask for metrics the adapter serves, with the targets the signals call for."""

from __future__ import annotations

from adapter.settings.forecast_names import parse_forecast_metric

from .conftest import ShippedConfig
from .render import Object, Rendered
from .test_config import SIGNALS

# Sums over the workload: the target is the share of one replica. The others are averages.
AVERAGE_VALUE_SIGNALS = {"requests_per_second", "queue_depth", "prompt_tokens_per_second", "generation_tokens_per_second"}
# The disaggregated pools' examples: the token demand each pool serves.
ROLE_EXAMPLES = {"deepseek-prefill": "prompt_tokens_per_second", "deepseek-decode": "generation_tokens_per_second"}


def _external_metrics(hpa: Object) -> list[Object]:
    metrics = hpa["spec"]["metrics"]
    assert all(metric["type"] == "External" for metric in metrics), hpa["metadata"]["name"]
    return [metric["external"] for metric in metrics]


def _signal(name: str) -> str:
    forecast = parse_forecast_metric(name)
    return forecast[0] if forecast is not None else name


def test_examples_are_not_deployed(deployment: Rendered) -> None:
    assert not deployment.of_kind("HorizontalPodAutoscaler")


def test_every_example_metric_is_served(examples: Rendered, shipped_config: ShippedConfig) -> None:
    for hpa in examples.of_kind("HorizontalPodAutoscaler"):
        for metric in _external_metrics(hpa):
            assert metric["metric"]["name"] in shipped_config.served_metrics, hpa["metadata"]["name"]


def test_one_example_per_signal_and_one_planned(examples: Rendered) -> None:
    single = [_external_metrics(hpa) for hpa in examples.of_kind("HorizontalPodAutoscaler")]
    names = sorted(metrics[0]["metric"]["name"] for metrics in single if len(metrics) == 1)
    assert names == sorted([*SIGNALS, "requests_per_second_planned"])


def test_targets_suit_each_signal(examples: Rendered) -> None:
    for hpa in examples.of_kind("HorizontalPodAutoscaler"):
        for metric in _external_metrics(hpa):
            target = metric["target"]
            expected = "AverageValue" if _signal(metric["metric"]["name"]) in AVERAGE_VALUE_SIGNALS else "Value"
            assert target["type"] == expected, metric["metric"]["name"]
            assert target.keys() == {"type", "averageValue" if expected == "AverageValue" else "value"}


def test_examples_select_the_llama_workload(examples: Rendered) -> None:
    for hpa in examples.of_kind("HorizontalPodAutoscaler"):
        if hpa["metadata"]["name"] in ROLE_EXAMPLES:
            continue
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llama"}
        for metric in _external_metrics(hpa):
            assert metric["metric"]["selector"] == {"matchLabels": {"app": "llama"}}, hpa["metadata"]["name"]


def test_predictive_example_pairs_demand_with_its_forecast(examples: Rendered, shipped_config: ShippedConfig) -> None:
    [hpa] = [hpa for hpa in examples.of_kind("HorizontalPodAutoscaler") if hpa["metadata"]["name"] == "llama-predictive"]
    metrics = {metric["metric"]["name"]: metric["target"] for metric in _external_metrics(hpa)}
    assert metrics.keys() == {"requests_per_second", "requests_per_second_forecast"}
    assert metrics["requests_per_second"] == metrics["requests_per_second_forecast"]
    behavior = hpa["spec"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0, "waiting throws the forecast's lead away"
    forecasts = shipped_config.settings.forecasts
    assert isinstance(forecasts.lead, float), "the shipped config states its lead, which this window is held to"
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= forecasts.lead + forecasts.window, (
        "scale-down must not undo what the forecast window still expects"
    )


def test_planned_example_scales_on_one_metric_without_looking_back(examples: Rendered) -> None:
    [hpa] = [hpa for hpa in examples.of_kind("HorizontalPodAutoscaler") if hpa["metadata"]["name"] == "llama-planned"]
    [metric] = _external_metrics(hpa)
    assert metric["metric"]["name"] == "requests_per_second_planned"
    assert metric["target"] == {"type": "AverageValue", "averageValue": "20"}
    behavior = hpa["spec"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0, "waiting throws the forecast's lead away"
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] < 300, (
        "the planned value already looks ahead: the default 5-minute look back only holds peaks"
    )


def test_each_disaggregated_pool_scales_on_its_token_demand_and_its_forecast(
    examples: Rendered, shipped_config: ShippedConfig
) -> None:
    pools = {hpa["metadata"]["name"]: hpa for hpa in examples.of_kind("HorizontalPodAutoscaler")
             if hpa["metadata"]["name"] in ROLE_EXAMPLES}
    assert pools.keys() == ROLE_EXAMPLES.keys()
    for name, signal in ROLE_EXAMPLES.items():
        hpa, role = pools[name], name.removeprefix("deepseek-")
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
        metrics = {metric["metric"]["name"]: metric for metric in _external_metrics(hpa)}
        assert metrics.keys() == {signal, f"{signal}_forecast"}
        assert metrics[signal]["target"] == metrics[f"{signal}_forecast"]["target"]
        for metric in metrics.values():
            assert metric["metric"]["selector"] == {"matchLabels": {"app": "deepseek", "llm-d.ai/role": role}}
        assert signal in shipped_config.settings.forecasts.signals
