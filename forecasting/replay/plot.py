"""The replay as a picture: demand, each controller's ready capacity and the forecast band over time.

``.html`` and ``.svg`` are drawn here as plain SVG, with no plotting library, so the server's image
does not carry one. ``.png`` is drawn by matplotlib (the ``plot`` extra); without it the request
is refused with a message saying how to install it.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

from forecasting.core import FloatArray, InputError
from forecasting.replay.forecasts import block_means
from forecasting.replay.report import table
from forecasting.replay.simulation import ReplayResult

WIDTH, HEIGHT = 1000, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 50
MAX_POINTS = 1500
"""Samples are averaged into at most this many points per line: enough for the eye, small files."""
COLOURS = {"demand": "#444444", "reactive": "#d62728", "predictive": "#1f77b4", "oracle": "#2ca02c",
           "band": "#1f77b4",
           "default": "#ff7f0e"}
FORMATS = (".html", ".svg", ".png")


class PlotError(InputError):
    """The plot cannot be written in the asked format."""


def check_plot_path(path: Path) -> None:
    """Raise PlotError when ``path`` names a format that cannot be written here (checked before a
    replay, so a long run does not end in a refusal)."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise PlotError(f"{path}: the plot is written as {', '.join(FORMATS)}, not {suffix or 'a file without suffix'}")
    if suffix == ".png" and importlib.util.find_spec("matplotlib") is None:
        raise PlotError(f"{path}: writing .png needs matplotlib, which is not installed (pip install "
                        f"'foresight[plot]'); write .html or .svg instead")


def write_plot(result: ReplayResult, path: Path) -> None:
    check_plot_path(path)
    suffix = path.suffix.lower()
    if suffix == ".html":
        path.write_text(html_page(result), encoding="utf-8")
    elif suffix == ".svg":
        path.write_text(svg(result), encoding="utf-8")
    else:
        _write_png(result, path)


def pyplot() -> Any:
    """matplotlib's pyplot, drawing to files only (the caller has checked it is installed)."""
    importlib.import_module("matplotlib").use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def _write_png(result: ReplayResult, path: Path) -> None:
    plt = pyplot()
    hours = _hours(result)
    timeline = result.timeline
    figure, axes = plt.subplots(figsize=(12, 5))
    lead = timeline.forecast_lead_seconds / 3600
    axes.fill_between(hours + lead, timeline.forecast_mean, timeline.forecast_upper, color=COLOURS["band"],
                      alpha=0.15, label="forecast (mean to upper)")
    axes.plot(hours, timeline.demand, color=COLOURS["demand"], linewidth=0.8, label="demand")
    for name, capacity in timeline.capacity.items():
        axes.plot(hours, capacity, color=COLOURS[name], linewidth=1.0, label=f"{name} ready capacity")
    axes.set_xlabel("hours since the replay started")
    axes.set_ylabel("requests per second")
    axes.set_title(result.trace)
    axes.legend(loc="upper left")
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _hours(result: ReplayResult) -> FloatArray:
    return (result.timeline.times - result.start) / 3600


def html_page(result: ReplayResult) -> str:
    """A self-contained page: the SVG and the table."""
    return page(f"Foresight replay: {result.trace}", svg(result), table(result))


def page(title: str, picture: str, text: str) -> str:
    """A self-contained page: a title, an SVG picture and text under it."""
    title = html.escape(title)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>body{{font-family:sans-serif;margin:2em}}pre{{font-size:13px}}</style></head>\n"
            f"<body><h1>{title}</h1>\n{picture}\n<pre>{html.escape(text)}</pre></body></html>\n")


class _Frame:
    """Maps hours and requests per second to SVG coordinates."""

    def __init__(self, span_hours: float, top_rate: float) -> None:
        self.span = span_hours if span_hours > 0 else 1.0
        self.top = top_rate if top_rate > 0 else 1.0

    def x(self, hours: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * hours / self.span

    def y(self, rate: float) -> float:
        return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * rate / self.top

    def path(self, hours: FloatArray, values: FloatArray) -> str:
        """An SVG path through the finite points, broken where a value is missing."""
        parts, pen_down = [], False
        for hour, value in zip(hours, values, strict=True):
            if not (math.isfinite(hour) and math.isfinite(value)) or hour > self.span:
                pen_down = False
                continue
            parts.append(f"{'L' if pen_down else 'M'}{self.x(float(hour)):.1f},{self.y(float(value)):.1f}")
            pen_down = True
        return " ".join(parts)


def svg(result: ReplayResult) -> str:
    timeline = result.timeline
    size = max(1, math.ceil(len(timeline.times) / MAX_POINTS))
    hours = block_means(_hours(result), size)
    lines = {"demand": block_means(timeline.demand, size)}
    lines.update({name: block_means(capacity, size) for name, capacity in timeline.capacity.items()})
    upper, mean = block_means(timeline.forecast_upper, size), block_means(timeline.forecast_mean, size)
    shifted = hours + timeline.forecast_lead_seconds / 3600
    finite = [float(np.nanmax(values)) for values in (*lines.values(), upper) if np.isfinite(values).any()]
    frame = _Frame((result.end - result.start) / 3600, 1.05 * max(finite, default=1.0))
    parts = svg_start()
    parts.extend(_axes(frame))
    parts.extend(_band(frame, shifted, mean, upper))
    for name, values in lines.items():
        width = 1.0 if name == "demand" else 1.5
        dash = ' stroke-dasharray="4 3"' if name == "oracle" else ""
        parts.append(f'<path d="{frame.path(hours, values)}" fill="none" stroke="{COLOURS[name]}" '
                     f'stroke-width="{width}"{dash}><title>{name}</title></path>')
    parts.extend(_legend())
    parts.append("</svg>")
    return "\n".join(parts)


def svg_start() -> list[str]:
    """The opening of an SVG picture of WIDTH by HEIGHT on white (close it with ``</svg>``)."""
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']


def _band(frame: _Frame, hours: FloatArray, mean: FloatArray, upper: FloatArray) -> list[str]:
    """The forecast band, one polygon per run of known values."""
    known = np.isfinite(mean) & np.isfinite(upper) & (hours <= frame.span)
    polygons, start = [], None
    for index in range(len(hours) + 1):
        if index < len(hours) and known[index]:
            start = index if start is None else start
            continue
        if start is not None:
            run = slice(start, index)
            top = [f"{frame.x(float(h)):.1f},{frame.y(float(v)):.1f}" for h, v in zip(hours[run], upper[run], strict=True)]
            bottom = [f"{frame.x(float(h)):.1f},{frame.y(float(v)):.1f}"
                      for h, v in zip(hours[run][::-1], mean[run][::-1], strict=True)]
            polygons.append(f'<polygon points="{" ".join(top + bottom)}" fill="{COLOURS["band"]}" fill-opacity="0.15" '
                            f'stroke="none"><title>forecast, mean to upper bound</title></polygon>')
            start = None
    return polygons


def _axes(frame: _Frame) -> list[str]:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = [f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="black"/>',
             f'<text x="{(LEFT + right) / 2}" y="{HEIGHT - 12}" text-anchor="middle">hours since the replay started</text>',
             f'<text x="16" y="{(TOP + bottom) / 2}" text-anchor="middle" '
             f'transform="rotate(-90 16 {(TOP + bottom) / 2})">requests per second</text>']
    for tick in ticks(frame.span):
        x = frame.x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="black"/>'
                     f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{tick:g}</text>')
    for tick in ticks(frame.top):
        y = frame.y(tick)
        parts.append(f'<line x1="{LEFT - 5}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e0e0e0"/>'
                     f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    return parts


def ticks(top: float, bottom: float = 0.0) -> list[float]:
    """Round tick values from ``bottom`` to ``top``, about five of them."""
    raw = (top - bottom) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(factor * magnitude for factor in (1, 2, 5, 10) if factor * magnitude >= raw)
    first = math.ceil(bottom / step - 1e-9)
    return [round(index * step, 10) for index in range(first, int(top / step + 1e-9) + 1)]


def _legend() -> list[str]:
    return legend([("demand", "demand"), ("reactive", "reactive ready capacity"),
                   ("predictive", "predictive ready capacity"), ("oracle", "oracle ready capacity"),
                   ("band", "forecast band (mean to upper bound)")])


def legend(entries: list[tuple[str, str]], *, spacing: int = 180) -> list[str]:
    """A row of (colour key, label) entries above the plot."""
    parts = []
    for index, (key, label) in enumerate(entries):
        x = LEFT + 10 + index * spacing
        parts.append(f'<rect x="{x}" y="12" width="14" height="4" fill="{COLOURS[key]}"/>'
                     f'<text x="{x + 20}" y="18">{html.escape(label)}</text>')
    return parts
