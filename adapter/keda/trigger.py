"""A KEDA trigger's metadata, checked: which metric, for which workload, and its target.

A ScaledObject's ``external`` or ``external-push`` trigger names Foresight's metric in its
``metadata``, which KEDA passes along with every call; the namespace is the ScaledObject's own.
Keys are checked strictly, so a misspelt ``selector`` is an error rather than a scaler that
quietly reads the whole namespace.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from adapter.kubernetes.errors import BadRequest
from adapter.kubernetes.selectors import parse_selector

FIELDS = ("metric", "selector", "target")
KEDA_FIELDS = frozenset({"scalerAddress", "enableTLS", "unsafeSsl"})
"""Keys of KEDA's own that it passes along with the trigger's metadata."""


@dataclass(frozen=True)
class Trigger:
    """What a trigger asks of Foresight."""

    metric: str
    namespace: str
    selector: str
    """In canonical form, as a tracked key holds it."""
    target: float
    """The metric's value per replica."""


def parse_trigger(namespace: str, metadata: Mapping[str, str]) -> Trigger:
    """The trigger ``metadata`` describes; raises ``BadRequest`` naming the field that is wrong.
    Whether Foresight serves the metric is the caller's question."""
    unknown = sorted(set(metadata) - set(FIELDS) - KEDA_FIELDS)
    if unknown:
        raise BadRequest(f"trigger metadata {unknown[0]!r} is not known; Foresight reads {', '.join(FIELDS)}")
    metric = metadata.get("metric", "")
    if not metric:
        raise BadRequest("trigger metadata 'metric' is required: the name of a metric Foresight serves")
    try:
        selector = str(parse_selector(metadata.get("selector", "")))
    except BadRequest as error:
        raise BadRequest(f"trigger metadata 'selector': {error.message}") from None
    return Trigger(metric, namespace, selector, _target(metadata.get("target", "")))


def _target(text: str) -> float:
    if not text:
        raise BadRequest("trigger metadata 'target' is required: the metric's value per replica")
    try:
        target = float(text)
    except ValueError:
        raise BadRequest(f"trigger metadata 'target' must be a number, not {text!r}") from None
    if not math.isfinite(target) or target <= 0:
        raise BadRequest(f"trigger metadata 'target' must be a positive number, not {text!r}")
    return target
