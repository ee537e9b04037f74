"""Past days of a synthetic GPU inference workload whose capacity per replica is known: the series
vLLM and kube-state-metrics would have written, as OpenMetrics for ``promtool tsdb
create-blocks-from openmetrics``.

A workload runs ``replicas(t)`` ready pods, 3 to 8 over a daily cycle, each serving ``x(t)``
times its capacity C, with x swinging between 0.7 and 1.45 every five hours. Its latency histogram
(vLLM's ``e2e_request_latency_seconds`` on the buckets of :mod:`.workload_exporter`) is shaped so
that PromQL's ``histogram_quantile(0.99, ...)`` gives a p99 of exactly ``SLO · x``: the p99
crosses the SLO where a replica serves C requests per second, the ground truth the report's
measurement is checked against. Demand, replicas and latency are constant over each minute.

The requests are counted on the first pod alone (the queries sum over the workload's pods, so how
they are spread does not change any workload figure); every pod's ``kube_pod_status_ready`` is
written at every minute, 1 while it serves and 0 otherwise, so a pod scaled away is not counted
for the five minutes Prometheus looks back for a sample. The ready state of a minute is stamped
30 s into it, so an instant query at a minute's end reads that minute's replicas, as a rate over
the minute reads its requests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from .workload_model import LATENCY_BUCKETS

SLO_SECONDS = 0.25
"""A bucket bound, so the crossing is exact; the p99 stays within (0.1, 0.5] s."""
COUNTER_STEP_S = 20
"""Counters are sampled three times a minute, so ``rate(...[1m])`` always has samples to use."""
MAX_REPLICAS = 8
LOW_SHARE = 0.98
"""Share of requests under 0.1 s, at every load."""


@dataclass(frozen=True)
class CapacityWorkload:
    namespace: str
    app: str
    capacity_per_replica: float
    """Requests per second one replica serves at the SLO: the ground truth."""
    phase_hours: float = 0.0

    def replicas(self, minute: int) -> int:
        hours = minute / 60 + self.phase_hours
        return 3 + round(2.5 * (1 + math.sin(2 * math.pi * hours / 24)))

    def load(self, minute: int) -> float:
        """x: what each replica serves as a multiple of its capacity, 0.7 to 1.45."""
        hours = minute / 60 + self.phase_hours
        return 1.075 + 0.375 * math.sin(2 * math.pi * hours / 5)

    def demand(self, minute: int) -> float:
        return self.capacity_per_replica * self.replicas(minute) * self.load(minute)


def bucket_shares(load: float) -> tuple[float, ...]:
    """Cumulative shares at :data:`LATENCY_BUCKETS` whose interpolated p99 is ``SLO · load``.

    Under the SLO the p99 lies in (0.1, 0.25]: ``0.1 + 0.15 · (0.99 − 0.98) / (F − 0.98)``; over
    it in (0.25, 0.5]: ``0.25 + 0.25 · (0.99 − F) / (1 − F)``; F is the share at 0.25 s."""
    if load <= 1:
        at_slo = LOW_SHARE + 0.15 * (0.99 - LOW_SHARE) / (SLO_SECONDS * load - 0.1)
    else:
        at_slo = (1.99 - load) / (2 - load)
    return (LOW_SHARE, at_slo, 1.0, 1.0, 1.0, 1.0)


def openmetrics(workloads: list[CapacityWorkload], *, end: int, minutes: int) -> str:
    """``minutes`` of every workload up to ``end`` (Unix seconds on a whole minute), in time order."""
    return "\n".join([*_lines(workloads, end=end, minutes=minutes), "# EOF", ""])


def _lines(workloads: list[CapacityWorkload], *, end: int, minutes: int) -> Iterator[str]:
    start = end - minutes * 60
    counts = {workload.app: [0.0] * len(LATENCY_BUCKETS) for workload in workloads}
    totals = dict.fromkeys(counts, 0.0)
    for minute in range(minutes):
        for workload in workloads:
            labels = f'namespace="{workload.namespace}"'
            for pod in range(MAX_REPLICAS):
                name = f"{workload.app}-{pod}"
                yield f'kube_pod_labels{{{labels},pod="{name}",label_app="{workload.app}"}} 1 {start + minute * 60 + 30}'
                ready = int(pod < workload.replicas(minute))
                yield (f'kube_pod_status_ready{{{labels},pod="{name}",condition="true"}} {ready} '
                       f"{start + minute * 60 + 30}")
        for tick in range(60 // COUNTER_STEP_S):
            when = start + minute * 60 + (tick + 1) * COUNTER_STEP_S
            for workload in workloads:
                rate, shares = workload.demand(minute), bucket_shares(workload.load(minute))
                totals[workload.app] += rate * COUNTER_STEP_S
                pod = f'namespace="{workload.namespace}",pod="{workload.app}-0"'
                yield f"vllm:request_success_total{{{pod}}} {totals[workload.app]!r} {when}"
                for index, (bound, share) in enumerate(zip(LATENCY_BUCKETS, shares, strict=True)):
                    counts[workload.app][index] += rate * share * COUNTER_STEP_S
                    le = "+Inf" if math.isinf(bound) else repr(bound)
                    yield (f'vllm:e2e_request_latency_seconds_bucket{{{pod},le="{le}"}} '
                           f"{counts[workload.app][index]!r} {when}")
