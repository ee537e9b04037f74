"""The one settings model, validated at load: every problem is reported at once with its path.

Only the CLI reads files; everything else receives a frozen :class:`Settings`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from adapter.kubernetes.errors import BadRequest, ConfigError
from adapter.kubernetes.selectors import parse_selector
from adapter.settings.durations import parse_duration
from adapter.settings.forecast_names import parse_forecast_metric
from adapter.settings.templates import template_problems
from forecasting import DEFAULT_CALIBRATION, Calibration, validation_problems


def _duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15s, 5m or 7d")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("expected a duration such as 15s, 5m or 7d")


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]
"""Seconds, written in the file as ``15s``, ``5m``, ``1h`` or ``7d`` (a bare number is seconds)."""


def _whole_seconds(seconds: float) -> float:
    if seconds != int(seconds):
        raise ValueError(f"{seconds:g}s is not a whole number of seconds (PromQL windows are)")
    return seconds


Window = Annotated[float, BeforeValidator(_duration), Field(ge=1), AfterValidator(_whole_seconds)]
"""A PromQL range window: a duration of whole seconds."""


def _under_proxy_timeout(timeout: float) -> float:
    if timeout > 50:
        raise ValueError("must be at most 50s (the kube-apiserver gives up at 60s)")
    return timeout


QueryTimeout = Annotated[Duration, AfterValidator(_under_proxy_timeout)]
"""How long a request may wait on another server: under the kube-apiserver's own 60 s."""

NonFinitePolicy = Literal["zero", "last_good", "error"]
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,200}$")
PROMETHEUS_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class BasicAuth(_Frozen):
    username: str
    """User name sent to Prometheus."""
    password_file: Path
    """File holding the password (mounted from a Secret); read at start-up."""


class PrometheusTLS(_Frozen):
    ca_file: Path | None = None
    """CA bundle that signs Prometheus's serving certificate; the system store when unset."""
    cert_file: Path | None = None
    """Client certificate for mutual TLS (with ``key_file``)."""
    key_file: Path | None = None
    """Private key of ``cert_file``."""
    insecure_skip_verify: bool = False
    """Do not verify Prometheus's certificate. For tests only."""

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> PrometheusTLS:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self


class PrometheusSettings(_Frozen):
    url: str
    """Base URL of the Prometheus HTTP API (Prometheus, Thanos Query, Mimir...)."""
    path_prefix: str = ""
    """Extra path before ``/api/v1`` (e.g. ``/prometheus`` for Mimir), joined to ``url``."""
    timeout: QueryTimeout = 10.0
    """Per-query timeout; well under the kube-apiserver's 60 s proxy timeout."""
    bearer_token_file: Path | None = None
    """File holding a bearer token, re-read at start-up (a service-account token path works)."""
    basic_auth: BasicAuth | None = None
    """HTTP basic authentication."""
    tls: PrometheusTLS = PrometheusTLS()
    """TLS options for an ``https`` URL."""
    headers: dict[str, str] = {}
    """Extra headers on every query, e.g. ``X-Scope-OrgID`` for a Mimir or Thanos tenant."""

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} must be an absolute http(s) URL")
        return url

    @field_validator("path_prefix")
    @classmethod
    def _prefix_is_a_path(cls, prefix: str) -> str:
        if prefix and not prefix.startswith("/"):
            raise ValueError("must start with '/'")
        return prefix

    @model_validator(mode="after")
    def _one_kind_of_auth(self) -> PrometheusSettings:
        if self.bearer_token_file is not None and self.basic_auth is not None:
            raise ValueError("give bearer_token_file or basic_auth, not both")
        return self

    @property
    def base_url(self) -> str:
        """``url`` and ``path_prefix`` joined, without a trailing slash."""
        return self.url.rstrip("/") + self.path_prefix.rstrip("/")


class CarbonIntensity(_Frozen):
    grams_per_kwh: float | None = Field(default=None, ge=0)
    """Constant grid carbon intensity in gCO2e/kWh."""
    query: str | None = None
    """PromQL returning the grid intensity in gCO2e/kWh (the max of its series is used)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> CarbonIntensity:
        if (self.grams_per_kwh is None) == (self.query is None):
            raise ValueError("give exactly one of grams_per_kwh or query")
        return self


class GenericServer(_Frozen):
    requests_total: str
    """Counter of completed requests (e.g. ``http_requests_total``)."""
    latency_histogram: str
    """Base name of a latency histogram in seconds (without ``_bucket``)."""
    queue_gauge: str | None = None
    """Gauge of waiting requests, when the server has one."""
    kv_cache_gauge: str | None = None
    """Gauge of KV-cache fill, 0 to 1, for ``kv_cache_utilization``."""
    ttft_histogram: str | None = None
    """Base name of a time-to-first-token histogram in seconds, for ``ttft_p99_seconds``."""
    itl_histogram: str | None = None
    """Base name of an inter-token latency histogram in seconds, for ``itl_p99_seconds``."""
    prompt_tokens_total: str | None = None
    """Counter of prompt tokens, for ``prompt_tokens_per_second``."""
    generation_tokens_total: str | None = None
    """Counter of generated tokens, for ``generation_tokens_per_second``."""
    running_gauge: str | None = None
    """Gauge of requests being served, for ``requests_running``."""

    @field_validator(
        "requests_total",
        "latency_histogram",
        "queue_gauge",
        "kv_cache_gauge",
        "ttft_histogram",
        "itl_histogram",
        "prompt_tokens_total",
        "generation_tokens_total",
        "running_gauge",
    )
    @classmethod
    def _metric_name(cls, name: str | None) -> str | None:
        if name is not None and not PROMETHEUS_METRIC_NAME.match(name):
            raise ValueError(f"{name!r} is not a Prometheus metric name")
        return name


class SignalSettings(_Frozen):
    gpu: Literal["dcgm", "none"] = "dcgm"
    """Where GPU series come from: dcgm-exporter or Foresight's NVML exporter (same names)."""
    server: Literal["vllm", "sglang", "triton", "tgi", "generic", "none"] = "vllm"
    """Which inference server's metrics give demand, latency and queue, and the LLM signals (KV
    cache, TTFT, inter-token latency, tokens per second) each server exports; ``generic`` names
    its series in :attr:`generic`."""
    workload_labels: Literal["pod_labels", "series"] = "pod_labels"
    """How an HPA selector picks series: ``pod_labels`` joins kube-state-metrics'
    ``kube_pod_labels`` (pod labels must be allowlisted there); ``series`` matches the labels the
    inference server's series carry themselves. GPU series always use the join."""
    window: Window = 60.0
    """Rate window of the preset queries."""
    token_latency_quantile: float = Field(default=0.99, gt=0.0, lt=1.0)
    """The quantile ``ttft_p99_seconds`` and ``itl_p99_seconds`` serve (the names stay, so HPAs
    written against them need not change)."""
    carbon: CarbonIntensity | None = None
    """Grid carbon intensity; ``carbon_per_request_milligrams`` is served when set."""
    generic: GenericServer | None = None
    """Metric names for ``server: generic``."""

    @model_validator(mode="after")
    def _generic_needs_names(self) -> SignalSettings:
        if self.server == "generic" and self.generic is None:
            raise ValueError("server: generic needs a 'generic' section naming its metrics")
        return self


class MetricRule(_Frozen):
    name: str
    """Metric name served to HPAs; lowercase (client-go lowercases names in the path)."""
    workload_selector: Literal["series", "pod_labels"] = "series"
    """Where the HPA's selector goes: the series' own labels (``<<.LabelMatchers>>``) or the
    ``kube_pod_labels`` join (``<<.PodLabelMatchers>>``)."""
    query: str
    """PromQL template for the one aggregated value of an external metric."""
    pods_query: str | None = None
    """PromQL template returning one series per ``pod``; serves the custom metrics API."""
    window: Window = 60.0
    """Window the value covers, reported to the HPA."""
    on_nan: NonFinitePolicy = "error"
    """What a NaN result serves: ``zero`` (a measured "no load"), ``last_good`` or ``error``."""
    on_inf: NonFinitePolicy = "error"
    """What a ±Inf result serves."""
    on_empty: Literal["zero", "error"] = "error"
    """What a result with no series serves; an error by default (no data is not zero)."""
    description: str = ""
    """Shown by ``check-config`` and the status page."""

    @field_validator("query", "pods_query")
    @classmethod
    def _safe_template(cls, template: str | None, info: ValidationInfo) -> str | None:
        if template is not None:
            problems = list(template_problems(template, workload_selector=info.data.get("workload_selector", "series")))
            if problems:
                raise ValueError("; ".join(problems))
        return template

    @field_validator("name")
    @classmethod
    def _servable_name(cls, name: str) -> str:
        if not METRIC_NAME.match(name):
            raise ValueError(f"{name!r} must be lowercase letters, digits and '_', starting with a letter")
        return name


class RefreshSettings(_Frozen):
    interval: Duration = 15.0
    """How often every tracked key is re-queried."""
    staleness: Duration = 120.0
    """Oldest value served when the source fails; after that the answer is 503."""
    idle_after: Duration = 600.0
    """A key nobody asked for in this long is dropped."""
    max_keys: int = Field(default=2000, ge=1)
    """Cap on tracked (metric, namespace, selector) keys in total."""
    max_keys_per_namespace: int = Field(default=200, ge=1)
    """Cap on tracked keys per namespace, so one tenant cannot take all."""
    max_keys_per_user: int = Field(default=100, ge=1)
    """Cap on the keys one user's requests may register, for every user but ``trusted_users``: a
    user allowed to read in many namespaces cannot take the share the HPA controller needs."""
    trusted_users: tuple[str, ...] = (
        "system:serviceaccount:kube-system:horizontal-pod-autoscaler",
        "system:kube-controller-manager",
    )
    """Users whose keys only the total and namespace caps bound: the HPA controller, under its
    own service account or the controller manager's."""
    concurrency: int = Field(default=8, ge=1, le=64)
    """Queries in flight at once during a refresh."""


DEFAULT_LEAD_SECONDS = 180.0
"""The lead where none is configured, and of ``auto`` where no start-up is measured."""


def _lead(value: Any) -> float | str:
    if value == "auto":
        return "auto"
    try:
        seconds = _duration(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither a duration such as 3m nor auto (the pods' measured start-up)") from None
    if seconds <= 0:
        raise ValueError("must be greater than 0")
    return seconds


Lead = Annotated[float | Literal["auto"], BeforeValidator(_lead)]
MEAN_QUANTILE = 0.5
"""The quantile that serves the forecast's mean (the point forecast) instead of an upper bound."""
Quantile = Annotated[float, Field(ge=MEAN_QUANTILE, lt=1.0)]
"""The served quantile of the forecast: an upper quantile, or 0.5 for the mean."""
"""A lead: a duration, or ``auto`` for the start-up of the workload's pods as kube-state-metrics
measures it (``adapter.tracking.startup_leads``)."""


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_PUBLISHED_INFO_LABELS = frozenset({"metric", "namespace", "selector", "model", "selected", "state"})
"""The labels of ``foresight_forecast_info`` as the adapter publishes it."""


class WorkloadForecast(_Frozen):
    namespace: str
    """Namespace of the workload."""
    selector: str = ""
    """The HPA's label selector, as written in the HPA (matched after canonicalisation)."""
    lead: Lead | None = None
    """Time for a new pod of this workload to become ready; the forecast looks this far ahead.
    ``auto``: the p90 start-up of the workload's pods over the last day, from kube-state-metrics,
    falling back to ``forecasts.lead`` where it has none."""
    window: Duration | None = None
    """How long after ``lead`` the forecast must cover."""
    quantile: Quantile | None = None
    """The quantile served for this workload (``foresight replay --recommend`` says which);
    ``forecasts.quantile`` when not given."""
    track: tuple[str, ...] = ()
    """Forecast metrics (e.g. ``requests_per_second_forecast`` or ``requests_per_second_planned``)
    to track from start-up, before any HPA asks, so their history is backfilled and fitted in
    advance."""

    @field_validator("selector")
    @classmethod
    def _canonical_selector(cls, selector: str) -> str:
        try:
            return str(parse_selector(selector))
        except BadRequest as error:
            raise ValueError(error.message) from None

    @field_validator("track")
    @classmethod
    def _forecast_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if parse_forecast_metric(name) is None:
                raise ValueError(f"{name!r} is not a forecast metric (names end in _forecast or _planned)")
        return names


class ForecastSettings(_Frozen):
    signals: tuple[str, ...] = ("requests_per_second", "prompt_tokens_per_second", "generation_tokens_per_second")
    """Signals served with a ``<signal>_forecast`` metric; by default demand in requests and in
    tokens, where the server preset serves them."""
    lead: Lead = DEFAULT_LEAD_SECONDS
    """Default lead ``L``: how long a new pod takes to become ready; ``auto`` measures it for every
    workload (3m where kube-state-metrics has no start-up)."""
    window: Duration = 300.0
    """Default window ``H``: the forecast is the max of the upper bound over [now+L, now+L+H]."""
    quantile: Quantile = 0.9
    """Upper quantile of the forecast interval that is served; 0.5 serves the forecast's mean."""
    calibration: Calibration = DEFAULT_CALIBRATION
    """``conformal``: the served bound is calibrated on the series' own past windows, so that the
    quantile holds as often as it says; ``none``: the model's own interval."""
    step: Duration = 60.0
    """Step of the history kept per series."""
    history: Duration = 7 * 86400.0
    """History backfilled from the source when a series starts being tracked."""
    under_forecast_weight: float = Field(default=3.0, ge=1.0)
    """How much worse model selection counts an under-forecast than an over-forecast."""
    workers: int = Field(default=2, ge=1, le=32)
    """Worker processes that fit models (each about 200 MB)."""
    max_series: int = Field(default=1000, ge=1)
    """Cap on tracked forecast series; past it a new one is refused with 429."""
    max_series_per_user: int = Field(default=50, ge=1)
    """Cap on the forecast series one user's requests may start tracking (each costs seconds of a
    worker's time to select its model), for every user but ``refresh.trusted_users``."""
    workloads: tuple[WorkloadForecast, ...] = ()
    """Per-workload lead and window, and forecasts tracked from start-up."""
    published_labels: dict[str, str] = {"job": "foresight"}
    """Labels Prometheus gives this deployment's own published series (by default the job of the
    ServiceMonitor in ``manifests/``): a restarted replica reads selected models back only from
    series with every one of them, so a deployment sharing the Prometheus keeps its own; ``{}``
    reads back every deployment's."""

    @field_validator("published_labels")
    @classmethod
    def _target_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for name, value in labels.items():
            if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
                raise ValueError(f"{name!r} is not a Prometheus label name")
            if name in _PUBLISHED_INFO_LABELS:
                raise ValueError(f"{name!r} is a label of the published series itself, not of this deployment's scrape")
            if not value:
                raise ValueError(f"{name}: an empty value matches series without the label; give the value it has")
        return labels


class UpstreamAdapter(_Frozen):
    """Another metrics adapter's Service, which answers what Foresight does not serve."""

    url: str
    """Base URL of its Service, e.g. ``https://prometheus-adapter.monitoring.svc``."""
    ca_file: Path | None = None
    """CA bundle that signs its serving certificate; the system store when unset."""
    cert_file: Path | None = None
    """Foresight's client certificate (with ``key_file``), which the other adapter must trust as a
    front-proxy client (the cluster's requestheader CA, an allowed name): only over it are the
    caller's user, groups and extra re-asserted in ``X-Remote-*`` headers."""
    key_file: Path | None = None
    """Private key of ``cert_file``."""
    bearer_token_file: Path | None = None
    """Token Foresight sends as itself (a service-account token path works), re-read every minute."""
    timeout: QueryTimeout = 10.0
    """Per-request timeout; well under the kube-apiserver's 60 s proxy timeout."""
    max_connections: int = Field(default=32, ge=1, le=1024)
    """Connections to it open at once."""

    @field_validator("url")
    @classmethod
    def _https_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"{url!r} must be an absolute https URL (credentials never travel in plaintext)")
        if parts.query or parts.fragment:
            raise ValueError(f"{url!r} must have no query or fragment")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _credentials(self) -> UpstreamAdapter:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        if self.cert_file is None and self.bearer_token_file is None:
            raise ValueError(
                "give cert_file and key_file (a front-proxy client certificate: the caller's identity is "
                "forwarded) or bearer_token_file (Foresight's own identity), or both"
            )
        return self


class UpstreamSettings(_Frozen):
    external: UpstreamAdapter | None = None
    """Where external metrics Foresight does not serve are forwarded."""
    custom: UpstreamAdapter | None = None
    """Where custom metrics (custom.metrics.k8s.io/v1beta2) Foresight does not serve are forwarded."""


class Settings(_Frozen):
    prometheus: PrometheusSettings | None = None
    """The Prometheus to read; required by ``serve``."""
    signals: SignalSettings = SignalSettings()
    """Which presets provide the built-in signals."""
    metrics: tuple[MetricRule, ...] = ()
    """Your own rules; a rule named like a preset signal replaces it."""
    refresh: RefreshSettings = RefreshSettings()
    """Background refresh and key bounds."""
    forecasts: ForecastSettings = ForecastSettings()
    """Which signals get forecasts, and how far ahead."""
    upstream: UpstreamSettings = UpstreamSettings()
    """Other adapters that answer, through Foresight, the metrics it does not serve."""

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        seen: set[str] = set()
        for rule in self.metrics:
            if rule.name in seen:
                raise ValueError(f"metric {rule.name!r} is defined twice")
            seen.add(rule.name)
        return self


def serving_prometheus(settings: Settings, *, source: str) -> PrometheusSettings:
    """The Prometheus ``serve`` reads; ``check-config`` asks the same, so the two never disagree.

    ``serve`` never falls back to the demo source, so a file without ``prometheus.url`` is invalid
    for it even though the model (which the demo and tests share) leaves the section optional.
    """
    if settings.prometheus is None:
        raise ConfigError(source, [("prometheus.url", "required: serve reads every metric from Prometheus")])
    return settings.prometheus


def settings_from_mapping(data: Any, *, source: str) -> Settings:
    """Validate parsed YAML; raises :class:`ConfigError` listing every problem with its path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [("(top level)", "expected a mapping of sections")])
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(source, validation_problems(error)) from None


def load_settings(path: Path) -> Settings:
    """Read and validate a YAML config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(str(path), [("(file)", error.strerror or str(error))]) from None
    except UnicodeDecodeError as error:
        problem = f"not UTF-8 text: byte {error.start} is {error.object[error.start]:#04x}"
        raise ConfigError(str(path), [("(file)", problem)]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(str(path), [(where, f"not valid YAML: {getattr(error, 'problem', error)}")]) from None
    return settings_from_mapping(data, source=str(path))
