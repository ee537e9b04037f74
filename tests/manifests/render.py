"""Renders kustomizations with the real ``kubectl kustomize`` and looks up the objects they hold."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..integration.local import kubectl

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
NAMESPACE = "foresight"
README = MANIFESTS / "README.md"
SITE_HEADER = re.compile(r"^# site/kustomization\.yaml: (?P<purpose>.+)$", re.MULTILINE)

Object = dict[str, Any]


def kustomize(directory: Path) -> list[Object]:
    """The objects ``kubectl kustomize`` renders; a warning on stderr fails as an error does."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and not result.stderr, result.stderr
    return [item for item in yaml.safe_load_all(result.stdout) if item]


@dataclass(frozen=True)
class Rendered:
    """One rendering, with look-ups by kind and name."""

    objects: list[Object]

    def __iter__(self) -> Iterator[Object]:
        return iter(self.objects)

    def of_kind(self, kind: str) -> list[Object]:
        return [item for item in self.objects if item["kind"] == kind]

    def one(self, kind: str, name: str, namespace: str | None = None) -> Object:
        matches = [
            item for item in self.of_kind(kind)
            if item["metadata"]["name"] == name and item["metadata"].get("namespace") == namespace
        ]
        assert len(matches) == 1, f"{len(matches)} {kind} named {namespace}/{name}"
        return matches[0]

    def has(self, kind: str, name: str, namespace: str | None = None) -> bool:
        return any(
            item["metadata"]["name"] == name and item["metadata"].get("namespace") == namespace
            for item in self.of_kind(kind)
        )

    @property
    def adapter(self) -> Object:
        return self.one("Deployment", "foresight", NAMESPACE)


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a ``matchLabels``-only label selector (all the manifests use) matches ``labels``."""
    assert set(selector) == {"matchLabels"}, f"only matchLabels selectors are understood here: {selector}"
    return bool(selector["matchLabels"]) and selector["matchLabels"].items() <= labels.items()


def pod_spec(workload: Object) -> Object:
    spec: Object = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Object) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def only_container(workload: Object) -> Object:
    [container] = pod_spec(workload)["containers"]
    return container  # type: ignore[no-any-return]


def container_port(container: Object, port: int | str) -> int:
    """A probe's or a Service's port, resolved by name against the container's ports."""
    if isinstance(port, int):
        assert any(item["containerPort"] == port for item in container["ports"]), f"no container port {port}"
        return port
    [number] = [item["containerPort"] for item in container["ports"] if item["name"] == port]
    return int(number)


def _site_kustomizations() -> dict[str, str]:
    """The README's ```yaml blocks that are kustomizations of a user's own, by their first line."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    sites = {}
    for block in blocks:
        header = SITE_HEADER.match(block)
        if header:
            sites[header["purpose"]] = block
    return sites


SITES = _site_kustomizations()


def render_site(tmp_path: Path, purpose: str, *, config: str | None = None) -> Rendered:
    """Renders the README's kustomization beside a copy of manifests/, as its resources path expects."""
    shutil.copytree(MANIFESTS, tmp_path / "foresight" / "manifests")
    site = tmp_path / "site"
    site.mkdir()
    (site / "kustomization.yaml").write_text(SITES[purpose], encoding="utf-8")
    if config is not None:
        (site / "config.yaml").write_text(config, encoding="utf-8")
    return Rendered(kustomize(site))
