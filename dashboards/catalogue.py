"""Every dashboard and the file it is written to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard

from . import adapter, autoscaling, capacity
from .grafana import to_json

DIRECTORY = Path(__file__).resolve().parent
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "gpu-inference-autoscaling.json": autoscaling.build,
    "foresight-adapter.json": adapter.build,
    "capacity.json": capacity.build,
}


def rendered() -> dict[str, str]:
    """Each dashboard's file name and JSON text."""
    return {name: to_json(build()) for name, build in DASHBOARDS.items()}


def write_all() -> list[Path]:
    paths = []
    for name, text in rendered().items():
        path = DIRECTORY / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
