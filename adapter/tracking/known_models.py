"""The models selected for tracked series, read back from what the adapter publishes.

Every replica publishes ``foresight_forecast_info{metric,namespace,selector,model,selected,state}``
on ``/metrics``, and Prometheus keeps it. A restarted replica asks Prometheus for it in one query,
so its series refit the model selected before (by it or by another replica) instead of selecting
again, which costs a fit of every candidate. The query reads only the series Prometheus labelled as
this deployment's: another Foresight on the same Prometheus publishes selections of its own. Prometheus stays the one source of truth: a replica
keeps nothing of its own across a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from adapter.kubernetes.errors import SourceError
from adapter.kubernetes.selectors import promql_string
from adapter.sources.protocol import Source

log = logging.getLogger(__name__)
SeriesKey = tuple[str, str, str]
"""(signal, namespace, selector), as the labels ``metric``, ``namespace`` and ``selector`` say."""
LOOKBACK = "1h"
"""How far back a published selection still counts: a rolling update or a restart is minutes; a
selection older than this, of a series nobody forecast since, is selected again."""


def known_models_query(published_labels: Mapping[str, str]) -> str:
    """When each series was last seen published with each selected model, among the series with
    ``published_labels`` (this deployment's own): where replicas disagreed (one had selected again
    before the other), the latest one counts."""
    matchers = "".join(f",{name}={promql_string(value)}" for name, value in sorted(published_labels.items()))
    return ("max by (metric, namespace, selector, selected) "
            f'(max_over_time(timestamp(foresight_forecast_info{{selected!=""{matchers}}})[{LOOKBACK}:1m]))')


async def read_known_models(source: Source, published_labels: Mapping[str, str]) -> dict[SeriesKey, str]:
    """The latest selected model of every series of this deployment (``published_labels``, see
    ``forecasts.published_labels``) published within :data:`LOOKBACK`; empty (and a warning logged)
    when Prometheus cannot answer, so the series select as on a first start."""
    try:
        samples = await source.instant(known_models_query(published_labels))
    except SourceError as error:
        log.warning("cannot read the selected models back (%s): the new series select their models", error.message)
        return {}
    latest: dict[SeriesKey, tuple[float, str]] = {}
    for sample in samples:
        labels = sample.labels
        key = (labels.get("metric", ""), labels.get("namespace", ""), labels.get("selector", ""))
        seen = (sample.value, labels.get("selected", ""))
        if seen[1] and seen > latest.get(key, (float("-inf"), "")):
            latest[key] = seen
    return {key: model for key, (_, model) in latest.items()}
