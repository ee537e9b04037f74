"""Renderings shared by the manifest tests: each kustomization is rendered once per session."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import pytest
import trustme

from adapter.settings.config import MetricRule, Settings, load_settings
from adapter.settings.forecast_names import forecast_metric_names
from adapter.signals.presets import resolve_rules

from .render import MANIFESTS, NAMESPACE, Rendered, kustomize

SERVICE_DNS_NAME = f"foresight.{NAMESPACE}.svc"


@dataclass(frozen=True)
class OwnCertificate:
    """The own-certificate overlay rendered with a CA and serving certificate made for the test."""

    rendered: Rendered
    ca_pem: bytes


@pytest.fixture(scope="session")
def deployment() -> Rendered:
    """``kubectl kustomize manifests/``: what a platform engineer applies (cert-manager's certificate)."""
    return Rendered(kustomize(MANIFESTS))


@pytest.fixture(scope="session")
def own_certificate(tmp_path_factory: pytest.TempPathFactory) -> OwnCertificate:
    """overlays/own-certificate in a copy of manifests/, with the three PEM files it asks for."""
    copy = tmp_path_factory.mktemp("own-certificate") / "manifests"
    shutil.copytree(MANIFESTS, copy)
    overlay = copy / "overlays" / "own-certificate"
    ca = trustme.CA()
    served = ca.issue_cert(SERVICE_DNS_NAME)
    served.cert_chain_pems[0].write_to_path(str(overlay / "tls.crt"))
    served.private_key_pem.write_to_path(str(overlay / "tls.key"))
    ca.cert_pem.write_to_path(str(overlay / "ca.crt"))
    return OwnCertificate(Rendered(kustomize(overlay)), ca.cert_pem.bytes())


@pytest.fixture(scope="session", params=["cert-manager", "own-certificate"])
def rendering(request: pytest.FixtureRequest) -> Rendered:
    """Each complete deployment: the default one and the own-certificate overlay."""
    if request.param == "cert-manager":
        return request.getfixturevalue("deployment")  # type: ignore[no-any-return]
    return request.getfixturevalue("own_certificate").rendered  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def examples() -> Rendered:
    """manifests/examples: the example HPAs, rendered on their own."""
    return Rendered(kustomize(MANIFESTS / "examples"))



@dataclass(frozen=True)
class ShippedConfig:
    """The config.yaml of the rendered ConfigMap, loaded as ``foresight serve`` loads it."""

    settings: Settings
    rules: dict[str, MetricRule]

    @property
    def served_metrics(self) -> set[str]:
        """Every external metric name the adapter serves with this config."""
        forecasts = {
            name for signal in self.settings.forecasts.signals if signal in self.rules for name in forecast_metric_names(signal)
        }
        return {*self.rules, *forecasts}


@pytest.fixture(scope="session")
def shipped_config(deployment: Rendered, tmp_path_factory: pytest.TempPathFactory) -> ShippedConfig:
    [config_map] = deployment.of_kind("ConfigMap")
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"], encoding="utf-8")
    settings = load_settings(path)
    return ShippedConfig(settings, resolve_rules(settings, source=str(path)))
