"""A measured start-up as a lead: clamped to sane bounds, then rounded up to whole steps; and the
query that measures it confined to the workload's namespace and pods."""

from __future__ import annotations

import pytest

from adapter.tracking.startup_leads import lead_from_startup, startup_query


@pytest.mark.parametrize(
    ("startup", "step", "lead"),
    [
        (326.0, 60.0, 360.0),  # rounded up: a lead a little short is late by a whole step
        (360.0, 60.0, 360.0),  # already whole steps
        (326.0, 5.0, 330.0),
        (2.8, 5.0, 15.0),  # faster than any pod starts: 15 s
        (-40.0, 5.0, 15.0),  # ready before created: a clock off
        (1e6, 60.0, 3600.0),  # a pod ready again days later is not a start-up: 1 h
        (10.0, 60.0, 60.0),  # never under one step
    ],
)
def test_lead_from_startup(startup: float, step: float, lead: float) -> None:
    assert lead_from_startup(startup, step=step) == lead


def test_startup_query_joins_the_pods_of_the_workload_in_its_namespace() -> None:
    query = startup_query("inference", "app=llama")
    assert 'kube_pod_labels{namespace="inference",label_app="llama"}' in query
    assert query.count('namespace="inference"') == 3  # the ready times and creation times too
