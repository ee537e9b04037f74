"""Pods hold only the privileges they need: the adapter none beyond the `restricted` Pod Security
profile, the NVML exporter exactly what attributing GPUs to pods takes."""

from __future__ import annotations

from .render import NAMESPACE, Object, Rendered, only_container, pod_spec

HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")


def _exporter(rendered: Rendered) -> Object:
    return rendered.one("DaemonSet", "foresight-nvml-exporter", NAMESPACE)


def _assert_locked_down(workload: Object) -> None:
    """What `restricted` asks of a pod and its containers, and a read-only root filesystem."""
    spec = pod_spec(workload)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert not context.get("privileged"), container["name"]
        assert "runAsUser" not in context or context["runAsUser"] != 0, container["name"]


def test_adapter_pods_meet_the_restricted_profile(deployment: Rendered) -> None:
    _assert_locked_down(deployment.adapter)
    spec = pod_spec(deployment.adapter)
    for field in HOST_NAMESPACES:
        assert not spec.get(field), field
    volume_types = {key for volume in spec["volumes"] for key in volume if key != "name"}
    assert volume_types <= {"configMap", "secret", "emptyDir", "projected"}, volume_types


def test_adapter_has_resource_requests_and_limits(deployment: Rendered) -> None:
    resources = only_container(deployment.adapter)["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= resources[kind].keys(), kind


def test_serving_key_is_not_world_readable(deployment: Rendered) -> None:
    spec = pod_spec(deployment.adapter)
    [secret] = [volume["secret"] for volume in spec["volumes"] if "secret" in volume]
    assert secret["defaultMode"] & 0o007 == 0
    assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsGroup"], "the group may read it"


def test_exporter_runs_on_gpu_nodes_only(deployment: Rendered) -> None:
    spec = pod_spec(_exporter(deployment))
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]


def test_exporter_has_host_pid_and_read_only_container_logs_only(deployment: Rendered) -> None:
    exporter = _exporter(deployment)
    _assert_locked_down(exporter)
    spec = pod_spec(exporter)
    assert spec["hostPID"] is True
    assert not spec.get("hostNetwork") and not spec.get("hostIPC")
    assert spec["automountServiceAccountToken"] is False
    [volume] = spec["volumes"]
    assert volume["hostPath"]["path"] == "/var/log/containers"
    [mount] = only_container(exporter)["volumeMounts"]
    assert (mount["name"], mount["mountPath"], mount["readOnly"]) == (volume["name"], "/var/log/containers", True)
    resources = only_container(exporter)["resources"]
    requested = {*resources.get("requests", {}), *resources.get("limits", {})}
    assert not any(name.startswith("nvidia.com/") for name in requested), "it would take a GPU from workloads"


def test_only_the_exporter_touches_the_host(deployment: Rendered) -> None:
    for workload in [*deployment.of_kind("Deployment"), *deployment.of_kind("DaemonSet")]:
        spec = pod_spec(workload)
        uses_host = any(spec.get(field) for field in HOST_NAMESPACES) or any("hostPath" in v for v in spec["volumes"])
        assert uses_host == (workload is _exporter(deployment)), workload["metadata"]["name"]
