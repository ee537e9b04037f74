"""Rule template syntax: which placeholders exist and what makes a template safe to serve.

Pure string checks, shared by config validation and rendering (``adapter.signals.rules``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

PLACEHOLDER = re.compile(r"<<\s*\.(\w+)\s*>>")
KNOWN_PLACEHOLDERS = frozenset({"LabelMatchers", "PodLabelMatchers", "MetricLabelMatchers", "Window"})
_REQUIRED = {"series": "LabelMatchers", "pod_labels": "PodLabelMatchers"}


def template_problems(template: str, *, workload_selector: str) -> Iterator[str]:
    """Why ``template`` cannot be served safely, if it cannot."""
    used = {match.group(1) for match in PLACEHOLDER.finditer(template)}
    for name in sorted(used - KNOWN_PLACEHOLDERS):
        yield f"unknown placeholder <<.{name}>> (known: {', '.join(sorted(KNOWN_PLACEHOLDERS))})"
    required = _REQUIRED[workload_selector]
    if required not in used:
        yield (
            f"must use <<.{required}>>: it carries the namespace and the HPA's selector "
            f"(workload_selector: {workload_selector})"
        )
    if "<<" in PLACEHOLDER.sub("", template):
        yield "has a '<<' that is not a placeholder of the form <<.Name>>"
