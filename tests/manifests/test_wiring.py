"""The objects fit together: what selects, names, mounts or binds another finds it."""

from __future__ import annotations

from urllib.parse import urlsplit

import yaml

from adapter.commands.cli import SHUTDOWN_GRACE_SECONDS

from .conftest import SERVICE_DNS_NAME
from .render import (
    NAMESPACE,
    Object,
    Rendered,
    container_port,
    only_container,
    pod_labels,
    pod_spec,
    selects,
)

SERVING_PORT = 6443
CONFIG_PATH = "/etc/foresight/config.yaml"
CERT_DIRECTORY = "/var/run/serving-cert"
SERVING_SECRET = "foresight-serving-cert"
ADAPTER_ACCOUNT = {"kind": "ServiceAccount", "name": "foresight", "namespace": NAMESPACE}
HPA_ACCOUNT = {"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"}
PROMETHEUS_ACCOUNT = {"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}


def _service(rendered: Rendered) -> Object:
    return rendered.one("Service", "foresight", NAMESPACE)


def _volume(workload: Object, name: str) -> Object:
    [volume] = [item for item in pod_spec(workload)["volumes"] if item["name"] == name]
    return volume  # type: ignore[no-any-return]


def _mount_of(workload: Object, path: str) -> Object:
    [mount] = [item for item in only_container(workload)["volumeMounts"] if item["mountPath"] == path]
    return _volume(workload, mount["name"])


def _flag(container: Object, flag: str) -> str:
    arguments = [*container["command"], *container["args"]]
    return arguments[arguments.index(flag) + 1]  # type: ignore[no-any-return]


def test_container_runs_serve_with_the_documented_command_line(deployment: Rendered) -> None:
    container = only_container(deployment.adapter)
    assert [*container["command"], *container["args"]] == [
        "foresight", "serve", "--config", CONFIG_PATH, "--secure-port", str(SERVING_PORT),
        "--tls-cert-file", f"{CERT_DIRECTORY}/tls.crt", "--tls-private-key-file", f"{CERT_DIRECTORY}/tls.key",
    ]


def test_deployment_selects_its_own_pods(deployment: Rendered) -> None:
    adapter = deployment.adapter
    assert selects(adapter["spec"]["selector"], pod_labels(adapter))


def test_service_selects_the_adapter_pods_only(deployment: Rendered) -> None:
    selector = {"matchLabels": _service(deployment)["spec"]["selector"]}
    assert selects(selector, pod_labels(deployment.adapter))
    for workload in deployment.of_kind("DaemonSet"):
        assert not selects(selector, pod_labels(workload)), workload["metadata"]["name"]


def test_service_forwards_443_to_the_serving_port(deployment: Rendered) -> None:
    [port] = _service(deployment)["spec"]["ports"]
    assert port["port"] == 443
    assert container_port(only_container(deployment.adapter), port["targetPort"]) == SERVING_PORT


def test_probes_ask_the_serving_port_over_https(deployment: Rendered) -> None:
    container = only_container(deployment.adapter)
    paths = {"readinessProbe": "/readyz", "livenessProbe": "/livez", "startupProbe": "/livez"}
    for probe, path in paths.items():
        request = container[probe]["httpGet"]
        assert (request["scheme"], request["path"]) == ("HTTPS", path), probe
        assert container_port(container, request["port"]) == SERVING_PORT, probe


def test_apiservices_point_at_the_service(rendering: Rendered) -> None:
    service = _service(rendering)
    service_ports = {port["port"] for port in service["spec"]["ports"]}
    for group, version in (("external.metrics.k8s.io", "v1beta1"), ("custom.metrics.k8s.io", "v1beta2")):
        spec = rendering.one("APIService", f"{version}.{group}")["spec"]
        assert (spec["group"], spec["version"]) == (group, version)
        target = spec["service"]
        assert (target["namespace"], target["name"]) == (service["metadata"]["namespace"], service["metadata"]["name"])
        assert target["port"] in service_ports
        assert (spec["groupPriorityMinimum"], spec["versionPriority"]) == (100, 100)
        assert not spec.get("insecureSkipTLSVerify")


def test_cert_manager_injects_the_serving_certificates_ca(deployment: Rendered) -> None:
    mounted = _volume(deployment.adapter, "serving-cert")["secret"]["secretName"]
    for apiservice in deployment.of_kind("APIService"):
        source = apiservice["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        namespace, name = source.split("/")
        certificate = deployment.one("Certificate", name, namespace)
        assert certificate["spec"]["secretName"] == mounted


def test_serving_certificate_names_the_service(deployment: Rendered) -> None:
    certificate = deployment.one("Certificate", SERVING_SECRET, NAMESPACE)
    service = _service(deployment)["metadata"]
    assert f"{service['name']}.{service['namespace']}.svc" == SERVICE_DNS_NAME
    assert SERVICE_DNS_NAME in certificate["spec"]["dnsNames"]


def test_deployment_mounts_the_config_map_it_is_given(rendering: Rendered) -> None:
    container = only_container(rendering.adapter)
    config = _flag(container, "--config")
    directory, _, key = config.rpartition("/")
    name = _mount_of(rendering.adapter, directory)["configMap"]["name"]
    assert key in rendering.one("ConfigMap", name, NAMESPACE)["data"]


def test_config_reaches_running_pods(deployment: Rendered) -> None:
    """The kubelet updates a ConfigMap mounted as a directory, never one mounted with subPath."""
    directory = _flag(only_container(deployment.adapter), "--config").rpartition("/")[0]
    [mount] = [item for item in only_container(deployment.adapter)["volumeMounts"] if item["mountPath"] == directory]
    assert "subPath" not in mount


def test_deployment_mounts_the_serving_secret_that_is_provided(rendering: Rendered) -> None:
    """The Secret is an object of the rendering or the output of one of its Certificates."""
    container = only_container(rendering.adapter)
    cert, key = _flag(container, "--tls-cert-file"), _flag(container, "--tls-private-key-file")
    assert cert.rpartition("/")[0] == key.rpartition("/")[0] == CERT_DIRECTORY
    name = _mount_of(rendering.adapter, CERT_DIRECTORY)["secret"]["secretName"]
    provided = {(item["metadata"]["namespace"], item["metadata"]["name"]) for item in rendering.of_kind("Secret")}
    provided |= {(item["metadata"]["namespace"], item["spec"]["secretName"]) for item in rendering.of_kind("Certificate")}
    assert (NAMESPACE, name) in provided


def test_tmp_is_a_writable_empty_dir(deployment: Rendered) -> None:
    [mount] = [item for item in only_container(deployment.adapter)["volumeMounts"] if item["mountPath"] == "/tmp"]
    assert not mount.get("readOnly")
    assert "emptyDir" in _volume(deployment.adapter, mount["name"])


def test_termination_grace_outlasts_pre_stop_and_shutdown(deployment: Rendered) -> None:
    container = only_container(deployment.adapter)
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod_spec(deployment.adapter)["terminationGracePeriodSeconds"] > pre_stop + SHUTDOWN_GRACE_SECONDS


def test_two_replicas_on_different_nodes(deployment: Rendered) -> None:
    adapter = deployment.adapter
    assert adapter["spec"]["replicas"] == 2
    [by_node] = [
        item for item in pod_spec(adapter)["topologySpreadConstraints"]
        if item["topologyKey"] == "kubernetes.io/hostname"
    ]
    assert (by_node["maxSkew"], by_node["whenUnsatisfiable"]) == (1, "DoNotSchedule")
    assert selects(by_node["labelSelector"], pod_labels(adapter))


def test_disruption_budget_keeps_one_adapter_pod(deployment: Rendered) -> None:
    budget = deployment.one("PodDisruptionBudget", "foresight", NAMESPACE)["spec"]
    assert selects(budget["selector"], pod_labels(deployment.adapter))
    assert 1 <= budget["minAvailable"] < deployment.adapter["spec"]["replicas"]


def test_network_policy_admits_the_serving_port_from_anywhere(deployment: Rendered) -> None:
    """The kube-apiserver's address is a node's or the provider's: no `from` can name it."""
    policy = deployment.one("NetworkPolicy", "foresight", NAMESPACE)["spec"]
    assert selects(policy["podSelector"], pod_labels(deployment.adapter))
    assert "Ingress" in policy["policyTypes"]
    container = only_container(deployment.adapter)
    open_ports = {
        container_port(container, port["port"])
        for rule in policy["ingress"] if "from" not in rule
        for port in rule["ports"]
    }
    assert open_ports == {SERVING_PORT}


def test_network_policy_lets_out_prometheus_dns_and_the_api_server(deployment: Rendered) -> None:
    """Prometheus as the shipped config names it (``<service>.<namespace>.svc:<port>``)."""
    [config_map] = deployment.of_kind("ConfigMap")
    prometheus = urlsplit(yaml.safe_load(config_map["data"]["config.yaml"])["prometheus"]["url"])
    assert prometheus.hostname is not None and prometheus.port is not None
    prometheus_namespace = prometheus.hostname.split(".")[1]
    policy = deployment.one("NetworkPolicy", "foresight", NAMESPACE)["spec"]
    assert "Egress" in policy["policyTypes"]
    reachable: dict[str, set[tuple[str, int]]] = {}
    for rule in policy["egress"]:
        ports = {(port["protocol"], port["port"]) for port in rule["ports"]}
        for peer in rule.get("to", [{}]):
            namespace = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name", "*")
            reachable.setdefault(namespace, set()).update(ports)
    assert ("TCP", prometheus.port) in reachable[prometheus_namespace]
    assert {("UDP", 53), ("TCP", 53)} <= reachable["kube-system"]
    assert {("TCP", 443), ("TCP", 6443)} <= reachable["*"]


def test_bindings_name_only_known_accounts(rendering: Rendered) -> None:
    accounts = {
        (item["metadata"]["namespace"], item["metadata"]["name"]) for item in rendering.of_kind("ServiceAccount")
    }
    assert (ADAPTER_ACCOUNT["namespace"], ADAPTER_ACCOUNT["name"]) in accounts
    for binding in [*rendering.of_kind("ClusterRoleBinding"), *rendering.of_kind("RoleBinding")]:
        for subject in binding["subjects"]:
            assert subject in (ADAPTER_ACCOUNT, HPA_ACCOUNT, PROMETHEUS_ACCOUNT), (binding["metadata"]["name"], subject)


def test_bound_roles_exist(deployment: Rendered) -> None:
    """Each roleRef is rendered here, or is one of the bootstrap roles every cluster has."""
    bootstrap = {("ClusterRole", "system:auth-delegator"), ("Role", "extension-apiserver-authentication-reader")}
    for binding in [*deployment.of_kind("ClusterRoleBinding"), *deployment.of_kind("RoleBinding")]:
        kind, name = binding["roleRef"]["kind"], binding["roleRef"]["name"]
        if (kind, name) in bootstrap:
            continue
        namespace = binding["metadata"]["namespace"] if kind == "Role" else None
        deployment.one(kind, name, namespace)


def _grants(rendered: Rendered, account: dict[str, str]) -> list[tuple[str | None, str, list[Object]]]:
    """(namespace, or None for cluster-wide; role name; its rules, empty for a bootstrap role) of
    every binding of ``account``."""
    grants = []
    for binding in [*rendered.of_kind("ClusterRoleBinding"), *rendered.of_kind("RoleBinding")]:
        if account in binding["subjects"]:
            scope = binding["metadata"].get("namespace")
            kind, name = binding["roleRef"]["kind"], binding["roleRef"]["name"]
            role_namespace = scope if kind == "Role" else None
            rules = rendered.one(kind, name, role_namespace)["rules"] if rendered.has(kind, name, role_namespace) else []
            grants.append((scope, name, rules))
    return grants


def test_adapter_is_granted_delegated_auth_and_its_own_config_only(deployment: Rendered) -> None:
    grants = {(scope, name): rules for scope, name, rules in _grants(deployment, ADAPTER_ACCOUNT)}
    assert grants.keys() == {
        (None, "system:auth-delegator"),
        ("kube-system", "extension-apiserver-authentication-reader"),
        (NAMESPACE, "foresight:config-reader"),
    }
    [config_map] = deployment.of_kind("ConfigMap")
    assert grants[(NAMESPACE, "foresight:config-reader")] == [{
        "apiGroups": [""], "resources": ["configmaps"], "resourceNames": [config_map["metadata"]["name"]], "verbs": ["get"],
    }]


def test_hpa_controller_may_read_both_metrics_apis(deployment: Rendered) -> None:
    rules = [rule for scope, _, rules in _grants(deployment, HPA_ACCOUNT) if scope is None for rule in rules]
    for group in ("external.metrics.k8s.io", "custom.metrics.k8s.io"):
        assert any(
            group in rule["apiGroups"] and rule["resources"] == ["*"] and {"get", "list"} <= set(rule["verbs"])
            for rule in rules
        ), group


def test_prometheus_may_get_metrics(deployment: Rendered) -> None:
    rules = [rule for scope, _, rules in _grants(deployment, PROMETHEUS_ACCOUNT) if scope is None for rule in rules]
    assert {"nonResourceURLs": ["/metrics"], "verbs": ["get"]} in rules


def test_adapter_service_monitor_scrapes_over_https_with_the_token(rendering: Rendered) -> None:
    monitor = rendering.one("ServiceMonitor", "foresight", NAMESPACE)["spec"]
    service = _service(rendering)
    assert selects(monitor["selector"], service["metadata"]["labels"])
    [endpoint] = monitor["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert (endpoint["scheme"], endpoint["path"]) == ("https", "/metrics")
    assert endpoint["bearerTokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    tls = endpoint["tlsConfig"]
    assert tls["serverName"] == SERVICE_DNS_NAME
    assert tls["ca"]["secret"] == {"name": SERVING_SECRET, "key": "ca.crt"}
    assert _volume(rendering.adapter, "serving-cert")["secret"]["secretName"] == SERVING_SECRET


def test_exporter_service_monitor_scrapes_the_exporter(deployment: Rendered) -> None:
    monitor = deployment.one("ServiceMonitor", "foresight-nvml-exporter", NAMESPACE)["spec"]
    service = deployment.one("Service", "foresight-nvml-exporter", NAMESPACE)
    exporter = deployment.one("DaemonSet", "foresight-nvml-exporter", NAMESPACE)
    assert selects(monitor["selector"], service["metadata"]["labels"])
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(exporter))
    [endpoint] = monitor["endpoints"]
    [port] = [port for port in service["spec"]["ports"] if port["name"] == endpoint["port"]]
    assert container_port(only_container(exporter), port["targetPort"]) == 9400
    assert endpoint["honorLabels"] is True
