"""The metrics served for each forecast signal, by name: ``<signal>_forecast``, the forecast bound
over [now+L, now+L+H], and ``<signal>_planned``, the larger of the signal's current value and that
bound, so one HPA metric both follows demand and looks ahead.

One place knows the suffixes, so the config, the presets, discovery and the handlers agree.
"""

from __future__ import annotations

from typing import Literal

ForecastKind = Literal["forecast", "planned"]
SUFFIXES: dict[ForecastKind, str] = {"forecast": "_forecast", "planned": "_planned"}


def forecast_metric_names(signal: str) -> list[str]:
    """Every metric name served for a forecast of ``signal``."""
    return [f"{signal}{suffix}" for suffix in SUFFIXES.values()]


def parse_forecast_metric(name: str) -> tuple[str, ForecastKind] | None:
    """The signal ``name`` is served for and which of its forecast metrics it is, or None when the
    name has no forecast suffix (whether the signal is forecast is the caller's question)."""
    for kind, suffix in SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return name.removesuffix(suffix), kind
    return None
