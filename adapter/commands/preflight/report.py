"""The preflight report as text: what was found, then the path and what it needs."""

from __future__ import annotations

from adapter.commands.preflight.advice import Advice
from adapter.commands.preflight.cluster import AUTHENTICATION_CONFIG_MAP, ClusterFacts
from adapter.commands.preflight.series import Visibility


def render(facts: ClusterFacts, series: list[Visibility] | None, advice: Advice, *, prometheus: str | None) -> str:
    lines = ["Metrics APIServices today:"]
    for name, registration in facts.registrations.items():
        if registration is None:
            owner = "not registered"
        else:
            held_by = str(registration.service) if registration.service else "the kube-apiserver itself"
            state = "Available" if registration.available else f"NOT Available ({registration.condition})"
            owner = f"{held_by}, {state}"
        lines.append(f"  {name}: {owner}")
    keda = "CRD scaledobjects.keda.sh " + ("present" if facts.keda_crd else "absent")
    operators = ", ".join(f"{item.namespace}/{item.name} ({item.ready}/{item.wanted} ready)" for item in facts.keda_operators)
    lines.append(f"KEDA: {keda}; operator {operators or 'not found'}")
    namespace, name = AUTHENTICATION_CONFIG_MAP
    front_proxy = f"missing {', '.join(facts.front_proxy_missing)}" if facts.front_proxy_missing else "complete"
    lines.append(f"Front proxy ({namespace}/{name}): {front_proxy}")
    if prometheus is None:
        lines.append("Prometheus: not checked (no --config)")
    else:
        lines.append(f"Prometheus {prometheus}:")
        for check in series or []:
            lines.append(f"  {check.what}: {'visible' if check.found else 'NOT visible'}")
    lines += ["", f"Install path: {advice.path}"]
    components = ", ".join(f"manifests/{component}" for component in advice.components)
    lines.append(f"  kustomize: manifests/ {('with ' + components) if components else '(the complete deployment)'}")
    if advice.config:
        lines += ["  config.yaml:", *(f"    {line}" for line in advice.config.splitlines())]
    lines += [f"  - {note}" for note in advice.notes]
    lines += [f"Warning: {warning}" for warning in advice.warnings]
    lines += [f"Blocked: {blocker}" for blocker in advice.blockers]
    lines.append("Clear: it takes no metrics from anyone." if not advice.blockers else "Not clear yet.")
    return "\n".join(lines)
