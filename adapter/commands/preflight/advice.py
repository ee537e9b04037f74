"""The install path that takes no metrics from anyone, decided from what the cluster holds.

- Nobody else holds a metrics group-version: Foresight's own APIServices (the complete deployment).
- KEDA runs: its metrics server keeps ``external.metrics.k8s.io`` and asks Foresight through the
  external scaler (``components/keda``).
- Another adapter holds one: Foresight takes the registration and forwards what it does not
  serve to that adapter (``components/upstream`` and an ``upstream`` section).

Pure: the report and the exit code follow from the facts alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from adapter.commands.exit_codes import FAILURE, OK
from adapter.commands.preflight.cluster import AUTHENTICATION_CONFIG_MAP, ClusterFacts, Registration, ServiceRef
from adapter.commands.preflight.series import Visibility

FORESIGHT_SERVICE = ("foresight", "foresight")
"""Namespace and name of the Service the manifests register."""
EXTERNAL = "v1beta1.external.metrics.k8s.io"
CUSTOM = ("v1beta2.custom.metrics.k8s.io", "v1beta1.custom.metrics.k8s.io")
"""The custom group's APIServices; the HPA controller reads the preferred one, so whoever holds
either loses its custom metrics once Foresight's v1beta2 is registered."""
UPSTREAM_MOUNT = "/var/run/upstream"
Path = Literal["own APIServices", "KEDA external scaler", "upstream proxy"]


@dataclass(frozen=True)
class Advice:
    path: Path
    components: tuple[str, ...]
    config: str
    """The config section to add (YAML), empty when none is needed."""
    notes: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    """What must change before the path is clear; the exit code is 0 only without any."""
    warnings: list[str] = field(default_factory=list)
    """What works against the path without blocking it (missing series: those metrics fail)."""

    @property
    def exit_code(self) -> int:
        return FAILURE if self.blockers else OK


def _others(registration: Registration | None) -> bool:
    """Whether ``registration`` is held by someone other than Foresight."""
    service = registration.service if registration is not None else None
    return registration is not None and (service is None or (service.namespace, service.name) != FORESIGHT_SERVICE)


def _holder(facts: ClusterFacts, names: tuple[str, ...]) -> ServiceRef | None:
    """The Service of the first of ``names`` another adapter holds."""
    for name in names:
        registration = facts.registrations.get(name)
        if registration is not None and registration.service is not None and _others(registration):
            return registration.service
    return None


def _is_keda(service: ServiceRef, facts: ClusterFacts) -> bool:
    return service.name.startswith("keda-") or service.namespace in {operator.namespace for operator in facts.keda_operators}


def _upstream_section(group: str, service: ServiceRef) -> str:
    return (
        f"  {group}:\n    url: {service.url}\n    ca_file: {UPSTREAM_MOUNT}/ca.crt\n"
        f"    cert_file: {UPSTREAM_MOUNT}/tls.crt\n    key_file: {UPSTREAM_MOUNT}/tls.key\n"
    )


def advise(facts: ClusterFacts, series: list[Visibility] | None, prometheus_problem: str | None = None) -> Advice:
    """The path, what it needs, and what stands in its way."""
    blockers: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    for name, registration in facts.registrations.items():
        if registration is None or not _others(registration):
            continue
        if registration.service is None:
            blockers.append(f"{name} is served by the kube-apiserver itself; no adapter can take or share it")
        elif not registration.available:
            blockers.append(
                f"{name} belongs to {registration.service} but is not Available ({registration.condition}): HPAs "
                "reading it get no metrics today, and Foresight would forward to an adapter that does not answer. "
                "Repair that adapter, or delete the APIService if it is gone, and run preflight again"
            )
    if facts.front_proxy_missing:
        namespace, name = AUTHENTICATION_CONFIG_MAP
        blockers.append(
            f"{namespace}/{name} lacks {', '.join(facts.front_proxy_missing)}: the kube-apiserver runs without its "
            "front-proxy flags (--requestheader-client-ca-file and the rest), so no aggregated API server, "
            "Foresight included, can tell whom a proxied request is from"
        )
    if prometheus_problem is not None:
        blockers.append(f"Prometheus does not answer: {prometheus_problem}")
    for check in series or []:
        if not check.found:
            warnings.append(f"no {check.what} series ({check.query}): {check.needed_for} will answer errors")
    keda_running = facts.keda_crd and any(operator.ready > 0 for operator in facts.keda_operators)
    if facts.keda_crd != bool(facts.keda_operators):
        warnings.append("KEDA looks half installed (its CRD without its operator, or the reverse)")
    external_holder, custom_holder = _holder(facts, (EXTERNAL,)), _holder(facts, CUSTOM)
    config = ""
    if custom_holder is not None:
        config = "upstream:\n" + _upstream_section("custom", custom_holder)
    if keda_running:
        components = ("components/keda",) + (("components/upstream",) if custom_holder else ())
        if external_holder is not None and not _is_keda(external_holder, facts):
            warnings.append(f"KEDA runs, but {EXTERNAL} belongs to {external_holder}: KEDA's own HPAs find no metrics")
        notes.append(f"KEDA keeps {EXTERNAL} and reads Foresight's metrics through the external scaler on port 9443")
        return Advice("KEDA external scaler", components, config, notes, blockers, warnings)
    if external_holder is not None or custom_holder is not None:
        if external_holder is not None:
            config = "upstream:\n" + _upstream_section("external", external_holder) + config.removeprefix("upstream:\n")
        for registration in facts.registrations.values():
            if registration is not None and _others(registration) and not registration.ca_bundle:
                warnings.append(f"{registration.name} skips TLS verification: ca.crt must come from {registration.service}'s own CA")
        notes.append(
            "Secret foresight-upstream: ca.crt, the CA of the current adapter's serving certificate (its APIService's "
            "caBundle), and tls.crt/tls.key, a client certificate from the requestheader CA with an allowed name"
        )
        return Advice("upstream proxy", ("components/upstream",), config, notes, blockers, warnings)
    return Advice("own APIServices", (), "", notes, blockers, warnings)
