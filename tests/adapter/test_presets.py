"""Presets and rule templates: every preset renders, stays in its namespace and escapes selectors."""

import pytest

from adapter.kubernetes.errors import BadRequest, ConfigError
from adapter.kubernetes.selectors import parse_selector
from adapter.settings.config import MetricRule, SignalSettings, settings_from_mapping
from adapter.settings.templates import template_problems
from adapter.signals.presets import preset_rules, resolve_rules
from adapter.signals.rules import QueryScope, render

SIGNAL_VARIANTS = [
    {"server": "vllm"},
    {"server": "sglang"},
    {"server": "tgi"},
    {"server": "triton"},
    {"server": "generic", "generic": {"requests_total": "http_requests_total", "latency_histogram": "http_duration_seconds", "queue_gauge": "queue"}},
    {"server": "generic", "generic": {"requests_total": "r_total", "latency_histogram": "h", "kv_cache_gauge": "kv",
                                      "ttft_histogram": "ttft", "itl_histogram": "itl", "prompt_tokens_total": "p_total",
                                      "generation_tokens_total": "g_total", "running_gauge": "running"}},
    {"server": "vllm", "workload_labels": "series"},
    {"server": "vllm", "carbon": {"grams_per_kwh": 400}},
    {"server": "vllm", "carbon": {"query": 'grid_intensity{zone="DE"}'}},
    {"server": "none"},
    {"gpu": "none"},
]


@pytest.mark.parametrize("signals", SIGNAL_VARIANTS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items() if k != "generic"))
def test_every_preset_rule_is_safe_and_confined_to_the_namespace(signals: dict[str, object]) -> None:
    rules = preset_rules(SignalSettings.model_validate(signals))
    assert rules, "a preset must provide metrics"
    scope = QueryScope("team-a", parse_selector("app=llama"))
    for rule in rules:
        for template in filter(None, (rule.query, rule.pods_query)):
            assert list(template_problems(template, workload_selector=rule.workload_selector)) == []
            query = render(template, rule, scope)
            assert "<<" not in query
            assert 'namespace="team-a"' in query
            assert query.count("(") == query.count(")")
            # the selector reaches the query: as a pod label or as a series label
            assert 'label_app="llama"' in query or 'app="llama"' in query


def test_signal_names_follow_the_design() -> None:
    names = {rule.name for rule in preset_rules(SignalSettings.model_validate({"carbon": {"grams_per_kwh": 1}}))}
    assert names == {
        "gpu_utilization",
        "latency_p99_seconds",
        "queue_depth",
        "requests_per_second",
        "energy_per_request_joules",
        "carbon_per_request_milligrams",
        "kv_cache_utilization",
        "ttft_p99_seconds",
        "itl_p99_seconds",
        "prompt_tokens_per_second",
        "generation_tokens_per_second",
        "requests_running",
    }


def _rendered(signals: dict[str, object], name: str, selector: str = "app=llama") -> str:
    rules = {rule.name: rule for rule in preset_rules(SignalSettings.model_validate(signals))}
    return render(rules[name].query, rules[name], QueryScope("ns", parse_selector(selector)))


def test_vllm_cache_and_inter_token_latency_answer_under_either_name() -> None:
    cache = _rendered({"server": "vllm"}, "kv_cache_utilization")
    assert 'vllm:kv_cache_usage_perc{namespace="ns"} or vllm:gpu_cache_usage_perc{namespace="ns"}' in cache
    itl = _rendered({"server": "vllm"}, "itl_p99_seconds")
    assert "rate(vllm:inter_token_latency_seconds_bucket" in itl
    assert " or rate(vllm:time_per_output_token_seconds_bucket" in itl


def test_sglang_preset_reads_sglang_series() -> None:
    expected = {
        "requests_per_second": "sglang:num_requests_total",
        "latency_p99_seconds": "sglang:e2e_request_latency_seconds_bucket",
        "queue_depth": "sglang:num_queue_reqs",
        "kv_cache_utilization": "sglang:token_usage",
        "ttft_p99_seconds": "sglang:time_to_first_token_seconds_bucket",
        "itl_p99_seconds": "sglang:inter_token_latency_seconds_bucket",
        "prompt_tokens_per_second": "sglang:prompt_tokens_total",
        "generation_tokens_per_second": "sglang:generation_tokens_total",
        "requests_running": "sglang:num_running_reqs",
    }
    for name, series in expected.items():
        query = _rendered({"server": "sglang", "workload_labels": "series"}, name)
        assert f'{series}{{namespace="ns",app="llama"}}' in query, (name, query)
        assert "vllm:" not in query


def test_tgi_serves_the_llm_signals_it_exports_and_no_others() -> None:
    names = {rule.name for rule in preset_rules(SignalSettings(server="tgi"))}
    assert {"itl_p99_seconds", "prompt_tokens_per_second", "generation_tokens_per_second", "requests_running"} <= names
    assert not names & {"kv_cache_utilization", "ttft_p99_seconds"}
    assert "rate(tgi_request_input_length_sum{" in _rendered({"server": "tgi"}, "prompt_tokens_per_second")


def test_triton_reads_tensorrt_llm_series_and_converts_first_response_milliseconds() -> None:
    names = {rule.name for rule in preset_rules(SignalSettings(server="triton"))}
    assert "itl_p99_seconds" not in names  # Triton exports no inter-token latency
    cache = _rendered({"server": "triton"}, "kv_cache_utilization")
    assert ('nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="used",namespace="ns"} / ignoring(kv_cache_block_type) '
            'nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="max",namespace="ns"}') in cache
    assert _rendered({"server": "triton"}, "ttft_p99_seconds").endswith(") * 0.001")
    assert 'nv_trt_llm_request_metrics{request_type="active",namespace="ns"}' in _rendered({"server": "triton"}, "requests_running")
    assert "rate(nv_llm_output_token_len_sum{" in _rendered({"server": "triton"}, "generation_tokens_per_second")


def test_generic_serves_the_llm_signals_whose_series_it_names() -> None:
    base = {"requests_total": "http_requests_total", "latency_histogram": "http_duration_seconds"}
    assert not {rule.name for rule in preset_rules(SignalSettings.model_validate({"server": "generic", "generic": base}))} & {
        "kv_cache_utilization", "ttft_p99_seconds", "itl_p99_seconds", "requests_running"}
    named = {"server": "generic", "generic": {**base, "itl_histogram": "llm_itl_seconds", "running_gauge": "llm_running"}}
    names = {rule.name for rule in preset_rules(SignalSettings.model_validate(named))}
    assert {"itl_p99_seconds", "requests_running"} <= names and "kv_cache_utilization" not in names
    assert "rate(llm_itl_seconds_bucket{" in _rendered(named, "itl_p99_seconds")


def test_token_latency_quantile_comes_from_the_config() -> None:
    for name in ("ttft_p99_seconds", "itl_p99_seconds"):
        assert _rendered({"token_latency_quantile": 0.95}, name).startswith("histogram_quantile(0.95, ")
        assert _rendered({}, name).startswith("histogram_quantile(0.99, ")
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"signals": {"token_latency_quantile": 1.5}}, source="c.yaml")
    assert [path for path, _ in caught.value.problems] == ["signals.token_latency_quantile"]


def test_a_role_selects_one_pool_through_the_pod_label_join() -> None:
    query = _rendered({}, "generation_tokens_per_second", "app=deepseek,llm-d.ai/role=decode")
    assert 'kube_pod_labels{namespace="ns",label_app="deepseek",label_llm_d_ai_role="decode"}' in query


def test_gpu_rules_normalise_label_variants_and_deduplicate_power_by_gpu() -> None:
    rules = {rule.name: rule for rule in preset_rules(SignalSettings())}
    util = rules["gpu_utilization"].query
    for variant in ("exported_pod", "pod_name", "exported_namespace"):
        assert f'"{variant}"' in util
    assert "kube_pod_labels{<<.PodLabelMatchers>>}" in util
    assert "max by (UUID)" in rules["energy_per_request_joules"].query


def test_no_load_policies_default_to_zero_only_where_the_design_says() -> None:
    rules = {rule.name: rule for rule in preset_rules(SignalSettings())}
    assert rules["latency_p99_seconds"].on_nan == "zero"
    assert (rules["energy_per_request_joules"].on_nan, rules["energy_per_request_joules"].on_inf) == ("zero", "zero")
    assert (rules["ttft_p99_seconds"].on_nan, rules["itl_p99_seconds"].on_nan) == ("zero", "zero")
    for name in ("gpu_utilization", "requests_per_second", "queue_depth", "kv_cache_utilization",
                 "prompt_tokens_per_second", "generation_tokens_per_second", "requests_running"):
        assert (rules[name].on_nan, rules[name].on_inf, rules[name].on_empty) == ("error", "error", "error")


def test_series_mode_puts_the_selector_on_series_labels() -> None:
    rules = {rule.name: rule for rule in preset_rules(SignalSettings(workload_labels="series"))}
    rule = rules["requests_per_second"]
    query = render(rule.query, rule, QueryScope("ns", parse_selector("model=llama")))
    assert 'vllm:request_success_total{namespace="ns",model="llama"}' in query
    assert "kube_pod_labels" not in query


def test_pod_labels_mode_joins_kube_state_metrics_with_sanitised_keys() -> None:
    rules = {rule.name: rule for rule in preset_rules(SignalSettings())}
    rule = rules["queue_depth"]
    query = render(rule.query, rule, QueryScope("ns", parse_selector("app.kubernetes.io/name=llama")))
    assert 'kube_pod_labels{namespace="ns",label_app_kubernetes_io_name="llama"}' in query
    assert 'vllm:num_requests_waiting{namespace="ns"}' in query


def test_a_selector_cannot_escape_its_string_or_namespace() -> None:
    rule = MetricRule(name="m", query="sum(x{<<.LabelMatchers>>})")
    query = render(rule.query, rule, QueryScope("ns", parse_selector("namespace=other,app in (a,b.c)")))
    # both namespace matchers are ANDed by PromQL, so "other" can only narrow the result to nothing
    assert query == r'sum(x{namespace="ns",app=~"a|b\\.c",namespace="other"})'


def test_series_mode_refuses_selector_keys_prometheus_cannot_hold() -> None:
    rule = MetricRule(name="m", query="sum(x{<<.LabelMatchers>>})")
    with pytest.raises(BadRequest):
        render(rule.query, rule, QueryScope("ns", parse_selector("app.kubernetes.io/name=x")))


def test_unsafe_templates_are_refused_at_load_with_their_paths() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(
            {
                "metrics": [
                    {"name": "queue_depth", "query": "max(q{<<.LabelMatchers>>})"},
                    {"name": "free_text", "query": "sum(anything)"},
                    {"name": "typo", "query": "sum(x{<<.LabelMatcher>>})"},
                    {"name": "joined", "query": "sum(x)", "workload_selector": "pod_labels"},
                    {"name": "per_pod", "query": "sum(x{<<.LabelMatchers>>})", "pods_query": "sum by (pod) (x)"},
                ]
            },
            source="rules.yaml",
        )
    problems = dict(caught.value.problems)
    assert set(problems) == {"metrics[1].query", "metrics[2].query", "metrics[3].query", "metrics[4].pods_query"}
    assert "must use <<.LabelMatchers>>" in problems["metrics[1].query"]
    assert "unknown placeholder <<.LabelMatcher>>" in problems["metrics[2].query"]
    assert "must use <<.PodLabelMatchers>>" in problems["metrics[3].query"]
    assert "rules.yaml" in str(caught.value)


def test_user_rules_override_presets() -> None:
    good = settings_from_mapping({"metrics": [{"name": "queue_depth", "query": "max(q{<<.LabelMatchers>>})"}]}, source="x")
    assert resolve_rules(good, source="x")["queue_depth"].query == "max(q{<<.LabelMatchers>>})"


def test_nothing_to_serve_is_a_config_error() -> None:
    settings = settings_from_mapping({"signals": {"gpu": "none", "server": "none"}}, source="x.yaml")
    with pytest.raises(ConfigError, match="no metric would be served"):
        resolve_rules(settings, source="x.yaml")


def test_forecast_signals_named_in_the_config_must_be_served() -> None:
    settings = settings_from_mapping(
        {"signals": {"server": "none"}, "forecasts": {"signals": ["requests_per_second", "gpu_utilization"]}},
        source="f.yaml",
    )
    with pytest.raises(ConfigError) as caught:
        resolve_rules(settings, source="f.yaml")
    assert caught.value.problems == [("forecasts.signals[0]", "no metric named 'requests_per_second' is served")]


def test_default_forecast_signal_is_dropped_quietly_when_not_served() -> None:
    settings = settings_from_mapping({"signals": {"server": "none"}}, source="f.yaml")
    assert "requests_per_second" not in resolve_rules(settings, source="f.yaml")


def test_planned_metrics_may_be_tracked() -> None:
    settings = settings_from_mapping(
        {"forecasts": {"workloads": [{"namespace": "a", "track": ["requests_per_second_planned"]}]}}, source="f.yaml"
    )
    assert "requests_per_second" in resolve_rules(settings, source="f.yaml")


def test_tracked_forecasts_must_be_forecast_signals() -> None:
    settings = settings_from_mapping(
        {"forecasts": {"workloads": [{"namespace": "a", "track": ["queue_depth_forecast"]}]}}, source="f.yaml"
    )
    with pytest.raises(ConfigError) as caught:
        resolve_rules(settings, source="f.yaml")
    assert caught.value.problems == [
        ("forecasts.workloads[0].track", "'queue_depth_forecast': 'queue_depth' is not in forecasts.signals")
    ]
    with pytest.raises(ConfigError, match="names end in _forecast or _planned"):
        settings_from_mapping({"forecasts": {"workloads": [{"namespace": "a", "track": ["queue_depth"]}]}}, source="f")
    with pytest.raises(ConfigError):
        settings_from_mapping({"forecasts": {"workloads": [{"namespace": "a", "selector": "a in b"}]}}, source="f")


@pytest.mark.parametrize("name", ["requests_per_second_forecast", "requests_per_second_planned"])
def test_a_metric_may_not_take_the_name_of_a_forecast(name: str) -> None:
    settings = settings_from_mapping({"metrics": [{"name": name, "query": "sum(x{<<.LabelMatchers>>})"}]}, source="f.yaml")
    with pytest.raises(ConfigError) as caught:
        resolve_rules(settings, source="f.yaml")
    assert caught.value.problems == [("metrics[0].name", f"{name!r} is served for the forecast of 'requests_per_second'")]


def test_a_metric_named_like_the_forecast_of_an_unforecast_signal_is_its_own() -> None:
    settings = settings_from_mapping({"metrics": [{"name": "queue_planned", "query": "sum(x{<<.LabelMatchers>>})"}]}, source="f")
    assert "queue_planned" in resolve_rules(settings, source="f")
