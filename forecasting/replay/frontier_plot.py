"""The frontier as a picture: GPU-hours against the share of requests over the SLO, the share on
a log scale, since the budgets users hold (0.5 % to 5 %) are where the families part, and a
linear scale squeezes them against the axis under the dearest misses; a share of 0 is drawn at
the scale's floor, :data:`FLOOR_PERCENT`.

Each family's frontier is a line through its points, every configuration swept a faint dot of its
family's colour, the oracle's GPU-hours a vertical line and the default reactive HPA (the one plain
``foresight replay`` runs) a point of its own. Written as :mod:`forecasting.replay.plot` writes the
replay's plot: ``.html`` and ``.svg`` as plain SVG, ``.png`` through matplotlib. The PNG is drawn
at the SVG's size with its axes where the SVG has them, so a point sits at the same pixel in both.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from forecasting.replay.frontier import Point
from forecasting.replay.plot import (
    BOTTOM,
    COLOURS,
    HEIGHT,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    check_plot_path,
    legend,
    page,
    pyplot,
    svg_start,
    ticks,
)
from forecasting.replay.report import frontier_table
from forecasting.replay.sweep import FrontierResult

X_LABEL = "GPU-hours over the replay (GPU·h)"
FLOOR_PERCENT = 0.01
Y_LABEL = f"requests over the SLO (%, log scale; 0 at {FLOOR_PERCENT:g})"
FAMILIES = (("reactive", False), ("predictive", True))


class FrontierFrame:
    """Maps GPU-hours and shares over the SLO to SVG coordinates (PNG pixels too)."""

    def __init__(self, result: FrontierResult) -> None:
        hours = [point.gpu_hours for point in _all_points(result)] + [result.oracle.gpu_hours]
        shares = [point.slo_violation_share for point in _all_points(result)]
        low, high = min(hours), max(hours)
        pad = 0.05 * (high - low) if high > low else max(0.5, 0.05 * high)
        self.x_low, self.x_high = max(0.0, low - pad), high + pad
        self.y_high = math.log10(max(100 * max(shares), 10 * FLOOR_PERCENT)) + 0.05
        """log10 of the highest percentage shown, a little above the dearest miss."""
        self.y_low = math.log10(FLOOR_PERCENT) - 0.1
        """A little below the floor, so that points at 0 % are drawn whole."""

    def x(self, gpu_hours: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (gpu_hours - self.x_low) / (self.x_high - self.x_low)

    def y(self, share: float) -> float:
        return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (_log_percent(share) - self.y_low) / (self.y_high - self.y_low)

    def y_ticks(self) -> list[float]:
        """Percentages at each power of ten from the floor up to the highest shown."""
        return [10.0 ** power for power in range(round(math.log10(FLOOR_PERCENT)), math.floor(self.y_high) + 1)]

    def at(self, point: Point) -> tuple[float, float]:
        return self.x(point.gpu_hours), self.y(point.slo_violation_share)


def _log_percent(share: float) -> float:
    return math.log10(max(100 * share, FLOOR_PERCENT))


def _all_points(result: FrontierResult) -> list[Point]:
    return [*result.points(False), *result.points(True), result.default_reactive.point()]


def title(result: FrontierResult) -> str:
    return f"Foresight frontier: {result.trace}"


def write_frontier_plot(result: FrontierResult, path: Path) -> None:
    check_plot_path(path)
    suffix = path.suffix.lower()
    if suffix == ".html":
        path.write_text(page(title(result), frontier_svg(result), frontier_table(result)), encoding="utf-8")
    elif suffix == ".svg":
        path.write_text(frontier_svg(result), encoding="utf-8")
    else:
        _write_png(result, path)


def frontier_svg(result: FrontierResult) -> str:
    frame = FrontierFrame(result)
    parts = svg_start()
    parts.extend(_axes(frame, title(result)))
    oracle = frame.x(result.oracle.gpu_hours)
    parts.append(f'<line class="oracle" x1="{oracle:.1f}" y1="{TOP}" x2="{oracle:.1f}" y2="{HEIGHT - BOTTOM}" '
                 f'stroke="{COLOURS["oracle"]}" stroke-width="1.5" stroke-dasharray="6 4">'
                 f'<title>oracle: {result.oracle.gpu_hours:.1f} GPU-h</title></line>')
    for name, predictive in FAMILIES:
        colour = COLOURS[name]
        for point in result.points(predictive):
            x, y = frame.at(point)
            parts.append(f'<circle class="{name} configuration" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}" '
                         f'fill-opacity="0.35"/>')
    for name, predictive in FAMILIES:
        colour, front = COLOURS[name], result.frontier(predictive)
        line = " ".join(f"{'L' if index else 'M'}{x:.1f},{y:.1f}"
                        for index, (x, y) in enumerate(frame.at(point) for point in front))
        parts.append(f'<path class="{name} frontier" d="{line}" fill="none" stroke="{colour}" stroke-width="1.5">'
                     f'<title>{name} frontier</title></path>')
        for point in front:
            x, y = frame.at(point)
            parts.append(f'<circle class="{name} frontier" cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                         f'<title>{html.escape(_label(point))}</title></circle>')
    default = result.default_reactive.point()
    x, y = frame.at(default)
    parts.append(f'<path class="default" d="M{x:.1f},{y - 7:.1f} L{x + 7:.1f},{y:.1f} L{x:.1f},{y + 7:.1f} '
                 f'L{x - 7:.1f},{y:.1f} Z" fill="{COLOURS["default"]}" stroke="black" stroke-width="0.5">'
                 f'<title>default reactive HPA: {html.escape(_label(default))}</title></path>')
    parts.extend(legend([("reactive", "reactive frontier"), ("predictive", "predictive frontier"),
                         ("oracle", "oracle GPU-hours"), ("default", "default reactive HPA")], spacing=170))
    parts.append("</svg>")
    return "\n".join(parts)


def _label(point: Point) -> str:
    return f"{point.gpu_hours:.1f} GPU-h, {point.slo_violation_share:.3%} over the SLO"


def _axes(frame: FrontierFrame, heading: str) -> list[str]:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = [f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="black"/>',
             f'<text x="{right}" y="{TOP - 6}" text-anchor="end" font-size="13">{html.escape(heading)}</text>',
             f'<text x="{(LEFT + right) / 2}" y="{HEIGHT - 12}" text-anchor="middle">{html.escape(X_LABEL)}</text>',
             f'<text x="16" y="{(TOP + bottom) / 2}" text-anchor="middle" '
             f'transform="rotate(-90 16 {(TOP + bottom) / 2})">{html.escape(Y_LABEL)}</text>']
    for tick in ticks(frame.x_high, frame.x_low):
        x = frame.x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="black"/>'
                     f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{tick:g}</text>')
    for tick in frame.y_ticks():
        y = frame.y(tick / 100)
        parts.append(f'<line x1="{LEFT - 5}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e0e0e0"/>'
                     f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    return parts


def _shown_percent(point: Point) -> float:
    return 10 ** _log_percent(point.slo_violation_share)


def _write_png(result: FrontierResult, path: Path) -> None:
    plt = pyplot()
    frame = FrontierFrame(result)
    dpi = 100
    figure = plt.figure(figsize=(WIDTH / dpi, HEIGHT / dpi), dpi=dpi)
    axes = figure.add_axes((LEFT / WIDTH, BOTTOM / HEIGHT, (WIDTH - LEFT - RIGHT) / WIDTH,
                            (HEIGHT - TOP - BOTTOM) / HEIGHT))
    axes.set_xlim(frame.x_low, frame.x_high)
    axes.set_yscale("log")
    axes.set_ylim(10 ** frame.y_low, 10 ** frame.y_high)
    axes.axvline(result.oracle.gpu_hours, color=COLOURS["oracle"], linestyle="--", linewidth=1.5,
                 label="oracle GPU-hours")
    for name, predictive in FAMILIES:
        points = result.points(predictive)
        axes.scatter([p.gpu_hours for p in points], [_shown_percent(p) for p in points], s=14,
                     color=COLOURS[name], alpha=0.35, linewidths=0, label=f"{name} configurations")
    for name, predictive in FAMILIES:
        front = result.frontier(predictive)
        axes.plot([p.gpu_hours for p in front], [_shown_percent(p) for p in front], color=COLOURS[name],
                  linewidth=1.5, marker="o", markersize=6, label=f"{name} frontier")
    default = result.default_reactive.point()
    axes.plot([default.gpu_hours], [_shown_percent(default)], linestyle="none", marker="D", markersize=9,
              color=COLOURS["default"], markeredgecolor="black", markeredgewidth=0.5, label="default reactive HPA")
    axes.set_xlabel(X_LABEL)
    axes.set_ylabel(Y_LABEL)
    axes.set_title(title(result), fontsize=11)
    axes.grid(axis="y", color="#e0e0e0")
    axes.legend(loc="lower left", fontsize=8)  # cheap and few misses: the corner no frontier reaches
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
