"""Charts as inline SVG drawn by the server (LOG-6): no script, no CDN. Every chart is an
`<svg class="chart" data-series=...>` with a `<title>`, an axis label and each value written
beside its bar, so it reads at a glance and a browser test can check it was drawn."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f")
WARN = "#e15759"
OK = "#59a14f"

Number = int | Decimal


@dataclass(frozen=True)
class Bar:
    label: str
    value: Number
    text: str = ""  # what is written at the bar's end; default the value
    limit: Number | None = None  # a budget, a target: drawn as a tick across the bar
    warn: bool = False  # drawn red: past the ring limit, over budget


def _open(series: str, title: str, width: int, height: int, data: object) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f"data-series=\"{escape(series)}\" data-values='{escape(json.dumps(data), quote=True)}'>"
        f"<title>{escape(title)}</title>"
        f'<text class="chart-title" x="4" y="16" font-weight="bold">{escape(title)}</text>'
    )


def _scale(bars: list[Bar]) -> Decimal:
    peak = max([Decimal(b.value) for b in bars] + [Decimal(b.limit) for b in bars if b.limit is not None])
    return peak if peak > 0 else Decimal(1)


def hbar_chart(
    series: str, title: str, bars: list[Bar], unit: str = "", width: int = 560, full: Number | None = None
) -> str:
    """Horizontal bars, one per label, the value written at the end; a `limit` (a budget)
    is a dark tick, and a bar past its limit is red. `full`: the value of a full-width bar
    (100 for a rate), else the largest value or limit."""
    label_w, row_h, top = 150, 24, 28
    plot_w = width - label_w - 90
    height = top + max(1, len(bars)) * row_h + 20
    out = [_open(series, title, width, height, [[b.label, str(b.value)] for b in bars])]
    if not bars:
        out.append(f'<text x="4" y="{top + 16}">no data</text>')
    peak = Decimal(full) if full else _scale(bars) if bars else Decimal(1)
    for i, bar in enumerate(bars):
        y = top + i * row_h
        w = float(Decimal(bar.value) / peak) * plot_w
        over = bar.warn or (bar.limit is not None and Decimal(bar.value) > Decimal(bar.limit))
        colour = WARN if over else PALETTE[0]
        text = bar.text or f"{bar.value}{unit}"
        out.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(bar.label)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
            f'fill="{colour}"><title>{escape(bar.label)}: {escape(text)}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}">{escape(text)}</text>'
        )
        if bar.limit is not None:
            x = label_w + float(Decimal(bar.limit) / peak) * plot_w
            out.append(
                f'<line class="limit" x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + row_h - 2}" '
                f'stroke="#222" stroke-width="2"><title>limit {escape(str(bar.limit))}{unit}</title></line>'
            )
    out.append(f'<text x="{label_w}" y="{height - 4}" fill="#555">{escape(unit.strip())}</text></svg>')
    return "".join(out)


def column_chart(series: str, title: str, bars: list[Bar], x_label: str, width: int = 420) -> str:
    """Vertical columns (a distribution: rings to answer), counts written above each."""
    height, top, bottom, left = 230, 42, 36, 30  # room above the tallest column for its count
    plot_h = height - top - bottom
    col_w = max(18, min(56, (width - left - 10) // max(1, len(bars)) - 8))
    out = [_open(series, title, width, height, [[b.label, str(b.value)] for b in bars])]
    if not bars:
        out.append(f'<text x="4" y="{top + 16}">no data</text>')
    peak = _scale(bars) if bars else Decimal(1)
    for i, bar in enumerate(bars):
        x = left + i * (col_w + 8)
        h = float(Decimal(bar.value) / peak) * plot_h
        y = top + plot_h - h
        colour = WARN if bar.warn else PALETTE[0]
        text = bar.text or str(bar.value)
        out.append(
            f'<rect class="bar" x="{x}" y="{y:.1f}" width="{col_w}" height="{h:.1f}" fill="{colour}">'
            f"<title>{escape(bar.label)}: {escape(text)}</title></rect>"
            f'<text x="{x + col_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle">{escape(text)}</text>'
            f'<text x="{x + col_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
            f"{escape(bar.label)}</text>"
        )
    out.append(f'<text x="{left}" y="{height - 4}" fill="#555">{escape(x_label)}</text></svg>')
    return "".join(out)


def stacked_chart(
    series: str, title: str, rows: dict[str, dict[str, int]], stack_order: list[str], width: int = 560
) -> str:
    """Horizontal bars stacked by part (violations: rule -> ladder step -> count), a legend
    for the parts and each bar's total at its end."""
    label_w, row_h, top = 90, 24, 28
    legend_h = 18
    plot_w = width - label_w - 60
    height = top + legend_h + max(1, len(rows)) * row_h + 10
    data = {label: dict(parts) for label, parts in rows.items()}
    out = [_open(series, title, width, height, data)]
    colour = {part: PALETTE[i % len(PALETTE)] for i, part in enumerate(stack_order)}
    for j, part in enumerate(stack_order):
        legend_x = label_w + j * 110
        out.append(
            f'<rect x="{legend_x}" y="{top - 6}" width="10" height="10" fill="{colour[part]}"/>'
            f'<text x="{legend_x + 14}" y="{top + 3}">{escape(part)}</text>'
        )
    if not rows:
        out.append(f'<text x="4" y="{top + legend_h + 16}">none</text>')
    peak = max((sum(parts.values()) for parts in rows.values()), default=0) or 1
    for i, (label, parts) in enumerate(rows.items()):
        y, x = top + legend_h + i * row_h, float(label_w)
        out.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        for part in stack_order:
            count = parts.get(part, 0)
            if not count:
                continue
            w = count / peak * plot_w
            out.append(
                f'<rect class="bar" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
                f'fill="{colour[part]}"><title>{escape(label)} {escape(part)}: {count}</title></rect>'
            )
            x += w
        out.append(f'<text x="{x + 4:.1f}" y="{y + 15}">{sum(parts.values())}</text>')
    out.append("</svg>")
    return "".join(out)
