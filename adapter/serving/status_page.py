"""A small HTML page at ``/``: what the adapter serves and the current value of every tracked key,
so a person can see it working without Grafana. Every value shows its unit and stays on one line;
a metric's name links to its API path, which would otherwise take half the width. Every dynamic
string is HTML-escaped."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from html import escape
from urllib.parse import urlencode

from adapter.kubernetes.wire import (
    CUSTOM_GROUP,
    CUSTOM_VERSION,
    EXTERNAL_GROUP,
    EXTERNAL_VERSION,
    rfc3339,
)
from adapter.settings.config import MetricRule
from adapter.signals.units import unit_of
from adapter.tracking.store import KeyView
from adapter.tracking.tracker import TrackedView

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin-bottom:2rem}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f3f3} .num{text-align:right;font-variant-numeric:tabular-nums}
td.num,td.time,td.unit{white-space:nowrap}
.banner{background:#fff3cd;border:1px solid #e0c56e;padding:.6rem 1rem;margin-bottom:1rem}
.error{color:#a00} code{font-size:.9em}
"""


def _quantity(value: float | None, unit: str = "") -> str:
    """``12.5 requests/s``; empty when there is no value."""
    if value is None:
        return ""
    return escape(f"{value:.4g} {unit}" if unit else f"{value:.4g}")


def _value_cells(view: KeyView) -> str:
    if view.error is not None:
        return f'<td class="error" colspan="2">{escape(view.error)}</td>'
    if view.reading is None:
        return '<td colspan="2">evaluating…</td>'
    unit = unit_of(view.key.metric)
    values = "<br>".join(
        f"{escape(labels.get('pod', '')) + ': ' if 'pod' in labels else ''}{_quantity(value, unit)}"
        for labels, value in view.reading.values
    )
    return f'<td class="num">{values}</td><td class="time">{escape(rfc3339(view.reading.timestamp))}</td>'


def _path(view: KeyView) -> str:
    key = view.key
    if key.api == "external":
        path = f"/apis/{EXTERNAL_GROUP}/{EXTERNAL_VERSION}/namespaces/{key.namespace}/{key.metric}"
    else:
        path = f"/apis/{CUSTOM_GROUP}/{CUSTOM_VERSION}/namespaces/{key.namespace}/pods/*/{key.metric}"
    return path + (f"?{urlencode({'labelSelector': key.selector})}" if key.selector else "")


def _forecast_rows(forecasts: Sequence[TrackedView]) -> str:
    rows = []
    for item in forecasts:
        view = item.view
        rows.append(
            f"<tr><td><code>{escape(item.key.signal)}_forecast</code></td><td>{escape(item.key.namespace)}</td>"
            f"<td><code>{escape(item.key.selector or '(all)')}</code></td><td>{escape(view.state)}</td>"
            f"<td>{escape(view.model or '')}</td><td class=\"num\">{_quantity(view.upper)}</td>"
            f"<td class=\"num\">{_quantity(view.mean)}</td><td class=\"num\">{_quantity(item.recent_mae)}</td>"
            f"<td class=\"unit\">{escape(unit_of(item.key.signal))}</td><td class=\"num\">{item.history_points}</td>"
            f"<td>{escape(view.reason or '')}</td></tr>"
        )
    return "".join(rows)


def _served_rows(rules: Mapping[str, MetricRule], forecast_signals: Collection[str]) -> str:
    """Every metric the APIs serve, forecasts included, by name."""
    meanings = {name: (rule.description, "yes" if rule.pods_query else "no") for name, rule in rules.items()}
    for signal in forecast_signals:
        meanings[f"{signal}_forecast"] = (f"Upper forecast of {signal} over the window one pod start-up from now.", "no")
        meanings[f"{signal}_planned"] = (f"The larger of {signal} now and its forecast: one metric for an HPA.", "no")
    return "".join(
        f"<tr><td><code>{escape(name)}</code></td><td class=\"unit\">{escape(unit_of(name))}</td>"
        f"<td>{escape(meaning)}</td><td>{per_pod}</td></tr>"
        for name, (meaning, per_pod) in sorted(meanings.items())
    )


def render(
    *,
    rules: Mapping[str, MetricRule],
    forecast_signals: Collection[str],
    views: Sequence[KeyView],
    forecasts: Sequence[TrackedView],
    banner: str | None,
    now: float,
) -> str:
    """The whole page; it refreshes itself every 5 seconds."""
    rows = "".join(
        f"<tr><td><a href=\"{escape(_path(view))}\"><code>{escape(view.key.metric)}</code></a></td>"
        f"<td>{escape(view.key.api)}</td><td>{escape(view.key.namespace)}</td>"
        f"<td><code>{escape(view.key.selector or '(all)')}</code></td>{_value_cells(view)}</tr>"
        for view in views
    )
    banner_html = f'<div class="banner">{escape(banner)}</div>' if banner else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Foresight</title><style>{_STYLE}</style></head><body>
<h1>Foresight</h1>{banner_html}
<p>Now: {escape(rfc3339(now))}. Values are refreshed in the background; this page reloads every 5 s.</p>
<h2>Tracked values</h2>
<table><tr><th>metric</th><th>API</th><th>namespace</th><th>selector</th><th>value</th><th>read at</th></tr>
{rows or '<tr><td colspan="6">No key is tracked yet: the first request for a metric registers it.</td></tr>'}
</table>
<h2>Forecasts</h2>
<table><tr><th>metric</th><th>namespace</th><th>selector</th><th>state</th><th>model</th><th>served (upper)</th>
<th>mean</th><th>recent MAE</th><th>unit</th><th>history points</th><th>note</th></tr>
{_forecast_rows(forecasts) or '<tr><td colspan="11">No forecast is tracked yet: the first request for a forecast metric starts one.</td></tr>'}
</table>
<h2>Metrics served</h2>
<table><tr><th>name</th><th>unit</th><th>meaning</th><th>per pod</th></tr>
{_served_rows(rules, forecast_signals)}</table>
<p><a href="/metrics">/metrics</a> · <a href="/apis/{EXTERNAL_GROUP}/{EXTERNAL_VERSION}">external metrics discovery</a>
· <a href="/apis/{CUSTOM_GROUP}/{CUSTOM_VERSION}">custom metrics discovery</a></p>
</body></html>
"""
