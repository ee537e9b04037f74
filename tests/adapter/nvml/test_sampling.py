"""One sweep over the fake node (this machine has no GPU: see ``fake_nvml``): several GPUs and
pods, a lost GPU skipped while the others are read, MIG devices, and failed calls counted."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from adapter.nvml.attribution import CgroupAttribution
from adapter.nvml.devices import NOT_SUPPORTED
from adapter.nvml.sampling import Sampler, mig_profile
from adapter.nvml.snapshot import MigSnapshot

from .fake_nvml import (
    LLAMA_0,
    LLAMA_1,
    LOST_GPU_INDEX,
    MIG_GPU_INDEX,
    MISTRAL_0,
    MISTRAL_1,
    PHI_0,
    FakeNode,
    fake_node,
)


@pytest.fixture
def node(tmp_path: Path) -> FakeNode:
    return fake_node(tmp_path)


def sampler_for(node: FakeNode, registry: CollectorRegistry) -> Sampler:
    attribution = CgroupAttribution(proc_root=node.proc_root, containers_dir=node.containers_dir)
    return Sampler(node.nvml, attribution, registry=registry, clock=lambda: 1_700_000_000.0)


def errors(registry: CollectorRegistry, call: str, error: str) -> float:
    return registry.get_sample_value("foresight_nvml_errors_total", {"call": call, "error": error}) or 0.0


def test_every_gpu_but_the_lost_one_is_read_in_nvml_units_converted(node: FakeNode) -> None:
    snapshot = sampler_for(node, CollectorRegistry()).sample()
    assert [gpu.index for gpu in snapshot.gpus] == [0, 1, 2, MIG_GPU_INDEX]
    assert snapshot.failed_gpus == (LOST_GPU_INDEX,)
    assert snapshot.taken_at == 1_700_000_000.0
    first = snapshot.gpus[0]
    assert (first.uuid, first.model_name, first.pci_bus_id, first.device) == (
        "GPU-5e1c1a0b-0000-4000-8000-000000000000", "NVIDIA H100 80GB HBM3", "00000000:18:00.0", "nvidia0",
    )
    assert first.utilization_percent == 40.0
    assert first.power_watts == 200.125  # NVML reports milliwatts
    assert first.energy_millijoules == 987_654_321.0  # NVML and dcgm-exporter both count millijoules
    assert (first.memory_used_mib, first.memory_free_mib) == (30_000.0, 51_559.0)  # bytes → MiB
    assert (first.sm_clock_mhz, first.temperature_celsius) == (1980.0, 40.0)


def test_pods_are_attributed_per_gpu_including_a_shared_gpu(node: FakeNode) -> None:
    snapshot = sampler_for(node, CollectorRegistry()).sample()
    pods = {gpu.index: gpu.pods for gpu in snapshot.gpus}
    assert pods[0] == (LLAMA_0,)
    assert pods[1] == (LLAMA_1,)
    assert pods[2] == (MISTRAL_0, MISTRAL_1)
    assert pods[MIG_GPU_INDEX] == (PHI_0,)
    assert snapshot.unattributed_processes == 2  # a host service and a process that exited


def test_mig_memory_is_per_mig_device_and_utilisation_absent(node: FakeNode) -> None:
    registry = CollectorRegistry()
    gpu = sampler_for(node, registry).sample().gpus[-1]
    assert gpu.mig == (
        MigSnapshot(gpu_instance_id=1, profile="1g.10gb", memory_used_mib=4096.0, memory_free_mib=5632.0, pods=(PHI_0,)),
        MigSnapshot(gpu_instance_id=2, profile="3g.40gb", memory_used_mib=13.0, memory_free_mib=40179.0, pods=()),
    )
    assert gpu.memory_used_mib is None and gpu.memory_free_mib is None
    assert gpu.utilization_percent is None
    assert gpu.power_watts == 95.5
    # NotSupported (and NotFound for the five empty MIG slots) are answers, not failures.
    assert errors(registry, "nvmlDeviceGetUtilizationRates", NOT_SUPPORTED) == 0.0
    assert registry.get_sample_value("foresight_nvml_errors_total", {"call": "nvmlDeviceGetMigDeviceHandleByIndex", "error": "NotFound"}) is None


def test_a_lost_gpu_is_counted_and_logged_once(node: FakeNode, caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    sampler = sampler_for(node, registry)
    with caplog.at_level(logging.INFO):
        sampler.sample()
        sampler.sample()
    assert errors(registry, "nvmlDeviceGetHandleByIndex", "GpuIsLost") == 2.0
    assert caplog.text.count(f"GPU {LOST_GPU_INDEX} skipped: NVML answered GpuIsLost") == 1
    node.nvml.gpus[LOST_GPU_INDEX].lost = False
    with caplog.at_level(logging.INFO):
        snapshot = sampler.sample()
    assert snapshot.failed_gpus == ()
    assert f"GPU {LOST_GPU_INDEX} is exported again" in caplog.text


def test_a_gpu_lost_in_the_middle_of_a_sweep_is_skipped(node: FakeNode) -> None:
    registry = CollectorRegistry()
    node.nvml.gpus[1].failures["power_usage_mw"] = "GpuIsLost"
    snapshot = sampler_for(node, registry).sample()
    assert [gpu.index for gpu in snapshot.gpus] == [0, 2, MIG_GPU_INDEX]
    assert snapshot.failed_gpus == (1, LOST_GPU_INDEX)
    assert errors(registry, "nvmlDeviceGetPowerUsage", "GpuIsLost") == 1.0


def test_another_failed_call_leaves_out_only_its_field(node: FakeNode) -> None:
    registry = CollectorRegistry()
    node.nvml.gpus[0].failures["gpu_temperature_c"] = "Unknown"
    node.nvml.gpus[2].failures["uuid"] = "Unknown"
    snapshot = sampler_for(node, registry).sample()
    first = snapshot.gpus[0]
    assert first.temperature_celsius is None and first.power_watts == 200.125
    assert 2 in snapshot.failed_gpus  # no identity, no series
    assert errors(registry, "nvmlDeviceGetTemperature", "Unknown") == 1.0
    assert errors(registry, "nvmlDeviceGetUUID", "Unknown") == 1.0


def test_a_failed_device_count_yields_an_empty_sweep(node: FakeNode) -> None:
    registry = CollectorRegistry()
    node.nvml.failures["device_count"] = "Uninitialized"
    snapshot = sampler_for(node, registry).sample()
    assert snapshot.gpus == () and snapshot.failed_gpus == ()
    assert errors(registry, "nvmlDeviceGetCount", "Uninitialized") == 1.0


def test_sweeps_are_timed(node: FakeNode) -> None:
    registry = CollectorRegistry()
    sampler_for(node, registry).sample()
    assert registry.get_sample_value("foresight_nvml_sample_duration_seconds_count") == 1.0


@pytest.mark.parametrize(
    ("name", "profile"),
    [("NVIDIA A100-SXM4-40GB MIG 1g.5gb", "1g.5gb"), ("NVIDIA H100 80GB HBM3 MIG 1g.10gb+me", "1g.10gb+me")],
)
def test_mig_profiles_come_from_the_mig_device_name(name: str, profile: str) -> None:
    assert mig_profile(name) == profile
