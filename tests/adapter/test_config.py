"""The settings model: defaults, and every problem reported with the file and field."""

from pathlib import Path

import pytest

from adapter.kubernetes.errors import ConfigError
from adapter.settings.config import load_settings, settings_from_mapping


def problems_of(data: object) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(data, source="test.yaml")
    return dict(caught.value.problems)


def test_empty_file_gives_documented_defaults() -> None:
    settings = settings_from_mapping(None, source="test.yaml")
    assert settings.refresh.interval == 15
    assert settings.refresh.staleness == 120
    assert settings.refresh.idle_after == 600
    assert settings.signals.gpu == "dcgm" and settings.signals.server == "vllm"
    assert settings.signals.workload_labels == "pod_labels"
    assert settings.prometheus is None


def test_durations_accept_prometheus_syntax() -> None:
    settings = settings_from_mapping(
        {"refresh": {"interval": "30s", "staleness": "1h30m", "idle_after": "7d"}}, source="test.yaml"
    )
    assert (settings.refresh.interval, settings.refresh.staleness, settings.refresh.idle_after) == (30, 5400, 604800)


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    problems = problems_of(
        {
            "prometheus": {"url": "ftp://x", "timeout": "2h"},
            "refresh": {"interval": "soon", "surprise": 1},
            "metrics": [{"name": "GPU_Util", "query": "x"}],
        }
    )
    assert set(problems) == {
        "prometheus.url",
        "prometheus.timeout",
        "refresh.interval",
        "refresh.surprise",
        "metrics[0].name",
        "metrics[0].query",
    }
    assert "http" in problems["prometheus.url"]
    assert "60s" in problems["prometheus.timeout"]
    assert "not a duration" in problems["refresh.interval"]


def test_forecasts_are_calibrated_unless_the_config_says_none() -> None:
    assert settings_from_mapping(None, source="test.yaml").forecasts.calibration == "conformal"
    settings = settings_from_mapping({"forecasts": {"calibration": "none"}}, source="test.yaml")
    assert settings.forecasts.calibration == "none"
    problems = problems_of({"forecasts": {"calibration": "isotonic"}})
    assert set(problems) == {"forecasts.calibration"} and "'conformal' or 'none'" in problems["forecasts.calibration"]


def test_the_selections_read_back_are_this_deployments_by_its_scrape_labels() -> None:
    assert settings_from_mapping(None, source="test.yaml").forecasts.published_labels == {"job": "foresight"}
    settings = settings_from_mapping({"forecasts": {"published_labels": {"job": "foresight-staging"}}}, source="test.yaml")
    assert settings.forecasts.published_labels == {"job": "foresight-staging"}
    for labels, reason in (({"job-name": "x"}, "not a Prometheus label name"), ({"__name__": "x"}, "not a Prometheus label name"),
                           ({"selected": "arima"}, "label of the published series itself"),
                           ({"job": ""}, "empty value"), ({"job": 3}, "valid string")):
        problems = problems_of({"forecasts": {"published_labels": labels}})
        [(path, problem)] = problems.items()
        assert path.startswith("forecasts.published_labels") and reason in problem, problems


def test_duplicate_metric_names_are_refused() -> None:
    rule = {"name": "x", "query": "sum(a{<<.LabelMatchers>>})"}
    problems = problems_of({"metrics": [rule, rule]})
    assert any("defined twice" in reason for reason in problems.values())


def test_generic_server_needs_valid_metric_names() -> None:
    assert "signals" in problems_of({"signals": {"server": "generic"}})
    problems = problems_of(
        {"signals": {"server": "generic", "generic": {"requests_total": "bad name", "latency_histogram": "h"}}}
    )
    assert "signals.generic.requests_total" in problems


def test_generic_llm_series_are_refused_by_the_field_that_names_them() -> None:
    fields = ("kv_cache_gauge", "ttft_histogram", "itl_histogram", "prompt_tokens_total", "generation_tokens_total", "running_gauge")
    generic = {"requests_total": "http_requests_total", "latency_histogram": "h"} | {field: f"bad {field}" for field in fields}
    problems = problems_of({"signals": {"server": "generic", "generic": generic}})
    assert set(problems) == {f"signals.generic.{field}" for field in fields}
    assert all("not a Prometheus metric name" in problems[f"signals.generic.{field}"] for field in fields)


def test_carbon_needs_exactly_one_source() -> None:
    assert "signals.carbon" in problems_of({"signals": {"carbon": {}}})
    assert "signals.carbon" in problems_of({"signals": {"carbon": {"grams_per_kwh": 1, "query": "x"}}})


def test_prometheus_base_url_joins_the_path_prefix() -> None:
    settings = settings_from_mapping(
        {"prometheus": {"url": "https://mimir.example:8080/", "path_prefix": "/prometheus"}}, source="test.yaml"
    )
    assert settings.prometheus is not None
    assert settings.prometheus.base_url == "https://mimir.example:8080/prometheus"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match="absent.yaml"):
        load_settings(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("refresh:\n  interval: [1,\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(broken)
    assert "broken.yaml" in str(caught.value)
    assert "line" in caught.value.problems[0][0]


def test_a_list_at_top_level_is_refused() -> None:
    assert "(top level)" in problems_of([1, 2])


def test_windows_are_whole_seconds() -> None:
    problems = problems_of({"signals": {"window": "1500ms"}, "metrics": [{"name": "m", "query": "x{<<.LabelMatchers>>}", "window": 0.5}]})
    assert "whole number of seconds" in problems["signals.window"]
    assert "metrics[0].window" in problems


def test_a_lead_is_a_duration_or_auto() -> None:
    settings = settings_from_mapping(
        {"forecasts": {"lead": "auto", "workloads": [{"namespace": "a", "lead": "auto"}, {"namespace": "b", "lead": "90s"}]}},
        source="test.yaml",
    )
    assert settings.forecasts.lead == "auto"
    assert [workload.lead for workload in settings.forecasts.workloads] == ["auto", 90.0]
    assert settings_from_mapping(None, source="test.yaml").forecasts.lead == 180


def test_a_lead_that_is_neither_names_its_field() -> None:
    problems = problems_of({"forecasts": {"lead": "Auto", "workloads": [{"namespace": "a", "lead": "-1s"}, {"namespace": "b", "lead": 0}]}})
    assert problems == {
        "forecasts.lead": "'Auto' is neither a duration such as 3m nor auto (the pods' measured start-up)",
        "forecasts.workloads[0].lead": "'-1s' is neither a duration such as 3m nor auto (the pods' measured start-up)",
        "forecasts.workloads[1].lead": "must be greater than 0",
    }


def test_a_quantile_is_the_mean_at_one_half_or_an_upper_one_below_one() -> None:
    settings = settings_from_mapping(
        {"forecasts": {"quantile": 0.5, "workloads": [{"namespace": "a", "quantile": 0.8}, {"namespace": "b"}]}},
        source="test.yaml",
    )
    assert settings.forecasts.quantile == 0.5
    assert [workload.quantile for workload in settings.forecasts.workloads] == [0.8, None]
    problems = problems_of({"forecasts": {"quantile": 1, "workloads": [{"namespace": "a", "quantile": 0.4}]}})
    assert set(problems) == {"forecasts.quantile", "forecasts.workloads[0].quantile"}
