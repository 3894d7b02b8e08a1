"""A small hand-written SVG: throughput and p99 latency against concurrency, the gateway beside echo.

No plotting library: two panels of polylines on a log2 concurrency axis, a few dozen lines of SVG text
that any browser shows and a diff can read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

W, H = 900, 380
PANEL_W, PANEL_H = 360, 260
LEFT, TOP = 80, 50
GAP = 90
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _nice_max(value: float) -> float:
    if value <= 0 or math.isnan(value):
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _panel(x0: float, title: str, unit: str, xs: Sequence[int],
           series: Sequence[tuple[str, Sequence[float]]]) -> list[str]:
    values = [v for _, ys in series for v in ys if not math.isnan(v)]
    top = _nice_max(max(values, default=1.0))
    lo, hi = math.log2(min(xs)), math.log2(max(xs))
    span = (hi - lo) or 1.0

    def px(x: int) -> float:
        return x0 + (math.log2(x) - lo) / span * PANEL_W

    def py(y: float) -> float:
        return TOP + PANEL_H - y / top * PANEL_H

    out = [f'<text x="{x0 + PANEL_W / 2}" y="{TOP - 18}" text-anchor="middle" font-weight="bold">'
           f'{escape(title)}</text>',
           f'<rect x="{x0}" y="{TOP}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#999"/>']
    for i in range(5):
        y = top * i / 4
        out.append(f'<line x1="{x0}" x2="{x0 + PANEL_W}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 6}" y="{py(y) + 4:.1f}" text-anchor="end" font-size="11">{y:g}</text>')
    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{TOP + PANEL_H + 16}" text-anchor="middle" font-size="11">{x}</text>')
    out.append(f'<text x="{x0 + PANEL_W / 2}" y="{TOP + PANEL_H + 34}" text-anchor="middle" font-size="12">'
               'calls in flight (concurrency)</text>')
    out.append(f'<text x="{x0 - 52}" y="{TOP + PANEL_H / 2}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 {x0 - 52} {TOP + PANEL_H / 2})">{escape(unit)}</text>')
    for (_label, ys), colour in zip(series, COLOURS):
        points = [(px(x), py(y)) for x, y in zip(xs, ys) if not math.isnan(y)]
        out.append('<polyline fill="none" stroke-width="2" stroke="{}" points="{}"/>'.format(
            colour, " ".join(f"{a:.1f},{b:.1f}" for a, b in points)))
        out += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colour}"/>' for a, b in points]
    return out


def sweep_svg(title: str, concurrency: Sequence[int], series: Sequence[tuple[str, Sequence[float], Sequence[float]]]
              ) -> str:
    """series: (label, calls/s per concurrency, p99 ms per concurrency)."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
             'font-family="sans-serif" font-size="13">',
             f'<rect width="{W}" height="{H}" fill="white"/>',
             f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="14">{escape(title)}</text>']
    parts += _panel(LEFT, "throughput", "calls/s", concurrency, [(label, tput) for label, tput, _ in series])
    parts += _panel(LEFT + PANEL_W + GAP, "p99 latency", "ms", concurrency, [(label, p99) for label, _, p99 in series])
    for i, ((label, _, _), colour) in enumerate(zip(series, COLOURS)):
        x = LEFT + i * 260
        parts.append(f'<rect x="{x}" y="{H - 22}" width="14" height="4" fill="{colour}"/>')
        parts.append(f'<text x="{x + 20}" y="{H - 16}" font-size="12">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
