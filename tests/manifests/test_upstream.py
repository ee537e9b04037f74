"""components/upstream as manifests/README.md adds it: the Secret is mounted where the README's
config section points, and that section is a valid config."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from adapter.settings.config import settings_from_mapping

from .render import NAMESPACE, README, only_container, pod_spec, render_site

SITE = "the upstream proxy, keeping another adapter's metrics reachable"


def _readme_config() -> str:
    [config] = re.findall(r"```yaml\n(# config\.yaml: the upstream section.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    return f"prometheus: {{url: 'http://prometheus-k8s.monitoring.svc:9090'}}\n{config}"


def test_the_upstream_secret_is_mounted_where_the_readme_config_reads_it(tmp_path: Path) -> None:
    config = _readme_config()
    upstream = settings_from_mapping(yaml.safe_load(config), source="manifests/README.md").upstream.external
    assert upstream is not None and upstream.cert_file is not None
    rendered = render_site(tmp_path, SITE, config=config)
    adapter = rendered.adapter
    [volume] = [volume for volume in pod_spec(adapter)["volumes"] if volume["name"] == "upstream"]
    assert volume["secret"]["secretName"] == "foresight-upstream"
    [mount] = [mount for mount in only_container(adapter)["volumeMounts"] if mount["name"] == "upstream"]
    assert mount["readOnly"] is True
    for path in (upstream.ca_file, upstream.cert_file, upstream.key_file):
        assert path is not None and path.parent == Path(mount["mountPath"])
    assert rendered.one("ConfigMap", "foresight-config", NAMESPACE)["data"]["config.yaml"] == config
    assert {item["metadata"]["name"] for item in rendered.of_kind("APIService")} == {
        "v1beta1.external.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"}
