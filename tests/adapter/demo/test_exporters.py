"""Tests for the fleet renderer: the label layouts and names a pod's series take under each
attribution and server, whatever the values."""

from __future__ import annotations

import numpy as np
import pytest

from adapter.sources.demo.exporters import Attribution, Gpu, Histogram, PodLayout, PodSeries, render_pod
from adapter.sources.demo.servers import (
    SGLANG,
    TRITON,
    VLLM,
    VLLM_BEFORE_RENAME,
    VLLM_DURING_RENAME,
    NamedServer,
    Triton,
)

GPU = Gpu("GPU-1", 3, "node-a")


def _series(steps: int = 2, *, tpot: bool = False) -> PodSeries:
    ramp = np.arange(1.0, steps + 1.0)
    histogram = Histogram((0.1, 1.0), np.column_stack([ramp, 2 * ramp]), 3 * ramp, 0.5 * ramp)
    older = Histogram((0.1, 1.0), np.column_stack([0 * ramp, ramp]), 3 * ramp) if tpot else None
    return PodSeries(
        gpu_utilization=50 * ramp, power_watts=300 * ramp, energy_millijoules=1e6 * ramp, requests=3 * ramp,
        latency=histogram, waiting=ramp, running=2 * ramp, prompt_tokens=100 * ramp, generation_tokens=20 * ramp,
        kv_cache_usage=0.25 * ramp, time_to_first_token=histogram, inter_token=histogram, time_per_output_token=older,
    )


def _layout(server: NamedServer | Triton = VLLM, **changes: object) -> PodLayout:
    fields: dict[str, object] = {"namespace": "ns", "name": "p-0", "uid": "u", "app": "p", "gpu": GPU,
                                 "server": server, "model_name": "m"}
    return PodLayout(**(fields | changes))  # type: ignore[arg-type]


def _labels(layout: PodLayout, series: PodSeries, name: str) -> list[dict[str, str]]:
    return [sample.labels for sample in render_pod(layout, series) if sample.name == name]


@pytest.mark.parametrize(
    ("attribution", "names_the_pod"),
    [
        (Attribution.POD, {"namespace": "ns", "pod": "p-0", "container": "vllm"}),
        (Attribution.EXPORTED, {"namespace": "gpu-operator", "pod": "dcgm-exporter-x1",
                                "container": "nvidia-dcgm-exporter", "exported_namespace": "ns",
                                "exported_pod": "p-0", "exported_container": "vllm"}),
        (Attribution.LEGACY, {"namespace": "ns", "pod_name": "p-0", "container": "vllm"}),
    ],
)
def test_dcgm_series_name_the_pod_as_the_attribution_does(
    attribution: Attribution, names_the_pod: dict[str, str]
) -> None:
    [labels] = _labels(_layout(attribution=attribution), _series(), "DCGM_FI_DEV_POWER_USAGE")
    gpu = {"gpu": "3", "UUID": "GPU-1", "device": "nvidia3", "modelName": GPU.model_name, "Hostname": "node-a"}
    assert labels == gpu | names_the_pod


def test_kube_pod_labels_carry_the_model_and_role_only_where_the_pod_has_them() -> None:
    [plain] = _labels(_layout(), _series(), "kube_pod_labels")
    [labelled] = _labels(_layout(model_label="m", role="decode"), _series(), "kube_pod_labels")
    assert plain == {"namespace": "ns", "pod": "p-0", "uid": "u", "label_app": "p"}
    assert labelled == plain | {"label_model": "m", "label_llm_d_ai_role": "decode"}


def test_framebuffer_memory_is_exported_only_where_the_values_model_it() -> None:
    assert _labels(_layout(), _series(), "DCGM_FI_DEV_FB_USED") == []


def test_a_histogram_exports_cumulative_buckets_with_inf_equal_to_its_count() -> None:
    samples = [s for s in render_pod(_layout(), _series()) if s.family.name == "vllm:e2e_request_latency_seconds"]
    by_name = {(s.name, s.labels.get("le")): s.values.tolist() for s in samples}
    assert by_name == {
        ("vllm:e2e_request_latency_seconds_bucket", "0.1"): [1.0, 2.0],
        ("vllm:e2e_request_latency_seconds_bucket", "1.0"): [2.0, 4.0],
        ("vllm:e2e_request_latency_seconds_bucket", "+Inf"): [3.0, 6.0],
        ("vllm:e2e_request_latency_seconds_count", None): [3.0, 6.0],
        ("vllm:e2e_request_latency_seconds_sum", None): [0.5, 1.0],
    }
    assert {s.family.kind for s in samples} == {"histogram"}


def test_only_vllm_labels_its_request_counter_with_the_finish_reason() -> None:
    [vllm] = _labels(_layout(), _series(), "vllm:request_success_total")
    [sglang] = _labels(_layout(SGLANG), _series(), "sglang:num_requests_total")
    assert sglang == {"namespace": "ns", "pod": "p-0", "model_name": "m"}
    assert vllm == sglang | {"finished_reason": "stop"}


def test_vllm_during_its_rename_exports_both_names_and_the_older_one_holds_its_own_values() -> None:
    rendered = {(s.name, s.labels.get("le")): s.values.tolist()
                for s in render_pod(_layout(VLLM_DURING_RENAME), _series(tpot=True))}
    assert rendered[("vllm:kv_cache_usage_perc", None)] == rendered[("vllm:gpu_cache_usage_perc", None)]
    assert rendered[("vllm:inter_token_latency_seconds_bucket", "0.1")] == [1.0, 2.0]
    assert rendered[("vllm:time_per_output_token_seconds_bucket", "0.1")] == [0.0, 0.0]


def test_vllm_before_its_rename_exports_only_the_older_names() -> None:
    names = {sample.name for sample in render_pod(_layout(VLLM_BEFORE_RENAME), _series())}
    assert "vllm:gpu_cache_usage_perc" in names and "vllm:time_per_output_token_seconds_bucket" in names
    assert not any(name.startswith(("vllm:kv_cache", "vllm:inter_token")) for name in names)


def test_triton_counts_the_kv_cache_in_whole_blocks_and_first_responses_in_milliseconds() -> None:
    samples = list(render_pod(_layout(TRITON), _series()))
    blocks = {s.labels["kv_cache_block_type"]: s.values.tolist()
              for s in samples if s.name == "nv_trt_llm_kv_cache_block_metrics"}
    assert blocks == {"max": [4000, 4000], "used": [1000, 2000], "free": [3000, 2000], "tokens_per": [64, 64]}
    bounds = [s.labels["le"] for s in samples if s.name == "nv_inference_first_response_histogram_ms_bucket"]
    assert bounds == ["100.0", "1000.0", "+Inf"]
    assert "nv_inference_first_response_histogram_ms_sum" not in {s.name for s in samples}


def test_triton_token_lengths_put_every_request_at_the_mean_length() -> None:
    samples = [s for s in render_pod(_layout(TRITON), _series(1)) if s.name == "nv_llm_input_token_len_bucket"]
    assert {s.labels["le"]: float(s.values[0]) for s in samples} == {
        "10.0": 0.0, "50.0": 3.0, "100.0": 3.0, "500.0": 3.0, "1000.0": 3.0, "+Inf": 3.0,
    }
