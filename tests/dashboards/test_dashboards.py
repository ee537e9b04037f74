"""The committed dashboards are what ``python -m dashboards`` generates, and each has what Grafana
needs to import it and what an SRE needs to read it. Grafana cannot run here: these checks stand
in for its import, on the fields its dashboard schema (version 41) requires."""

from __future__ import annotations

import json
import re
from itertools import combinations
from typing import Any

import pytest

from dashboards.catalogue import DASHBOARDS, DIRECTORY, rendered

Dashboard = dict[str, Any]
UIDS = {
    "gpu-inference-autoscaling.json": "foresight-gpu-inference-autoscaling",
    "foresight-adapter.json": "foresight-adapter",
    "capacity.json": "foresight-capacity",
}
WORKLOAD_DASHBOARDS = ("gpu-inference-autoscaling.json", "capacity.json")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _committed(name: str) -> Dashboard:
    loaded: Dashboard = json.loads((DIRECTORY / name).read_text(encoding="utf-8"))
    return loaded


def _panels(board: Dashboard) -> list[Dashboard]:
    return [panel for panel in board["panels"] if panel["type"] != "row"]


def test_committed_dashboards_are_what_the_generator_writes() -> None:
    committed = {path.name: path.read_text(encoding="utf-8") for path in DIRECTORY.glob("*.json")}
    assert committed == rendered(), "run `python -m dashboards` and commit the JSON"


def test_uids_are_stable_and_distinct() -> None:
    """Links and provisioning find a dashboard by its uid: changing one breaks them."""
    assert {name: _committed(name)["uid"] for name in DASHBOARDS} == UIDS


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_has_what_grafana_needs_to_import_it(name: str) -> None:
    board = _committed(name)
    assert board["schemaVersion"] >= 39 and board["title"].startswith("Foresight / ")
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(item, int) and item > 0 for item in ids)
    for panel in _panels(board):
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)) and all(refs), panel["title"]


@pytest.mark.parametrize("name", DASHBOARDS)
def test_panels_fit_the_grid_without_overlapping(name: str) -> None:
    boxes = [(panel["title"], panel["gridPos"]) for panel in _committed(name)["panels"]]
    for title, box in boxes:
        assert box["x"] >= 0 and box["y"] >= 0 and box["w"] > 0 and box["h"] > 0, title
        assert box["x"] + box["w"] <= 24, f"{title} passes the grid's right edge"
    for (first, a), (second, b) in combinations(boxes, 2):
        apart = a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
        assert apart, f"{first} overlaps {second}"


@pytest.mark.parametrize("name", DASHBOARDS)
def test_every_query_goes_through_the_datasource_variable(name: str) -> None:
    board = _committed(name)
    [variable] = [item for item in board["templating"]["list"] if item["type"] == "datasource"]
    assert (variable["name"], variable["query"]) == ("datasource", "prometheus")
    for panel in _panels(board):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"]), panel["title"]
    for item in board["templating"]["list"]:
        if item["type"] == "query":
            assert item["datasource"] == DATASOURCE, item["name"]


@pytest.mark.parametrize("name", DASHBOARDS)
def test_every_panel_has_a_unit_and_says_what_to_do(name: str) -> None:
    for panel in _panels(_committed(name)):
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']} has no unit"
        description = panel.get("description", "")
        assert len(description.split()) >= 12, f"{panel['title']}: too short a description to act on"


@pytest.mark.parametrize("name", WORKLOAD_DASHBOARDS)
def test_workload_dashboards_select_namespace_and_workload(name: str) -> None:
    board = _committed(name)
    variables = {item["name"]: item for item in board["templating"]["list"]}
    assert variables["namespace"]["query"] == "label_values(kube_pod_labels, namespace)"
    assert variables["workload"]["query"] == 'label_values(kube_pod_labels{namespace="$namespace"}, label_app)'
    for panel in _panels(board):
        for target in panel["targets"]:
            assert "$namespace" in target["expr"], f"{panel['title']}: {target['expr']} ignores the namespace"


@pytest.mark.parametrize("name", DASHBOARDS)
def test_rates_use_the_rate_interval_or_a_recording_rule(name: str) -> None:
    """A fixed window either misses scrapes when zoomed in or averages peaks away when zoomed out."""
    for panel in _panels(_committed(name)):
        for target in panel["targets"]:
            for window in re.findall(r"\brate\([^\[]*\[([^\]]+)\]", target["expr"]):
                assert window == "$__rate_interval", f"{panel['title']}: {target['expr']}"
