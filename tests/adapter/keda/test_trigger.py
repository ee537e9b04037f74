"""A KEDA trigger's metadata: what is read from it, and each mistake refused naming its field."""

from __future__ import annotations

import pytest

from adapter.keda.trigger import Trigger, parse_trigger
from adapter.kubernetes.errors import BadRequest

KEDA_OWN = {"scalerAddress": "foresight.foresight.svc:9443", "enableTLS": "true", "unsafeSsl": "false"}


def test_a_trigger_reads_metric_selector_and_target_beside_kedas_own_keys() -> None:
    metadata = {**KEDA_OWN, "metric": "requests_per_second_forecast", "selector": "pool in (h100,a100),app=llama",
                "target": "2.5"}
    assert parse_trigger("inference", metadata) == Trigger(
        "requests_per_second_forecast", "inference", "app=llama,pool in (a100,h100)", 2.5
    )


def test_without_a_selector_the_trigger_reads_the_whole_namespace() -> None:
    assert parse_trigger("inference", {"metric": "queue_depth", "target": "4"}).selector == ""


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"target": "1"}, "'metric'"),
        ({"metric": "", "target": "1"}, "'metric'"),
        ({"metric": "queue_depth"}, "'target'"),
        ({"metric": "queue_depth", "target": "ten"}, "'target'"),
        ({"metric": "queue_depth", "target": "-1"}, "'target'"),
        ({"metric": "queue_depth", "target": "0"}, "'target'"),
        ({"metric": "queue_depth", "target": "inf"}, "'target'"),
        ({"metric": "queue_depth", "target": "nan"}, "'target'"),
        ({"metric": "queue_depth", "target": "1", "selector": "app in (llama"}, "'selector'"),
        ({"metric": "queue_depth", "target": "1", "selector": "replicas>3"}, "'selector'"),
        ({"metric": "queue_depth", "target": "1", "selectors": "app=llama"}, "'selectors'"),
        ({"metric": "queue_depth", "target": "1", "metricType": "AverageValue"}, "'metricType'"),
    ],
)
def test_each_mistake_is_refused_naming_its_field(metadata: dict[str, str], field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_trigger("inference", metadata)
    assert field in refused.value.message
