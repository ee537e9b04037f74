"""GPU process → pod, against ``/proc/<pid>/cgroup`` in every layout Kubernetes nodes use and the
kubelet's container log links (see ``fake_nvml`` for the samples)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from adapter.nvml.attribution import CgroupAttribution, container_id, container_index
from adapter.nvml.snapshot import PodRef

from .fake_nvml import (
    CGROUP_LAYOUTS,
    CONMON_CGROUP,
    HOST_SERVICE_CGROUP,
    cgroup_text,
    container_id_for,
    log_link_name,
)

POD = PodRef("inference", "llama-7b-5d8f9c7b6d-x2k4q", "vllm")


@pytest.mark.parametrize("layout", sorted(CGROUP_LAYOUTS))
def test_every_layout_yields_the_container_id(layout: str) -> None:
    assert container_id(cgroup_text(layout, POD)) == container_id_for(str(POD))


def test_a_real_cgroup_v2_line_as_written_by_containerd() -> None:
    text = (
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a6f1a2e_4c1b_4d7e_9a57_3f0f1e2d3c4b.slice/"
        "cri-containerd-8e2f0d3c55a4e0c0e3e8f1b7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3.scope\n"
    )
    assert container_id(text) == "8e2f0d3c55a4e0c0e3e8f1b7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3"


def test_processes_in_no_container_have_no_id() -> None:
    assert container_id(HOST_SERVICE_CGROUP) is None
    assert container_id("0::/user.slice/user-1000.slice/session-3.scope\n") is None
    assert container_id("") is None


def test_the_crio_monitor_process_is_not_the_container() -> None:
    assert container_id(CONMON_CGROUP.format(uid_="a" * 8, id=container_id_for("x"))) is None


def test_log_links_name_each_containers_pod() -> None:
    other = PodRef("kube-system", "nvidia-device-plugin-daemonset-7xk2p", "nvidia-device-plugin-ctr")
    names = [log_link_name(POD), log_link_name(other), "README", "truncated-pod-name_inference_vl"]
    assert container_index(names) == {container_id_for(str(POD)): POD, container_id_for(str(other)): other}


def _node(tmp_path: Path, processes: dict[int, str], pods: list[PodRef]) -> CgroupAttribution:
    for pid, text in processes.items():
        (tmp_path / "proc" / str(pid)).mkdir(parents=True)
        (tmp_path / "proc" / str(pid) / "cgroup").write_text(text)
    (tmp_path / "containers").mkdir()
    for pod in pods:
        (tmp_path / "containers" / log_link_name(pod)).symlink_to(tmp_path / "absent.log")
    return CgroupAttribution(proc_root=tmp_path / "proc", containers_dir=tmp_path / "containers")


def test_pids_map_to_pods_and_the_rest_to_none(tmp_path: Path) -> None:
    docker_outside_kubernetes = "0::/system.slice/docker-" + container_id_for("compose") + ".scope\n"
    attribution = _node(
        tmp_path,
        {10: cgroup_text("v1-systemd-crio", POD), 11: HOST_SERVICE_CGROUP, 12: docker_outside_kubernetes},
        [POD],
    )
    attribution.refresh()
    assert attribution.pod_of(10) == POD
    assert attribution.pod_of(11) is None
    assert attribution.pod_of(12) is None
    assert attribution.pod_of(13) is None  # exited, or not visible without the host PID namespace


def test_new_pods_are_found_after_a_refresh(tmp_path: Path) -> None:
    attribution = _node(tmp_path, {10: cgroup_text("v2-systemd-containerd", POD)}, [])
    attribution.refresh()
    assert attribution.pod_of(10) is None
    (tmp_path / "containers" / log_link_name(POD)).symlink_to(tmp_path / "absent.log")
    attribution.refresh()
    assert attribution.pod_of(10) == POD


def test_a_missing_log_directory_leaves_processes_unattributed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    attribution = CgroupAttribution(proc_root=tmp_path, containers_dir=tmp_path / "not-mounted")
    with caplog.at_level(logging.WARNING):
        attribution.refresh()
    assert attribution.pod_of(1) is None
    assert "not-mounted" in caplog.text


def test_a_directory_that_cannot_be_listed_is_logged_once_not_every_sweep(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    containers = tmp_path / "containers"
    attribution = CgroupAttribution(proc_root=tmp_path, containers_dir=containers)
    with caplog.at_level(logging.INFO, logger="adapter.nvml.attribution"):
        for _ in range(5):
            attribution.refresh()
        containers.mkdir()
        attribution.refresh()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith(f"cannot list {containers}") and messages[1].startswith(f"{containers} can be listed")
