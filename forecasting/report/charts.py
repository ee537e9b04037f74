"""A small SVG chart: linear axes with ticks, lines, a band, points, bars and reference lines, in
the replay plots' size and colours. Plain SVG, so a report embeds it without any library or
network, and a missing value breaks a line instead of drawing a false zero."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from forecasting.replay.plot import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, svg_start, ticks


class Chart:
    """Collects elements in data coordinates; :meth:`svg` draws them with the axes."""

    def __init__(self, title: str, *, x_label: str, y_label: str, x_range: tuple[float, float],
                 y_top: float, x_tick_labels: Sequence[tuple[float, str]] | None = None) -> None:
        low, high = x_range
        self._x_low, self._x_high = low, high if high > low else low + 1.0
        self._y_top = y_top if y_top > 0 and math.isfinite(y_top) else 1.0
        self._title, self._x_label, self._y_label = title, x_label, y_label
        self._x_ticks = x_tick_labels
        self._parts: list[str] = []
        self._legend: list[tuple[str, str]] = []

    def x(self, value: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (value - self._x_low) / (self._x_high - self._x_low)

    def y(self, value: float) -> float:
        return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * min(value, 1.05 * self._y_top) / (1.05 * self._y_top)

    def line(self, xs: Sequence[float], ys: Sequence[float], *, colour: str, label: str, width: float = 1.5) -> None:
        parts, pen_down = [], False
        for x, y in zip(xs, ys, strict=True):
            if not (math.isfinite(x) and math.isfinite(y)):
                pen_down = False
                continue
            parts.append(f"{'L' if pen_down else 'M'}{self.x(x):.1f},{self.y(y):.1f}")
            pen_down = True
        self._parts.append(f'<path class="line" d="{" ".join(parts)}" fill="none" stroke="{colour}" '
                           f'stroke-width="{width}"><title>{html.escape(label)}</title></path>')
        self._key(label, colour)

    def band(self, xs: Sequence[float], low: Sequence[float], high: Sequence[float], *, colour: str,
             label: str) -> None:
        top = [f"{self.x(x):.1f},{self.y(y):.1f}" for x, y in zip(xs, high, strict=True)]
        bottom = [f"{self.x(x):.1f},{self.y(y):.1f}" for x, y in zip(reversed(xs), reversed(low), strict=True)]
        self._parts.append(f'<polygon class="band" points="{" ".join(top + bottom)}" fill="{colour}" '
                           f'fill-opacity="0.25" stroke="none"><title>{html.escape(label)}</title></polygon>')
        self._key(label, colour)

    def points(self, xs: Sequence[float], ys: Sequence[float], *, colour: str, label: str, radius: float = 2.0) -> None:
        self._parts.extend(f'<circle class="point" cx="{self.x(x):.1f}" cy="{self.y(y):.1f}" r="{radius}" '
                           f'fill="{colour}" fill-opacity="0.5"/>'
                           for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y))
        self._key(label, colour)

    def bars(self, xs: Sequence[float], ys: Sequence[float], *, width: float, colour: str, label: str,
             notes: Sequence[str] = ()) -> None:
        for index, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if not (math.isfinite(x) and math.isfinite(y)):
                continue  # an unknown value is no bar, never a broken one
            left, right, top = self.x(x - width / 2), self.x(x + width / 2), self.y(y)
            note = notes[index] if index < len(notes) else ""
            self._parts.append(f'<rect class="bar" x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" '
                               f'height="{HEIGHT - BOTTOM - top:.1f}" fill="{colour}"><title>{html.escape(note)}'
                               f'</title></rect>')
            if note:
                self._parts.append(f'<text x="{(left + right) / 2:.1f}" y="{top - 4:.1f}" text-anchor="middle" '
                                   f'font-size="11">{html.escape(note)}</text>')
        self._key(label, colour)

    def hline(self, y: float, *, colour: str, label: str) -> None:
        self._parts.append(f'<line x1="{LEFT}" y1="{self.y(y):.1f}" x2="{WIDTH - RIGHT}" y2="{self.y(y):.1f}" '
                           f'stroke="{colour}" stroke-dasharray="6 4" stroke-width="1.5"/>')
        self._key(label, colour)

    def vline(self, x: float, *, colour: str, label: str) -> None:
        self._parts.append(f'<line x1="{self.x(x):.1f}" y1="{TOP}" x2="{self.x(x):.1f}" y2="{HEIGHT - BOTTOM}" '
                           f'stroke="{colour}" stroke-dasharray="6 4" stroke-width="1.5"/>')
        self._key(label, colour)

    def svg(self) -> str:
        parts = svg_start()
        bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
        parts += [f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>',
                  f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="black"/>',
                  f'<text x="{right}" y="{TOP - 6}" text-anchor="end" font-size="13">{html.escape(self._title)}</text>',
                  f'<text x="{(LEFT + right) / 2}" y="{HEIGHT - 12}" text-anchor="middle">'
                  f'{html.escape(self._x_label)}</text>',
                  f'<text x="16" y="{(TOP + bottom) / 2}" text-anchor="middle" '
                  f'transform="rotate(-90 16 {(TOP + bottom) / 2})">{html.escape(self._y_label)}</text>']
        x_ticks = self._x_ticks or [(tick, f"{tick:g}") for tick in ticks(self._x_high, self._x_low)]
        for value, text in x_ticks:
            x = self.x(value)
            parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="black"/>'
                         f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{html.escape(text)}</text>')
        for tick in ticks(self._y_top):
            y = self.y(tick)
            parts.append(f'<line x1="{LEFT - 5}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e0e0e0"/>'
                         f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
        parts += self._parts
        for index, (label, colour) in enumerate(self._legend):
            x = LEFT + 10 + index * 190
            parts.append(f'<rect x="{x}" y="12" width="14" height="4" fill="{colour}"/>'
                         f'<text x="{x + 20}" y="18">{html.escape(label)}</text>')
        parts.append("</svg>")
        return "\n".join(parts)

    def _key(self, label: str, colour: str) -> None:
        if all(label != known for known, _ in self._legend):
            self._legend.append((label, colour))
