"""``manifests/nvml-exporter``: one object per file, listed by the kustomization, labelled, the
DaemonSet running ``foresight nvml-exporter`` on the port the Service targets, with exactly the
privileges cgroup attribution needs (see ``adapter.nvml.attribution``) and no more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from adapter.commands.cli import _parser

DIRECTORY = Path(__file__).resolve().parents[3] / "manifests" / "nvml-exporter"
NAME = "foresight-nvml-exporter"


def load(name: str) -> dict[str, Any]:
    documents = [document for document in yaml.safe_load_all((DIRECTORY / name).read_text()) if document]
    assert len(documents) == 1, f"{name} holds {len(documents)} objects, not one"
    document: dict[str, Any] = documents[0]
    return document


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    kustomization = load("kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    on_disk = sorted(path.name for path in DIRECTORY.glob("*.yaml") if path.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    return {load(name)["kind"]: load(name) for name in listed}


def test_kinds_and_labels(objects: dict[str, dict[str, Any]]) -> None:
    assert set(objects) == {"DaemonSet", "Service", "ServiceAccount"}
    for kind, document in objects.items():
        labels = document["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == NAME, kind
        assert labels["app.kubernetes.io/part-of"] == "foresight", kind
        assert document["metadata"]["name"] == NAME


def test_the_daemonset_runs_the_exporter_on_the_port_the_service_targets(objects: dict[str, dict[str, Any]]) -> None:
    daemonset, service = objects["DaemonSet"], objects["Service"]
    pod = daemonset["spec"]["template"]
    assert daemonset["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["foresight", "nvml-exporter"]
    args = _parser().parse_args([*container["command"][1:], *container["args"]])
    (port,) = container["ports"]
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    assert args.port == port["containerPort"] == service_port["port"] == 9400
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in container["env"]


def test_it_lands_on_gpu_nodes_only(objects: dict[str, dict[str, Any]]) -> None:
    spec = objects["DaemonSet"]["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]


def test_privileges_are_exactly_those_attribution_needs(objects: dict[str, dict[str, Any]]) -> None:
    spec = objects["DaemonSet"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    # Needed: the host PID namespace, the kubelet's log links read-only, and NVML through the NVIDIA runtime.
    assert spec["hostPID"] is True
    assert spec["volumes"] == [{"name": "container-logs", "hostPath": {"path": "/var/log/containers", "type": "Directory"}}]
    assert container["volumeMounts"] == [{"name": "container-logs", "mountPath": "/var/log/containers", "readOnly": True}]
    assert spec["runtimeClassName"] == "nvidia"
    assert "nvidia.com/gpu" not in str(container["resources"]), "the exporter must not take a GPU from workloads"
    # Nothing more.
    assert not spec.get("hostNetwork") and not spec.get("hostIPC")
    assert spec["automountServiceAccountToken"] is False
    assert objects["ServiceAccount"]["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
