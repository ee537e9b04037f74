"""The ``foresight`` command: parses arguments, loads settings and hands off; how each command
ended becomes its exit code in :mod:`adapter.commands.exit_codes`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import ipaddress
import json
import logging
import os
import socket
import ssl
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from forecasting import one_thread_per_process

# backtest, replay and report fit models in this process too, beside their workers: its BLAS must
# start with one thread like theirs, so before anything below loads numpy (two threads contending
# with the workers made each fit here about nine times slower)
one_thread_per_process()

from aiohttp import web
from prometheus_client import CollectorRegistry

from adapter import __version__
from adapter.access.authentication_source import (
    DEFAULT_EXTRA_HEADERS_PREFIXES,
    DEFAULT_GROUP_HEADERS,
    DEFAULT_USERNAME_HEADERS,
    AuthenticationOptions,
)
from adapter.access.client_certs import CertificateAuthorities, InvalidBundle
from adapter.access.control import AccessControl
from adapter.access.kube_api import NoKubeConfig
from adapter.access.secure_serving import SecureServingOptions, secure_serving, serving_certificate
from adapter.access.serving_tls import ServingCertificate
from adapter.app.assembly import assemble
from adapter.app.config_reload import ConfigReloader
from adapter.commands import command_options, exit_codes
from adapter.commands import replay as replay_command
from adapter.commands import report as report_command
from adapter.commands.command_options import UsageError
from adapter.commands.preflight import command as preflight_command
from adapter.commands.progress import Progress
from adapter.keda.serving import ScalerListener, ScalerTls
from adapter.kubernetes.selectors import parse_selector
from adapter.observability.logs import configure_logging
from adapter.serving import listener
from adapter.serving.connection_guard import ConnectionLimits
from adapter.settings.config import load_settings, serving_prometheus
from adapter.signals.presets import resolve_rules
from adapter.signals.rules import QueryScope, render
from adapter.sources.prometheus import PrometheusSource
from adapter.upstream.upstreams import Upstreams

log = logging.getLogger("foresight")
SHUTDOWN_GRACE_SECONDS = 20.0
"""From SIGTERM to exit; the pod's 30 s grace period includes a 5 s preStop sleep."""
DRAIN_SECONDS = SHUTDOWN_GRACE_SECONDS - 5.0
"""What requests in flight get, leaving the rest for cleanup (the forecast workers are terminated)."""
DESCRIPTION = (
    "Kubernetes external and custom metrics for GPU inference, read from Prometheus, with forecasts "
    "so that HorizontalPodAutoscalers scale before demand arrives. Try it with 'foresight demo'."
)


def _parser() -> argparse.ArgumentParser:
    logging_options = argparse.ArgumentParser(add_help=False)
    logging_options.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=argparse.SUPPRESS)
    logging_options.add_argument("--log-format", choices=["text", "json"], default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="foresight", description=DESCRIPTION, parents=[logging_options])
    parser.add_argument("--version", action="version", version=f"foresight {__version__}")
    parser.set_defaults(log_level="info", log_format="text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_command = functools.partial(commands.add_parser, parents=[logging_options])

    serve = add_command(
        "serve", help="serve the metrics APIs from Prometheus",
        parents=[_secure_serving_options(), _connection_options(), _keda_options()],
    )
    serve.add_argument("--config", type=Path, required=True, help="YAML config file")
    serve.add_argument("--secure-port", type=int, default=6443, help="HTTPS port (default 6443)")
    serve.add_argument("--bind-address", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    serve.add_argument(
        "--insecure-local", action="store_true",
        help="plain HTTP on a loopback --bind-address (default 127.0.0.1) at --port; for local trials only",
    )
    serve.add_argument("--port", type=int, default=8080, help="port for --insecure-local (default 8080)")

    demo = add_command(
        "demo", help="serve a simulated GPU inference fleet (no cluster needed)",
        parents=[_secure_serving_options(), _connection_options(), _keda_options()],
    )
    demo.add_argument("--port", type=int, default=8080, help="plain HTTP port on 127.0.0.1 (default 8080)")
    demo.add_argument(
        "--secure-port", type=int,
        help="serve HTTPS here instead, with serve's authentication and authorization flags",
    )
    demo.add_argument("--bind-address", default="127.0.0.1", help="address of --secure-port (default 127.0.0.1)")
    demo.add_argument("--trace", type=Path, help="drive demand from a timestamp,requests CSV trace")
    demo.add_argument("--speed", default="1", help="simulated seconds per real second (default 1)")

    nvml = add_command("nvml-exporter", help="export GPU metrics under dcgm-exporter's names (a DaemonSet on GPU nodes)")
    nvml.add_argument("--port", type=int, default=9400, help="port of /metrics and /healthz (default 9400)")
    nvml.add_argument("--bind-address", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    nvml.add_argument("--interval", default="1s", help="time between sweeps over the GPUs (default 1s)")
    nvml.add_argument("--hostname", help="host name label value (default: $NODE_NAME, else this host's name)")
    nvml.add_argument(
        "--hostname-label", default="Hostname", choices=["Hostname", "hostname"],
        help="host name label: Hostname as most dcgm-exporter releases, hostname as the newest",
    )
    nvml.add_argument("--proc-root", type=Path, default=Path("/proc"), help="procfs of the host PID namespace")
    nvml.add_argument(
        "--containers-dir", type=Path, default=Path("/var/log/containers"),
        help="the kubelet's container log links, which name each GPU process's pod",
    )

    backtest = add_command("backtest", help="walk-forward evaluation of every forecasting model on a trace")
    backtest.add_argument("--trace", type=Path, required=True,
                          help="timestamp,requests CSV trace (or timestamp,requests,prompt_tokens,generation_tokens)")
    backtest.add_argument("--demand", choices=("requests", "prompt_tokens", "generation_tokens"), default="requests",
                          help="the trace's column forecast: requests (default), prompt_tokens or generation_tokens")
    backtest.add_argument("--lead", default="5m", help="how far ahead to forecast (default 5m; at least one step)")
    backtest.add_argument("--window", default="5m",
                          help="window after the lead whose max the served bound must cover (default 5m)")
    backtest.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    backtest.add_argument("--workers", help="worker processes that walk the models and select (default: one per core)")

    replay = add_command("replay", help="replay a trace through reactive, predictive and ideal autoscaling")
    replay_command.add_arguments(replay)

    preflight = add_command(
        "preflight", help="read the cluster before installing: who serves the metrics APIs, KEDA, the front proxy, "
        "the series Prometheus holds; exit 0 when an install path takes nothing from anyone",
    )
    preflight_command.add_arguments(preflight)

    report = add_command("report", help="a capacity forecast report: GPUs, energy and the HPA to run, from a trace "
                         "or Prometheus")
    report_command.add_arguments(report)

    check = add_command("check-config", help="validate a config and print every metric's PromQL")
    check.add_argument("config", type=Path)
    check.add_argument("--namespace", default="default", help="namespace of the sample request")
    check.add_argument("--selector", default="app=llama", help="label selector of the sample request")
    return parser


def _connection_options() -> argparse.ArgumentParser:
    """Bounds on what clients may hold open, so no client can exhaust the process's memory."""
    defaults = ConnectionLimits()
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("connections")
    group.add_argument("--max-connections", type=int, default=defaults.max_connections,
                       help=f"client connections open at once, TLS handshakes included (default {defaults.max_connections})")
    group.add_argument("--max-connections-per-client", type=int, default=defaults.max_per_client,
                       help=f"connections open at once from one address (default {defaults.max_per_client})")
    return options


def _keda_options() -> argparse.ArgumentParser:
    """KEDA's external scaler, served beside the metrics APIs on the same store and forecasts."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("KEDA external scaler")
    group.add_argument("--keda-port", type=int, help="serve KEDA's external scaler (gRPC) on this port, at "
                       "--bind-address, with the serving certificate of --tls-cert-file")
    group.add_argument("--keda-client-ca", type=Path, help="CA bundle (PEM) of KEDA's client certificate; any "
                       "certificate it issued may read every metric through the scaler")
    group.add_argument("--keda-insecure-local", action="store_true",
                       help="serve the scaler in plaintext without client certificates, on loopback only; "
                       "for local trials")
    return options


def _secure_serving_options() -> argparse.ArgumentParser:
    """The generic apiserver's serving and delegated authentication/authorization flags."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("secure serving")
    group.add_argument("--tls-cert-file", type=Path, help="serving certificate (PEM); generated in memory when absent")
    group.add_argument("--tls-private-key-file", type=Path, help="key of --tls-cert-file (PEM)")
    group.add_argument("--kubeconfig", type=Path, help="kubeconfig for TokenReview, SubjectAccessReview and the "
                       "authentication ConfigMap (default: the in-cluster service account)")
    group.add_argument("--client-ca-file", type=Path, help="CA bundle; a client certificate it issued is the user "
                       "of its CN in the groups of its O")
    group.add_argument("--requestheader-client-ca-file", type=Path, help="CA bundle of the front proxy's client "
                       "certificates (default: from kube-system/extension-apiserver-authentication)")
    group.add_argument("--requestheader-allowed-names", type=_comma_list, default=(),
                       help="CNs the front proxy's certificate may have, comma-separated (empty: any)")
    group.add_argument("--requestheader-username-headers", type=_comma_list, default=DEFAULT_USERNAME_HEADERS,
                       help="headers carrying the user name (default X-Remote-User)")
    group.add_argument("--requestheader-group-headers", type=_comma_list, default=DEFAULT_GROUP_HEADERS,
                       help="headers carrying the groups (default X-Remote-Group)")
    group.add_argument("--requestheader-extra-headers-prefix", type=_comma_list,
                       default=DEFAULT_EXTRA_HEADERS_PREFIXES, help="prefixes of extra-info headers (default X-Remote-Extra-)")
    group.add_argument("--authentication-skip-lookup", action="store_true",
                       help="do not read kube-system/extension-apiserver-authentication")
    group.add_argument("--authentication-token-webhook-cache-ttl", default="10s",
                       help="how long TokenReview answers are remembered (default 10s)")
    group.add_argument("--authorization-webhook-cache-authorized-ttl", default="10s",
                       help="how long SubjectAccessReview allows are remembered (default 10s)")
    group.add_argument("--authorization-webhook-cache-unauthorized-ttl", default="10s",
                       help="how long SubjectAccessReview denials are remembered (default 10s)")
    return options


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _serving_options(args: argparse.Namespace, *, require_kube_api: bool) -> SecureServingOptions:
    durations = {flag: command_options.duration(getattr(args, flag), f"--{flag.replace('_', '-')}")
                 for flag in ("authentication_token_webhook_cache_ttl", "authorization_webhook_cache_authorized_ttl",
                              "authorization_webhook_cache_unauthorized_ttl")}
    return SecureServingOptions(
        tls_cert_file=args.tls_cert_file,
        tls_private_key_file=args.tls_private_key_file,
        kubeconfig=args.kubeconfig,
        authentication=AuthenticationOptions(
            client_ca_file=args.client_ca_file,
            requestheader_client_ca_file=args.requestheader_client_ca_file,
            requestheader_allowed_names=args.requestheader_allowed_names,
            requestheader_username_headers=args.requestheader_username_headers,
            requestheader_group_headers=args.requestheader_group_headers,
            requestheader_extra_headers_prefix=args.requestheader_extra_headers_prefix,
            skip_lookup=args.authentication_skip_lookup,
        ),
        token_cache_seconds=durations["authentication_token_webhook_cache_ttl"],
        allowed_cache_seconds=durations["authorization_webhook_cache_authorized_ttl"],
        denied_cache_seconds=durations["authorization_webhook_cache_unauthorized_ttl"],
        require_kube_api=require_kube_api,
    )


def _secure_serving(
    options: SecureServingOptions, certificate: ServingCertificate
) -> tuple[ssl.SSLContext, AccessControl]:
    try:
        return secure_serving(options, certificate)
    except NoKubeConfig as error:
        raise UsageError(f"{error}; serve authorises every request with the kube-apiserver") from None


def _loopback(bind_address: str, *, flag: str) -> str:
    """The loopback address ``flag`` serves on: ``--bind-address``, where it is one."""
    host = "127.0.0.1" if bind_address in ("0.0.0.0", "localhost") else bind_address
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise UsageError(f"--bind-address {host!r} is not an IP address") from None
    if not loopback:
        raise UsageError(f"{flag} serves without authentication and only on loopback, not {host}")
    return host


def _check_keda_flags(args: argparse.Namespace) -> None:
    if args.keda_port is None:
        if args.keda_client_ca is not None or args.keda_insecure_local:
            raise UsageError("--keda-client-ca and --keda-insecure-local go with --keda-port")
    elif args.keda_insecure_local:
        if args.keda_client_ca is not None:
            raise UsageError("--keda-insecure-local serves plaintext: it takes no --keda-client-ca")
        _loopback(args.bind_address, flag="--keda-insecure-local")
    elif args.keda_client_ca is None:
        raise UsageError(
            "--keda-port needs --keda-client-ca, the CA of KEDA's client certificate (or --keda-insecure-local "
            "for plaintext on loopback)"
        )


def _keda_listener(args: argparse.Namespace, certificate: Callable[[], ServingCertificate]) -> ScalerListener | None:
    """The scaler's listener the flags ask for (checked by :func:`_check_keda_flags`), if any."""
    if args.keda_port is None:
        return None
    if args.keda_insecure_local:
        log.warning("--keda-insecure-local: the KEDA scaler serves plaintext without client certificates")
        return ScalerListener(_loopback(args.bind_address, flag="--keda-insecure-local"), args.keda_port, None,
                              drain_seconds=DRAIN_SECONDS)
    client_ca = args.keda_client_ca.read_text()
    try:
        CertificateAuthorities(client_ca)
    except InvalidBundle as error:
        raise UsageError(f"--keda-client-ca {args.keda_client_ca}: {error}") from None
    tls = ScalerTls(certificate(), client_ca.encode())
    return ScalerListener(args.bind_address, args.keda_port, tls, drain_seconds=DRAIN_SECONDS)


def _check_config(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    rules = resolve_rules(settings, source=str(args.config))
    prometheus = serving_prometheus(settings, source=str(args.config))
    scope = QueryScope(args.namespace, parse_selector(args.selector))
    print(f"{args.config}: valid; {len(rules)} metrics, sample namespace {args.namespace!r}, selector {args.selector!r}")
    print(f"prometheus: {prometheus.base_url}")
    upstreams = Upstreams.from_settings(settings.upstream, source=str(args.config))
    for upstream in (upstreams.external, upstreams.custom):
        if upstream is not None:
            identity = "the caller's identity over a front-proxy certificate" if upstream.forwards_identity else "as Foresight"
            print(f"upstream {upstream.group_version}: {upstream.url} ({identity})")
    for name, rule in rules.items():
        print(f"\n{name}  (window {rule.window:g}s, on_nan={rule.on_nan}, on_inf={rule.on_inf}, on_empty={rule.on_empty})")
        if rule.description:
            print(f"  {rule.description}")
        print(f"  external: {render(rule.query, rule, scope)}")
        if rule.pods_query is not None:
            print(f"  per pod:  {render(rule.pods_query, rule, scope)}")
    lead, window = settings.forecasts.lead, settings.forecasts.window
    ahead = (
        f"[now+L, now+L+{window:g}s], L the measured start-up of the workload's pods" if isinstance(lead, str)
        else f"[now+{lead:g}s, now+{lead + window:g}s]"
    )
    for signal in settings.forecasts.signals:
        if signal in rules:
            print(f"\n{signal}_forecast  (upper p{settings.forecasts.quantile * 100:g} forecast of {signal} over {ahead})")
            print(f"{signal}_planned  (the larger of {signal} and {signal}_forecast)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    _check_keda_flags(args)
    settings = load_settings(args.config)
    rules = resolve_rules(settings, source=str(args.config))
    prometheus = serving_prometheus(settings, source=str(args.config))
    upstreams = Upstreams.from_settings(settings.upstream, source=str(args.config))
    options = _serving_options(args, require_kube_api=True)
    ssl_context: ssl.SSLContext | None = None
    access: AccessControl | None = None
    certificate: ServingCertificate | None = None
    if args.insecure_local:
        host, port = _loopback(args.bind_address, flag="--insecure-local"), args.port
        log.warning("--insecure-local: plain HTTP without authentication or authorization, for local trials only")
    else:
        host, port = args.bind_address, args.secure_port
        certificate = serving_certificate(options)
        ssl_context, access = _secure_serving(options, certificate)
    keda = _keda_listener(args, lambda: certificate or serving_certificate(options))
    source = PrometheusSource.open(prometheus, max_concurrency=settings.refresh.concurrency)
    adapter = assemble(
        rules=rules, source=source, refresh=settings.refresh, forecasts=settings.forecasts, access=access, keda=keda,
        upstreams=upstreams,
    )
    app = adapter.app
    ConfigReloader(args.config, settings, adapter.reconfigure).watch(adapter.supervisor)
    scheme = "https" if ssl_context else "http"
    log.info("serving %d metrics from %s on %s://%s:%d", len(rules), prometheus.base_url, scheme, host, port)
    for upstream in (upstreams.external, upstreams.custom):
        if upstream is not None:
            log.info("forwarding the %s metrics it does not serve to %s", upstream.group_version, upstream.url)
    _run(app, adapter.registry, args=args, host=host, port=port, ssl_context=ssl_context)
    return 0


def _connection_limits(args: argparse.Namespace) -> ConnectionLimits:
    if args.max_connections < 1 or args.max_connections_per_client < 1:
        raise UsageError("--max-connections and --max-connections-per-client must be at least 1")
    return ConnectionLimits(max_connections=args.max_connections, max_per_client=args.max_connections_per_client)


def _run(
    app: web.Application, registry: CollectorRegistry, *, args: argparse.Namespace, host: str, port: int,
    ssl_context: ssl.SSLContext | None,
) -> None:
    """Serve until SIGTERM, and be gone within ``SHUTDOWN_GRACE_SECONDS`` of it: requests in flight
    drain first, then the cleanup runs."""
    limits = _connection_limits(args)
    asyncio.run(listener.serve(
        app, host=host, port=port, ssl_context=ssl_context, limits=limits, registry=registry,
        drain_seconds=DRAIN_SECONDS,
    ))


def _demo(args: argparse.Namespace) -> int:
    from adapter.commands.demo import (
        run_demo,  # imports numpy and the simulator only when asked
    )

    speed = command_options.positive(args.speed, "--speed")
    _connection_limits(args)  # checked before the fleet's history is generated
    _check_keda_flags(args)
    options = _serving_options(args, require_kube_api=False)
    certificate: ServingCertificate | None = None
    if args.secure_port is None:
        host, port, ssl_context, access = "127.0.0.1", args.port, None, None
    else:
        host, port = args.bind_address, args.secure_port
        certificate = serving_certificate(options)
        ssl_context, access = _secure_serving(options, certificate)
    keda = _keda_listener(args, lambda: certificate or serving_certificate(options))
    serve = functools.partial(_run, args=args, host=host, port=port, ssl_context=ssl_context)
    return run_demo(
        host=host, port=port, trace_path=args.trace, speed=speed, ssl_context=ssl_context, access=access,
        serve=serve, keda=keda,
    )


def _backtest(args: argparse.Namespace) -> int:
    # the model libraries load only for this command
    from forecasting import Series, read_trace, run_backtest, usable_cores

    lead = command_options.duration(args.lead, "--lead")
    window = command_options.duration(args.window, "--window")
    workers = usable_cores() if args.workers is None else command_options.whole(args.workers, "--workers")
    trace = read_trace(args.trace).demand(args.demand)
    series = Series(trace.rate_per_second(), trace.step_seconds, trace.start)
    progress = Progress(f"backtest {trace.name}")
    try:
        report = run_backtest(series, name=trace.name, lead_seconds=lead, window_seconds=window, progress=progress,
                              workers=workers)
    finally:
        progress.close()
    print(json.dumps(report.to_json()) if args.json else report.table())
    return 0


def _nvml_exporter(args: argparse.Namespace) -> int:
    from adapter.nvml import (  # imports pynvml only when asked
        ExporterSettings,
        NvmlUnavailable,
        run_exporter,
    )

    interval = command_options.positive_duration(args.interval, "--interval")
    settings = ExporterSettings(
        hostname=args.hostname or os.environ.get("NODE_NAME") or socket.gethostname(),
        port=args.port,
        interval=interval,
        hostname_label=args.hostname_label,
        bind_address=args.bind_address,
        proc_root=args.proc_root,
        containers_dir=args.containers_dir,
    )
    try:
        return run_exporter(settings)
    except NvmlUnavailable as error:
        raise exit_codes.CommandFailed(str(error)) from error


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    handlers = {
        "serve": _serve,
        "demo": _demo,
        "backtest": _backtest,
        "check-config": _check_config,
        "nvml-exporter": _nvml_exporter,
        "replay": replay_command.run,
        "preflight": preflight_command.run,
        "report": report_command.run,
    }
    return exit_codes.exit_code(f"foresight {args.command}", functools.partial(handlers[args.command], args))


if __name__ == "__main__":
    sys.exit(main())
