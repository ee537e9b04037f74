"""Samples of a histogram whose buckets grow at known rates, for the synthetic exporters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString


def add_histogram(
    metric: Metric, labels: Mapping[str, str], buckets: Sequence[tuple[float, float]], elapsed: float,
    timestamp: int | None,
) -> None:
    """Cumulative buckets and the count of a histogram whose buckets grow at the given rates."""
    for bound, bucket_rate in buckets:
        metric.add_sample(f"{metric.name}_bucket", dict(labels) | {"le": floatToGoString(bound)}, bucket_rate * elapsed, timestamp)
    metric.add_sample(f"{metric.name}_count", dict(labels), buckets[-1][1] * elapsed, timestamp)
