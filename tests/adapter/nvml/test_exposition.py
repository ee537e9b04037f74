"""The exposition, parsed with prometheus_client's parser: dcgm-exporter's names, HELP texts,
types and labels, one series per pod, MIG devices and the exporter's health (GPUs from the fake
node: this machine has no GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from adapter.nvml.attribution import CgroupAttribution
from adapter.nvml.collector import DcgmCollector, exposition
from adapter.nvml.sampling import Sampler
from adapter.nvml.snapshot import NodeSnapshot

from .fake_nvml import LOST_GPU_INDEX, MIG_GPU_INDEX, FakeNode, fake_node

NOW = 1_700_000_000.0
GPU_LABELS = {"gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname"}
POD_LABELS = {"namespace", "pod", "container"}
MIG_LABELS = {"GPU_I_PROFILE", "GPU_I_ID"}

#: dcgm-exporter's default counters: name → (type, HELP).
DCGM = {
    "DCGM_FI_DEV_GPU_UTIL": ("gauge", "GPU utilization (in %)."),
    "DCGM_FI_DEV_FB_FREE": ("gauge", "Framebuffer memory free (in MiB)."),
    "DCGM_FI_DEV_FB_USED": ("gauge", "Framebuffer memory used (in MiB)."),
    "DCGM_FI_DEV_POWER_USAGE": ("gauge", "Power draw (in W)."),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": ("counter", "Total energy consumption since boot (in mJ)."),
    "DCGM_FI_DEV_SM_CLOCK": ("gauge", "SM clock frequency (in MHz)."),
    "DCGM_FI_DEV_GPU_TEMP": ("gauge", "GPU temperature (in C)."),
}


@pytest.fixture
def node(tmp_path: Path) -> FakeNode:
    return fake_node(tmp_path)


def render(node: FakeNode, *, hostname_label: str = "Hostname", sweep: bool = True) -> str:
    registry = CollectorRegistry(auto_describe=False)
    attribution = CgroupAttribution(proc_root=node.proc_root, containers_dir=node.containers_dir)
    sampler = Sampler(node.nvml, attribution, registry=registry, clock=lambda: NOW)
    snapshot: NodeSnapshot | None = sampler.sample() if sweep else None
    registry.register(DcgmCollector(lambda: snapshot, hostname=node.hostname, hostname_label=hostname_label, clock=lambda: NOW + 2.5))
    return exposition(registry).decode()


def samples(text: str, name: str) -> list[Sample]:
    """The samples of family ``name``, or named ``name`` (the parser files counters under their name without ``_total``)."""
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if name in (family.name, sample.name)
    ]


def test_families_have_dcgm_exporters_names_types_and_help(node: FakeNode) -> None:
    text = render(node)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for name, (kind, help_text) in DCGM.items():
        assert families[name].type == kind, name
        assert families[name].documentation == help_text, name
    # The counter keeps dcgm-exporter's name (no _total) on the wire, in its TYPE line too.
    assert "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n" in text
    assert "\nDCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{" in text
    assert "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION_total" not in text


def test_each_gpu_carries_dcgm_labels_and_its_pods(node: FakeNode) -> None:
    util = {(s.labels["gpu"], s.labels.get("pod")): s for s in samples(render(node), "DCGM_FI_DEV_GPU_UTIL")}
    assert {key: s.value for key, s in util.items()} == {
        ("0", "llama-0"): 40.0,
        ("1", "llama-1"): 60.0,
        ("2", "mistral-0"): 70.0,  # a shared GPU is repeated for each of its pods
        ("2", "mistral-1"): 70.0,
    }
    first = util[("0", "llama-0")].labels
    assert set(first) == GPU_LABELS | POD_LABELS
    assert first == {
        "gpu": "0",
        "UUID": "GPU-5e1c1a0b-0000-4000-8000-000000000000",
        "pci_bus_id": "00000000:18:00.0",
        "device": "nvidia0",
        "modelName": "NVIDIA H100 80GB HBM3",
        "Hostname": "gpu-node-1",
        "namespace": "inference",
        "pod": "llama-0",
        "container": "vllm",
    }


def test_units_are_dcgm_exporters(node: FakeNode) -> None:
    text = render(node)
    first = {"gpu": "0", "pod": "llama-0"}

    def value(name: str) -> float:
        (found,) = [s.value for s in samples(text, name) if first.items() <= s.labels.items()]
        return found

    assert value("DCGM_FI_DEV_POWER_USAGE") == 200.125
    assert value("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION") == 987_654_321.0
    assert (value("DCGM_FI_DEV_FB_USED"), value("DCGM_FI_DEV_FB_FREE")) == (30_000.0, 51_559.0)
    assert (value("DCGM_FI_DEV_SM_CLOCK"), value("DCGM_FI_DEV_GPU_TEMP")) == (1980.0, 40.0)


def test_the_lost_gpu_has_no_series_and_is_reported(node: FakeNode) -> None:
    text = render(node)
    for name in DCGM:
        assert all(s.labels["gpu"] != str(LOST_GPU_INDEX) for s in samples(text, name)), name
    ok = {s.labels["gpu"]: s.value for s in samples(text, "foresight_nvml_device_ok")}
    assert ok == {"0": 1.0, "1": 1.0, "2": 1.0, str(LOST_GPU_INDEX): 0.0, str(MIG_GPU_INDEX): 1.0}
    (lost,) = samples(text, "foresight_nvml_errors_total")
    assert lost.labels == {"call": "nvmlDeviceGetHandleByIndex", "error": "GpuIsLost"} and lost.value == 1.0


def test_mig_memory_is_per_mig_device_and_power_at_the_parent(node: FakeNode) -> None:
    text = render(node)
    mig = str(MIG_GPU_INDEX)
    used = [s for s in samples(text, "DCGM_FI_DEV_FB_USED") if s.labels["gpu"] == mig]
    assert {(s.labels["GPU_I_ID"], s.labels["GPU_I_PROFILE"], s.labels.get("pod"), s.value) for s in used} == {
        ("1", "1g.10gb", "phi-0", 4096.0),
        ("2", "3g.40gb", None, 13.0),
    }
    assert all(s.labels["UUID"] == "GPU-a1000000-0000-4000-8000-000000000004" for s in used)
    assert set(used[0].labels) in (GPU_LABELS | MIG_LABELS | POD_LABELS, GPU_LABELS | MIG_LABELS)
    assert not [s for s in samples(text, "DCGM_FI_DEV_GPU_UTIL") if s.labels["gpu"] == mig]
    (power,) = [s for s in samples(text, "DCGM_FI_DEV_POWER_USAGE") if s.labels["gpu"] == mig]
    assert power.value == 95.5 and power.labels["pod"] == "phi-0" and not MIG_LABELS & set(power.labels)


def test_the_host_name_label_is_configurable(node: FakeNode) -> None:
    for sample in samples(render(node, hostname_label="hostname"), "DCGM_FI_DEV_POWER_USAGE"):
        assert sample.labels["hostname"] == "gpu-node-1" and "Hostname" not in sample.labels


def test_health_of_the_exporter(node: FakeNode) -> None:
    text = render(node)
    assert samples(text, "foresight_nvml_unattributed_processes")[0].value == 2.0
    assert samples(text, "foresight_nvml_sample_age_seconds")[0].value == 2.5
    assert [s.value for s in samples(text, "foresight_nvml_sample_duration_seconds") if s.name.endswith("_count")] == [1.0]


def test_nothing_about_gpus_is_served_before_the_first_sweep(node: FakeNode) -> None:
    text = render(node, sweep=False)
    assert not [family for family in text_string_to_metric_families(text) if family.name.startswith("DCGM_")]
