"""The demo's PromQL engine against Prometheus: every preset query and the README's example rule,
evaluated by both on the same samples, must give the same answers.

The demo answers the adapter's PromQL with an engine of its own, so that ``foresight demo`` runs
the real code path without a Prometheus. That engine is only worth something while it agrees
with Prometheus; this test holds it to that. The samples are synthetic but shaped like the
exporters' (counters with a reset, classic histograms, summaries, dcgm-exporter's ``exported_*``
labels, kube-state-metrics' ``kube_pod_labels``, a scrape gap), and are loaded into the demo's
store and, through promtool, into a real Prometheus.

Evaluation times fall between samples: the demo implements Prometheus 3's left-open range
windows, the test suite's Prometheus is 2.x with left-closed ones, and the two only differ for a
sample exactly on a window's left edge.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Iterator
from itertools import product
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import yaml

from adapter.kubernetes.selectors import parse_selector
from adapter.settings.config import MetricRule, SignalSettings
from adapter.signals.presets import preset_rules
from adapter.signals.rules import QueryScope, render
from adapter.sources.demo.promql import evaluate
from adapter.sources.demo.tsdb import MemoryTSDB

from .local import free_port
from .prometheus import PrometheusServer

README = Path(__file__).resolve().parents[2] / "README.md"
STEP_S = 15.0
HISTORY_S = 3600.0
PODS = {("inference", "llama-0"): "llama", ("inference", "llama-1"): "llama", ("inference", "mistral-0"): "mistral",
        ("other", "llama-0"): "llama"}
GAP_POD = ("inference", "llama-1")
"""Misses scrapes for four minutes in the middle of the history, as a pod under memory pressure does."""
RESET_POD = ("inference", "llama-0")
"""Restarts half-way through the history: its counters start again from zero."""
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")
SCOPES = (
    QueryScope("inference", parse_selector("app=llama")),
    QueryScope("inference", parse_selector("app in (llama,mistral)")),
    QueryScope("inference", parse_selector("app!=mistral")),
    QueryScope("other", parse_selector("app=llama")),
)
SELECTOR_NAME = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
EQUALITY_MATCHER = re.compile(r'(\w+)="([^"<]*)"')


def _all_preset_rules() -> list[MetricRule]:
    """Every preset rule, for every server, selection mode and carbon setting."""
    generic = {"requests_total": "http_requests_total", "latency_histogram": "http_request_duration_seconds",
               "queue_gauge": "http_queue_depth", "kv_cache_gauge": "llm_kv_cache_fill",
               "ttft_histogram": "llm_time_to_first_token_seconds", "itl_histogram": "llm_inter_token_seconds",
               "prompt_tokens_total": "llm_prompt_tokens_total", "generation_tokens_total": "llm_generation_tokens_total",
               "running_gauge": "llm_requests_running"}
    rules: dict[str, MetricRule] = {}
    servers = [server for server in get_args(SignalSettings.model_fields["server"].annotation) if server != "none"]
    modes = get_args(SignalSettings.model_fields["workload_labels"].annotation)
    for server, mode in product(servers, modes):
        signals = SignalSettings.model_validate(
            {"server": server, "workload_labels": mode, "carbon": {"grams_per_kwh": 400},
             **({"generic": generic} if server == "generic" else {})}
        )
        for rule in preset_rules(signals):
            rules[f"{server}/{mode}/{rule.name}"] = rule
    return list(rules.values())


def _readme_rules() -> list[MetricRule]:
    """The rules of the README's config examples."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    found = []
    for block in blocks:
        document = yaml.safe_load(block)
        if isinstance(document, dict):
            found += [MetricRule.model_validate(rule) for rule in document.get("metrics", [])]
    return found


RULES = [*_all_preset_rules(), *_readme_rules()]


def _queries() -> list[str]:
    queries = {render(template, rule, scope) for rule in RULES for template in (rule.query, rule.pods_query)
               if template is not None for scope in SCOPES}
    return sorted(queries)


def _series_names() -> dict[str, list[dict[str, str]]]:
    """Every series the queries select, with each set of equality matchers they put on it besides
    the workload's (a summary's ``quantile``, Triton's ``kv_cache_block_type``)."""
    names: dict[str, list[dict[str, str]]] = {}
    for query in _queries():
        for match in SELECTOR_NAME.finditer(query):
            braces = query[match.end(): query.index("}", match.end())]
            fixed = {label: value for label, value in EQUALITY_MATCHER.findall(braces)
                     if label not in {"namespace", "app", "label_app"}}
            if fixed not in names.setdefault(match[1], []):
                names[match[1]].append(fixed)
    return names


def _is_counter(name: str) -> bool:
    return name.endswith(("_total", "_bucket", "_count", "_sum")) or name in {"tgi_request_success",
                                                                              "nv_inference_request_success"}


def _labels(name: str, fixed: list[dict[str, str]], namespace: str, pod: str, app: str) -> Iterator[dict[str, str]]:
    """The label sets an exporter would give ``name`` for one pod."""
    if name.startswith("DCGM_"):
        # dcgm-exporter runs in its own namespace and names the workload's pod in exported_* labels
        yield {"namespace": "gpu-operator", "pod": "dcgm-exporter-7x2", "exported_namespace": namespace,
               "exported_pod": pod, "gpu": "0", "UUID": f"GPU-{pod}"}
        return
    if name == "kube_pod_labels":
        yield {"namespace": namespace, "pod": pod, "label_app": app}
        return
    for matchers in fixed:
        base = {"namespace": namespace, "pod": pod, "app": app, **matchers}
        if name.endswith("_bucket"):
            yield from ({**base, "le": bound} for bound in BUCKETS)
        else:
            yield base


def _samples(rng: np.random.Generator, end: float) -> Iterator[tuple[dict[str, str], float, float]]:
    """``(labels, time, value)`` of every series, scraped every 15 s with a little jitter."""
    times = end - HISTORY_S + np.arange(int(HISTORY_S / STEP_S)) * STEP_S + rng.uniform(-1.0, 1.0, int(HISTORY_S / STEP_S))
    times = np.round(times, 3)
    for name, fixed in sorted(_series_names().items()):
        for (namespace, pod), app in PODS.items():
            label_sets = list(_labels(name, fixed, namespace, pod, app))
            # a histogram's buckets share one stream of observations, so they stay cumulative in le
            increments = rng.gamma(2.0, 5.0, size=(len(times), 1)) * np.linspace(0.2, 1.0, len(label_sets))
            for index, labels in enumerate(label_sets):
                if name == "kube_pod_labels":
                    values = np.ones(len(times))
                elif _is_counter(name):
                    values = np.cumsum(increments[:, index])
                    if (namespace, pod) == RESET_POD:
                        half = len(times) // 2
                        values[half:] -= values[half - 1]
                else:
                    values = rng.uniform(0.0, 100.0, len(times))
                for when, value in zip(times, values, strict=True):
                    if (namespace, pod) == GAP_POD and end - HISTORY_S / 2 < when < end - HISTORY_S / 2 + 240:
                        continue
                    yield {"__name__": name, **labels}, float(when), float(value)


def _openmetrics(samples: list[tuple[dict[str, str], float, float]]) -> str:
    lines = []
    for labels, when, value in samples:
        name = labels["__name__"]
        rest = ",".join(f'{key}="{text}"' for key, text in sorted(labels.items()) if key != "__name__")
        lines.append(f"{name}{{{rest}}} {value!r} {when:.3f}")
    return "\n".join([*lines, "# EOF", ""])


def _same(demo: float, prometheus: float) -> bool:
    if math.isnan(demo) or math.isnan(prometheus):
        return math.isnan(demo) and math.isnan(prometheus)
    return math.isclose(demo, prometheus, rel_tol=1e-9, abs_tol=1e-9)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MemoryTSDB, PrometheusServer, float]]:
    """The same samples in the demo's store and in a Prometheus that scrapes only itself."""
    end = float(int(time.time()) // 60 * 60)
    samples = list(_samples(np.random.default_rng(7), end))
    store = MemoryTSDB()
    for labels, when, value in samples:
        store.append(labels, when, value)
    port = free_port()
    server = PrometheusServer(tmp_path_factory.mktemp("differential"), [f"127.0.0.1:{port}"], job="self", port=port,
                              backfill=_openmetrics(samples))
    server.start()
    try:
        yield store, server, end
    finally:
        server.stop()


def test_the_samples_cover_every_kind_of_series_the_presets_select() -> None:
    names = _series_names()
    assert "kube_pod_labels" in names and any(name.startswith("DCGM_") for name in names)
    assert any(name.endswith("_bucket") for name in names)
    assert {"quantile": "0.99"} in names.get("nv_inference_request_summary_us", [])
    assert [{"kv_cache_block_type": "used"}, {"kv_cache_block_type": "max"}] == names["nv_trt_llm_kv_cache_block_metrics"]
    assert len(_readme_rules()) >= 1


@pytest.mark.parametrize("offset", [-0.5, -37.5, -HISTORY_S / 2 + 20.5, -HISTORY_S / 2 + 120.5, -HISTORY_S + 45.5])
async def test_every_preset_and_example_query_answers_as_prometheus_does(
    loaded: tuple[MemoryTSDB, PrometheusServer, float], offset: float
) -> None:
    store, server, end = loaded
    at = end + offset
    answered, differences = 0, []
    for query in _queries():
        expected = {
            frozenset(item["metric"].items()): float(item["value"][1])
            for item in await asyncio.to_thread(server.query, query, at=at)
        }
        actual = {frozenset(labels.items()): value for labels, value in evaluate(query, store, at)}
        answered += bool(expected)
        if expected.keys() != actual.keys() or not all(_same(actual[key], expected[key]) for key in expected):
            differences.append(f"{query}\n  prometheus: {expected}\n  demo:       {actual}")
    assert not differences, f"{len(differences)} queries differ at {offset:+} s:\n" + "\n".join(differences[:5])
    assert answered >= len(_queries()) // 2, "most queries should find data, or the comparison proves little"
