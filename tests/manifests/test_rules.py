"""The Prometheus rules: the plain rule files pass the real ``promtool``'s checks and unit tests
(tests/manifests/promtool/), every alert has a test where it fires and one where it stays silent,
a summary, a description and a runbook section, and the kustomize component ships the same rules."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .render import MANIFESTS, NAMESPACE, Rendered, kustomize

RULES = MANIFESTS / "rules"
RULE_FILES = {stem: RULES / f"{stem}.rules.yaml" for stem in ("thresholds", "workload", "alerts")}
COMPONENT = MANIFESTS / "components" / "prometheus-rules"
UNIT_TESTS = sorted((Path(__file__).parent / "promtool").glob("*.test.yaml"))
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary is not None, "promtool comes with Debian's prometheus package (.ci/setup --test installs it)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, check=False)


def _groups(path: Path) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return groups


def _rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in _groups(path) for rule in group["rules"]]


ALERTS = [rule for rule in _rules(RULE_FILES["alerts"]) if "alert" in rule]


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_rule_files_pass_promtool_check() -> None:
    result = _promtool("check", "rules", *map(str, RULE_FILES.values()))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    assert UNIT_TESTS
    result = _promtool("test", "rules", *map(str, UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_where_it_fires_and_one_where_it_stays_silent() -> None:
    cases = [
        case
        for path in UNIT_TESTS
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    for alert in ALERTS:
        expectations = [bool(case["exp_alerts"]) for case in cases if case["alertname"] == alert["alert"]]
        assert True in expectations, f"{alert['alert']} is never tested firing"
        assert False in expectations, f"{alert['alert']} is never tested silent"


def test_every_alert_has_a_summary_a_description_and_a_runbook_section() -> None:
    headings = re.findall(r"^## (.+)$", (RULES / "RUNBOOK.md").read_text(encoding="utf-8"), re.MULTILINE)
    anchors = {_github_anchor(heading) for heading in headings}
    assert len(ALERTS) == len(headings) == 13
    for alert in ALERTS:
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], alert["alert"]
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == "manifests/rules/RUNBOOK.md" and (MANIFESTS.parent / page).is_file()
        assert anchor in anchors, f"{alert['alert']}: no section #{anchor} in RUNBOOK.md"


def test_recorded_series_are_named_level_metric_operations() -> None:
    records = [rule["record"] for path in RULE_FILES.values() for rule in _rules(path) if "record" in rule]
    assert len(records) == 26
    assert [name for name in records if not RECORD_NAME.match(name)] == []


def test_alerts_compare_with_the_threshold_series() -> None:
    """A threshold written into an alert's expression instead would not follow its parameter."""
    thresholds = {rule["record"] for rule in _rules(RULE_FILES["thresholds"])}
    used = {name for alert in ALERTS for name in thresholds if name in alert["expr"]}
    workload_rules = " ".join(rule["expr"] for rule in _rules(RULE_FILES["workload"]))
    used |= {name for name in thresholds if name in workload_rules}
    assert used == thresholds


def test_component_ships_the_plain_rule_files() -> None:
    rendered = Rendered(kustomize(COMPONENT))
    names = {"thresholds": "foresight-alert-thresholds", "workload": "foresight-workload-signals", "alerts": "foresight-alerts"}
    assert len(rendered.of_kind("PrometheusRule")) == len(list(rendered)) == len(names)
    for stem, name in names.items():
        rule = rendered.one("PrometheusRule", name, NAMESPACE)
        assert rule["spec"] == {"groups": _groups(RULE_FILES[stem])}, f"{name} differs from {stem}.rules.yaml"
        assert rule["metadata"]["labels"]["app.kubernetes.io/part-of"] == "foresight"


def test_deployment_includes_the_rules(deployment: Rendered) -> None:
    assert {rule["metadata"]["name"] for rule in deployment.of_kind("PrometheusRule")} == {
        "foresight-alert-thresholds", "foresight-workload-signals", "foresight-alerts",
    }


def test_readme_lists_every_threshold_in_order_with_its_default() -> None:
    """The README's patch addresses a threshold by its place in this table."""
    readme = (MANIFESTS / "README.md").read_text(encoding="utf-8")
    table = re.findall(r"^\| `(foresight:[a-z0-9_:]+)` \| `([0-9.]+)`", readme, re.MULTILINE)
    assert table == [(rule["record"], rule["expr"]) for rule in _rules(RULE_FILES["thresholds"])]


@pytest.mark.parametrize("path", UNIT_TESTS, ids=lambda path: path.name)
def test_unit_tests_load_the_shipped_rule_files(path: Path) -> None:
    """A unit test of a copy would pass whatever the shipped rules say."""
    files = yaml.safe_load(path.read_text(encoding="utf-8"))["rule_files"]
    assert {(path.parent / name).resolve() for name in files} <= set(RULE_FILES.values())
