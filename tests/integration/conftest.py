"""Session fixtures: the synthetic workload exporter and a real Prometheus scraping it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .prometheus import PrometheusServer
from .workload_exporter import WorkloadExporter

JOB = "workload"

#: Seconds of past scrapes loaded into Prometheus before it starts.
HISTORY_S = 40 * 60
"""Forty minutes: enough one-minute points for the forecast tracker to fit (it needs 30)."""

#: Every counter the exporter serves; the session starts once each has a rate.
_COUNTERS = (
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "vllm:request_success_total",
    "vllm:e2e_request_latency_seconds_bucket",
    "vllm:e2e_request_latency_seconds_count",
    "vllm:e2e_request_latency_seconds_sum",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:inter_token_latency_seconds_bucket",
    "vllm:time_per_output_token_seconds_bucket",
    "sglang:num_requests_total",
    "sglang:prompt_tokens_total",
    "nv_llm_input_token_len_sum",
    "llm_prompt_tokens_total",
)


@pytest.fixture(scope="session")
def workload_exporter() -> Iterator[WorkloadExporter]:
    """The synthetic dcgm-exporter + vLLM + kube-state-metrics endpoint."""
    with WorkloadExporter(uptime_s=HISTORY_S + 3600) as exporter:  # up since before the history
        yield exporter


@pytest.fixture(scope="session")
def prometheus(
    workload_exporter: WorkloadExporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """A started Prometheus scraping the exporter every second; ``.url`` is its base URL.

    It starts with :data:`HISTORY_S` of backfilled history, so ``rate()`` over any window up to
    that long already equals the ground truth, rather than after a window's worth of scrapes,
    wherever the window starts and ends on a scrape (:meth:`PrometheusServer.whole_window_time`):
    between the history and the first scrape lies the time Prometheus took to start.

    Tests never stop it; those that simulate an outage stop and start
    :func:`restartable_prometheus`.
    """
    server = PrometheusServer(
        tmp_path_factory.mktemp("prometheus"),
        [workload_exporter.target],
        ready_queries=[f"rate({counter}[1m])" for counter in _COUNTERS],
        job=JOB,
        backfill=workload_exporter.history(HISTORY_S, {"job": JOB, "instance": workload_exporter.target}),
    )
    with server:
        yield server


@pytest.fixture(scope="session")
def restartable_prometheus(
    workload_exporter: WorkloadExporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """A second Prometheus scraping the same exporter, without history, for the tests that stop
    and start it.

    A restart leaves a gap in every series. Restarting the shared :func:`prometheus` would make the
    rates of any test that queries it in the following minute come out low: a window that starts in
    a gap is extrapolated only half a scrape interval into it.
    """
    server = PrometheusServer(
        tmp_path_factory.mktemp("restartable-prometheus"),
        [workload_exporter.target],
        ready_queries=[f"rate({counter}[1m])" for counter in _COUNTERS],
        job=JOB,
    )
    with server:
        yield server
