"""Tests for the simulated GPU inference fleet: exporter-exact series, queue physics, determinism."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from adapter.sources.demo.demand import SyntheticDemand, TraceDemand
from adapter.sources.demo.fleet import (
    IDLE_WATTS,
    MAX_WATTS,
    DemoFleet,
    WorkloadSpec,
    default_fleet,
)
from adapter.sources.demo.llm import ITL_BUCKETS, TTFT_BUCKETS
from forecasting.traces import read_trace

DAY = 86_400.0
THURSDAY = datetime(2025, 10, 2, tzinfo=timezone.utc).timestamp()

DCGM_LABELS = {"__name__", "gpu", "UUID", "device", "modelName", "Hostname", "namespace", "pod", "container"}
VLLM_LABELS = {"__name__", "namespace", "pod", "model_name"}
EXPECTED_LABEL_KEYS = {
    "kube_pod_labels": {"__name__", "namespace", "pod", "uid", "label_app", "label_model"},
    "DCGM_FI_DEV_GPU_UTIL": DCGM_LABELS,
    "DCGM_FI_DEV_POWER_USAGE": DCGM_LABELS,
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": DCGM_LABELS,
    "DCGM_FI_DEV_FB_USED": DCGM_LABELS,
    "vllm:request_success_total": VLLM_LABELS | {"finished_reason"},
    "vllm:e2e_request_latency_seconds_bucket": VLLM_LABELS | {"le"},
    "vllm:e2e_request_latency_seconds_sum": VLLM_LABELS,
    "vllm:e2e_request_latency_seconds_count": VLLM_LABELS,
    "vllm:num_requests_waiting": VLLM_LABELS,
    "vllm:num_requests_running": VLLM_LABELS,
    "vllm:prompt_tokens_total": VLLM_LABELS,
    "vllm:generation_tokens_total": VLLM_LABELS,
    "vllm:kv_cache_usage_perc": VLLM_LABELS,
    "vllm:time_to_first_token_seconds_bucket": VLLM_LABELS | {"le"},
    "vllm:time_to_first_token_seconds_sum": VLLM_LABELS,
    "vllm:time_to_first_token_seconds_count": VLLM_LABELS,
    "vllm:inter_token_latency_seconds_bucket": VLLM_LABELS | {"le"},
    "vllm:inter_token_latency_seconds_sum": VLLM_LABELS,
    "vllm:inter_token_latency_seconds_count": VLLM_LABELS,
}
BUCKETS_PER_POD = {
    "vllm:e2e_request_latency_seconds_bucket": 12,
    "vllm:time_to_first_token_seconds_bucket": len(TTFT_BUCKETS) + 1,
    "vllm:inter_token_latency_seconds_bucket": len(ITL_BUCKETS) + 1,
}
ROLES = {"deepseek-prefill-0": "prefill", "deepseek-prefill-1": "prefill",
         "deepseek-decode-0": "decode", "deepseek-decode-1": "decode", "deepseek-decode-2": "decode"}
COUNTERS = (
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "vllm:request_success_total",
    "vllm:e2e_request_latency_seconds_bucket",
    "vllm:e2e_request_latency_seconds_sum",
    "vllm:e2e_request_latency_seconds_count",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:inter_token_latency_seconds_bucket",
    "vllm:inter_token_latency_seconds_count",
)
LE_VALUES = ["0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "20.0", "40.0", "80.0", "+Inf"]


class Recorder:
    """An ``Emit`` sink that joins the chunks of each series."""

    def __init__(self) -> None:
        self.chunks: dict[frozenset[tuple[str, str]], list[tuple[np.ndarray, np.ndarray]]] = {}

    def __call__(self, labels: Mapping[str, str], timestamps: np.ndarray, values: np.ndarray) -> None:
        assert timestamps.shape == values.shape
        self.chunks.setdefault(frozenset(labels.items()), []).append((timestamps.copy(), values.copy()))

    def label_sets(self) -> list[dict[str, str]]:
        return [dict(key) for key in self.chunks]

    def series(self, **match: str) -> dict[frozenset[tuple[str, str]], tuple[np.ndarray, np.ndarray]]:
        """Every recorded series whose labels include ``match`` (``name`` matches ``__name__``)."""
        wanted = {("__name__" if key == "name" else key): value for key, value in match.items()}
        return {
            key: (np.concatenate([t for t, _ in parts]), np.concatenate([v for _, v in parts]))
            for key, parts in self.chunks.items()
            if wanted.items() <= dict(key).items()
        }

    def total(self, **match: str) -> tuple[np.ndarray, np.ndarray]:
        """The matching series summed at each timestamp (they share one grid)."""
        found = list(self.series(**match).values())
        assert found, f"no series match {match}"
        for timestamps, _ in found:
            np.testing.assert_array_equal(timestamps, found[0][0])
        return found[0][0], np.sum([values for _, values in found], axis=0)


class ConstantDemand:
    """A flat demand, to drive the queue into a known regime."""

    def __init__(self, rps: float) -> None:
        self.rps = rps

    def requests(self, starts: np.ndarray, duration: float) -> np.ndarray:
        return np.full(len(starts), self.rps * duration)

    def reference_rps(self) -> float:
        return self.rps

    def token_lengths(self, starts: np.ndarray, duration: float) -> None:
        return None


def workloads(capacity: float) -> list[WorkloadSpec]:
    return [
        WorkloadSpec("llama", "meta-llama/Llama-3.1-8B-Instruct", 3, capacity, 0.75, service_seconds=1.2),
        WorkloadSpec("mistral", "mistralai/Mistral-7B-Instruct-v0.3", 2, capacity, 0.25, service_seconds=0.9),
    ]


def test_series_names_and_label_sets_are_exactly_the_exporters() -> None:
    fleet = default_fleet(start=THURSDAY, seed=3)
    recorder = Recorder()
    fleet.generate(THURSDAY + 600, recorder)

    by_name: dict[str, list[dict[str, str]]] = {}
    for labels in recorder.label_sets():
        by_name.setdefault(labels["__name__"], []).append(labels)
    assert set(by_name) == set(EXPECTED_LABEL_KEYS)
    pods = {"llama-0", "llama-1", "llama-2", "llama-3", "mistral-0", "mistral-1", *ROLES}
    for name, label_sets in by_name.items():
        for labels in label_sets:
            role = {"label_llm_d_ai_role"} if name == "kube_pod_labels" and labels["pod"] in ROLES else set()
            assert set(labels) == EXPECTED_LABEL_KEYS[name] | role, name
        assert all(labels["namespace"] == "default" for labels in label_sets), name
        per_pod = BUCKETS_PER_POD.get(name, 1)
        assert Counter(labels["pod"] for labels in label_sets) == {pod: per_pod for pod in pods}, name

    kube = {labels["pod"]: labels for labels in by_name["kube_pod_labels"]}
    assert kube["llama-2"]["label_app"] == "llama"
    assert kube["llama-2"]["label_model"] == "llama-3.1-8b-instruct"
    assert kube["mistral-1"]["label_app"] == "mistral"
    assert {pod: kube[pod]["label_llm_d_ai_role"] for pod in ROLES} == ROLES
    assert {kube[pod]["label_app"] for pod in ROLES} == {"deepseek"}
    assert len({labels["uid"] for labels in kube.values()}) == len(pods)

    power = {labels["pod"]: labels for labels in by_name["DCGM_FI_DEV_POWER_USAGE"]}
    assert power["llama-0"]["modelName"] == "NVIDIA H100 80GB HBM3"
    assert power["llama-0"]["container"] == "vllm"
    assert power["llama-0"]["device"] == f"nvidia{power['llama-0']['gpu']}"
    assert all(labels["UUID"].startswith("GPU-") for labels in power.values())
    assert len({labels["UUID"] for labels in power.values()}) == len(pods)
    assert len({(labels["Hostname"], labels["gpu"]) for labels in power.values()}) == len(pods)

    success = [labels for labels in by_name["vllm:request_success_total"] if labels["pod"] == "mistral-0"]
    assert success == [
        {
            "__name__": "vllm:request_success_total",
            "namespace": "default",
            "pod": "mistral-0",
            "model_name": "mistralai/Mistral-7B-Instruct-v0.3",
            "finished_reason": "stop",
        }
    ]
    bucket_sets = by_name["vllm:e2e_request_latency_seconds_bucket"]
    buckets = [labels["le"] for labels in bucket_sets if labels["pod"] == "llama-1"]
    assert sorted(buckets, key=float) == LE_VALUES


def test_samples_lie_on_the_scrape_grid_from_start_to_until() -> None:
    fleet = default_fleet(start=THURSDAY + 7.5, seed=0)
    recorder = Recorder()
    fleet.generate(THURSDAY + 7.5 + 300 + 14.9, recorder)
    for timestamps, values in recorder.series().values():
        np.testing.assert_array_equal(timestamps, THURSDAY + 7.5 + 15.0 * np.arange(21))
        assert np.isfinite(values).all()


def test_counters_never_decrease() -> None:
    fleet = default_fleet(start=THURSDAY, seed=1)
    recorder = Recorder()
    for until in (THURSDAY + 0.3 * DAY, THURSDAY + 0.3 * DAY + 45, THURSDAY + 2 * DAY):
        fleet.generate(until, recorder)
    for name in COUNTERS:
        found = recorder.series(name=name)
        assert found, name
        for key, (_, values) in found.items():
            assert np.all(np.diff(values) >= 0), (name, dict(key))
    _, served = recorder.total(name="vllm:request_success_total")
    assert served[-1] > 0


def test_histogram_buckets_are_cumulative_and_inf_equals_count() -> None:
    fleet = default_fleet(start=THURSDAY, seed=2)
    recorder = Recorder()
    fleet.generate(THURSDAY + DAY, recorder)
    name = "vllm:e2e_request_latency_seconds_bucket"
    buckets = np.stack([recorder.total(name=name, pod="llama-0", le=le)[1] for le in LE_VALUES])
    assert np.all(np.diff(buckets, axis=0) >= 0)
    count = recorder.total(name="vllm:e2e_request_latency_seconds_count", pod="llama-0")[1]
    np.testing.assert_array_equal(buckets[-1], count)
    assert buckets[0, -1] < buckets[-1, -1]


def test_conservation_arrivals_equal_served_plus_queue() -> None:
    demand = ConstantDemand(rps=40.0)
    fleet = DemoFleet(workloads(capacity=4.0), demand, start=THURSDAY, seed=0)
    recorder = Recorder()
    fleet.generate(THURSDAY + 3_600, recorder)
    fleet.generate(THURSDAY + 7_777, recorder)

    steps = int(7_777 // 15)
    for spec in workloads(capacity=4.0):
        arrived = steps * 15 * demand.rps * spec.share
        _, served = recorder.total(name="vllm:request_success_total", model_name=spec.model)
        _, waiting = recorder.total(name="vllm:num_requests_waiting", model_name=spec.model)
        assert waiting[-1] > 0, "the workload should be overloaded in this test"
        assert served[-1] + waiting[-1] == pytest.approx(arrived, rel=1e-9)
        state = fleet.current()[spec.app]
        assert state.arrived_total == pytest.approx(arrived, rel=1e-9)
        assert state.served_total + state.queue == pytest.approx(arrived, rel=1e-9)
        assert served[-1] == pytest.approx(spec.replicas * 4.0 * steps * 15, rel=1e-9)


def test_generating_in_chunks_gives_identical_samples() -> None:
    end = THURSDAY + 2 * DAY
    whole, pieces = Recorder(), Recorder()
    one_go = default_fleet(start=THURSDAY, seed=7)
    one_go.generate(end, whole)
    chunked = default_fleet(start=THURSDAY, seed=7)
    rng = np.random.default_rng(0)
    until = THURSDAY - 100.0
    while until < end:
        chunked.generate(until, pieces)
        until += float(rng.choice([0.0, 7.3, 15.0, 44.9, 600.0, 3_600.0 * 5]))
    chunked.generate(end, pieces)

    assert whole.chunks.keys() == pieces.chunks.keys()
    assert min(len(parts) for parts in pieces.chunks.values()) > 20
    joined = pieces.series()
    for key, (timestamps, values) in whole.series().items():
        other_timestamps, other_values = joined[key]
        np.testing.assert_array_equal(other_timestamps, timestamps)
        np.testing.assert_array_equal(other_values, values, err_msg=str(dict(key)))
    assert one_go.current() == chunked.current()


def test_seed_changes_the_samples() -> None:
    first, second = Recorder(), Recorder()
    default_fleet(start=THURSDAY, seed=1).generate(THURSDAY + 3_600, first)
    default_fleet(start=THURSDAY, seed=2).generate(THURSDAY + 3_600, second)
    assert not np.array_equal(
        first.total(name="DCGM_FI_DEV_POWER_USAGE")[1], second.total(name="DCGM_FI_DEV_POWER_USAGE")[1]
    )


@pytest.mark.parametrize("trace_step", [5, 30])
def test_trace_demand_follows_the_trace(tmp_path: Path, trace_step: int) -> None:
    counts = ["10", "0", "", "40", "7", "3"]
    rows = "".join(f"{i * trace_step},{count}\n" for i, count in enumerate(counts))
    path = tmp_path / "tiny.csv"
    path.write_text("timestamp,requests\n" + rows, encoding="utf-8")
    trace = read_trace(path)
    start = 1_700_000_010.0
    fleet = DemoFleet(workloads(capacity=1e6), TraceDemand(trace, origin=start), start=start, scrape_interval=15.0)
    recorder = Recorder()
    loops = 3
    fleet.generate(start + loops * trace.duration_seconds, recorder)

    per_row = np.tile(np.nan_to_num(trace.requests), loops)
    expected_cumulative = np.concatenate(([0.0], np.cumsum(per_row)))
    for spec in workloads(capacity=1e6):
        timestamps, served = recorder.total(name="vllm:request_success_total", model_name=spec.model)
        elapsed = timestamps - start
        aligned = elapsed % trace_step == 0
        rows_done = (elapsed[aligned] // trace_step).astype(int)
        np.testing.assert_allclose(served[aligned], spec.share * expected_cumulative[rows_done], rtol=1e-12, atol=1e-9)
        assert aligned.sum() == len(per_row) * trace_step // max(trace_step, 15) + 1
        _, waiting = recorder.total(name="vllm:num_requests_waiting", model_name=spec.model)
        assert np.all(waiting == 0)


@pytest.mark.parametrize("trace_step", [5, 30])
def test_a_token_trace_drives_the_token_demand(tmp_path: Path, trace_step: int) -> None:
    rows = [("10", "9000", "2000"), ("0", "0", "0"), ("", "", ""), ("40", "2000", "30000"), ("7", "70000", "70")]
    path = tmp_path / "tokens.csv"
    path.write_text("timestamp,requests,prompt_tokens,generation_tokens\n"
                    + "".join(f"{i * trace_step},{','.join(row)}\n" for i, row in enumerate(rows)), encoding="utf-8")
    trace = read_trace(path)
    assert trace.tokens is not None
    start = 1_700_000_010.0
    fleet = DemoFleet(workloads(capacity=1e6), TraceDemand(trace, origin=start), start=start, scrape_interval=15.0)
    recorder = Recorder()
    loops = 2
    fleet.generate(start + loops * trace.duration_seconds, recorder)

    for counter, column in (("vllm:prompt_tokens_total", "prompt_tokens"), ("vllm:generation_tokens_total", "generation_tokens")):
        # the lengths per request swing by 100x between rows: only the trace's token columns give these totals
        per_row = np.tile(np.nan_to_num(trace.tokens[column]), loops)
        expected_cumulative = np.concatenate(([0.0], np.cumsum(per_row)))
        for spec in workloads(capacity=1e6):
            timestamps, tokens = recorder.total(name=counter, model_name=spec.model)
            elapsed = timestamps - start
            aligned = elapsed % trace_step == 0
            rows_done = (elapsed[aligned] // trace_step).astype(int)
            np.testing.assert_allclose(tokens[aligned], spec.share * expected_cumulative[rows_done], rtol=1e-9, atol=1e-6)


def test_default_fleet_sizes_capacity_to_the_traces_90th_percentile(tmp_path: Path) -> None:
    path = tmp_path / "sized.csv"
    path.write_text("timestamp,requests\n" + "".join(f"{60 * i},{i % 20}\n" for i in range(200)), encoding="utf-8")
    trace = read_trace(path)
    fleet = default_fleet(start=THURSDAY, trace=trace)
    recorder = Recorder()
    fleet.generate(THURSDAY + 60, recorder)
    # a disaggregated workload's pools serve the same requests: each app counts once
    capacity = sum({state.app: state.capacity_rps for state in fleet.current().values()}.values())
    assert capacity == pytest.approx(np.percentile(trace.rate_per_second(), 90))


def test_trace_without_requests_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "idle.csv"
    path.write_text("timestamp,requests\n0,0\n60,\n120,0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="idle has no requests"):
        default_fleet(start=THURSDAY, trace=read_trace(path))


@pytest.mark.parametrize(("demand_rps", "util_range"), [(0.0, (0, 0)), (1_000.0, (90, 100))])
def test_power_between_idle_and_max_when_idle_or_saturated(demand_rps: float, util_range: tuple[int, int]) -> None:
    fleet = DemoFleet(workloads(capacity=5.0), ConstantDemand(demand_rps), start=THURSDAY, seed=4)
    recorder = Recorder()
    fleet.generate(THURSDAY + 3_600, recorder)
    for key, (_, power) in recorder.series(name="DCGM_FI_DEV_POWER_USAGE").items():
        assert power.min() >= IDLE_WATTS and power.max() <= MAX_WATTS, dict(key)
        util = recorder.total(name="DCGM_FI_DEV_GPU_UTIL", pod=dict(key)["pod"])[1][1:]
        assert util_range[0] <= util.min() and util.max() <= util_range[1], dict(key)


def test_power_follows_utilisation_over_a_day() -> None:
    fleet = default_fleet(start=THURSDAY, seed=4)
    recorder = Recorder()
    fleet.generate(THURSDAY + DAY, recorder)
    for key, (_, power) in recorder.series(name="DCGM_FI_DEV_POWER_USAGE").items():
        util = recorder.total(name="DCGM_FI_DEV_GPU_UTIL", pod=dict(key)["pod"])[1]
        assert np.corrcoef(util, power)[0, 1] > 0.95, dict(key)
        assert IDLE_WATTS < power.mean() < MAX_WATTS


def test_queue_and_latency_higher_at_a_burst_than_at_night() -> None:
    fleet = default_fleet(start=THURSDAY, seed=0)
    assert isinstance(fleet.demand, SyntheticDemand)
    recorder = Recorder()
    fleet.generate(THURSDAY + 7 * DAY, recorder)
    daytime = [
        burst
        for burst in fleet.demand.bursts(THURSDAY, THURSDAY + 7 * DAY)
        if 11 <= (burst.start % DAY) / 3_600 < 18 and ((burst.start // DAY) + 3) % 7 < 5
    ]
    assert daytime, "the schedule should hold a weekday daytime burst in a week"
    burst = daytime[0]
    night_start = burst.start // DAY * DAY + 2 * 3_600

    llama = "meta-llama/Llama-3.1-8B-Instruct"
    timestamps, queue = recorder.total(name="vllm:num_requests_waiting", model_name=llama)
    _, latency_sum = recorder.total(name="vllm:e2e_request_latency_seconds_sum", model_name=llama)
    _, latency_count = recorder.total(name="vllm:e2e_request_latency_seconds_count", model_name=llama)

    def window(begin: float, end: float) -> tuple[float, float]:
        """(max queue, mean latency) over [begin, end]."""
        inside = np.flatnonzero((timestamps >= begin) & (timestamps <= end))
        first, last = inside[0] - 1, inside[-1]
        mean_latency = (latency_sum[last] - latency_sum[first]) / (latency_count[last] - latency_count[first])
        return float(queue[inside].max()), float(mean_latency)

    burst_queue, burst_latency = window(burst.start, burst.end)
    night_queue, night_latency = window(night_start, night_start + 3 * 3_600)
    assert burst_queue > 50 and night_queue == 0
    assert burst_latency > 2 * night_latency
