"""``foresight preflight``: read the cluster and the configured Prometheus, print the report, and
exit 0 only when the install path is clear."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from adapter.access.kube_api import NoKubeConfig, api_client
from adapter.commands.exit_codes import FAILURE
from adapter.commands.preflight.advice import advise
from adapter.commands.preflight.cluster import CannotRead, read_cluster
from adapter.commands.preflight.report import render
from adapter.commands.preflight.series import PrometheusUnreachable, Visibility, visible_series
from adapter.settings.config import load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig of the cluster (default: the in-cluster service account)")
    parser.add_argument("--config", type=Path, help="Foresight's config: its Prometheus is checked for the series it reads")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config) if args.config is not None else None
    try:
        api = api_client(args.kubeconfig)
    except NoKubeConfig as error:
        print(f"foresight preflight: {error}")
        return FAILURE
    try:
        facts = read_cluster(api)
    except CannotRead as error:
        print(f"foresight preflight: {error}")
        return FAILURE
    finally:
        api.close()  # type: ignore[no-untyped-call]
    series: list[Visibility] | None = None
    problem = None
    prometheus = settings.prometheus.base_url if settings is not None and settings.prometheus is not None else None
    if settings is not None and settings.prometheus is not None:
        try:
            series = asyncio.run(visible_series(settings))
        except PrometheusUnreachable as error:
            problem = str(error)
    advice = advise(facts, series, problem)
    print(render(facts, series, advice, prometheus=prometheus))
    return advice.exit_code
