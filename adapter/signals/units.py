"""The unit of a served metric, read from its name, so that a person reading a value knows what
it counts. The presets' names are listed; other rules follow Prometheus's naming convention of a
base unit as the last word (``_seconds``, ``_joules``, ``tokens_per_second``). A forecast metric
(``_forecast``, ``_planned``) has the unit of its signal."""

from __future__ import annotations

from adapter.settings.forecast_names import parse_forecast_metric

_PRESETS = {
    "gpu_utilization": "%",
    "latency_p99_seconds": "s",
    "queue_depth": "requests",
    "requests_per_second": "requests/s",
    "energy_per_request_joules": "J/request",
    "carbon_per_request_milligrams": "mg CO2e/request",
}
_LAST_WORD = {
    "seconds": "s",
    "joules": "J",
    "milligrams": "mg",
    "grams": "g",
    "watts": "W",
    "bytes": "B",
    "percent": "%",
}


def unit_of(metric: str) -> str:
    """The unit of ``metric``'s values, or ``""`` where the name does not say."""
    name, _ = parse_forecast_metric(metric) or (metric, None)
    if name in _PRESETS:
        return _PRESETS[name]
    if name.endswith("_per_second"):
        counted = name.removesuffix("_per_second").rsplit("_", 1)[-1]
        return f"{counted}/s"
    unit = _LAST_WORD.get(name.rsplit("_", 1)[-1], "")
    if unit and "_per_request_" in name:
        return f"{unit}/request"
    return unit
