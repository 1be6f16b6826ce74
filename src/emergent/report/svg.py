"""Small hand-written SVG charts: the report stays one self-contained file that needs no JS and no network.

Every chart scales with its container (viewBox + width 100%) and uses the CSS classes of report.css,
so colours and typography live in one place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

# One colour per curriculum phase / category; chosen to stay distinct for colour-blind readers.
PALETTE = ("#4f6bed", "#e8744f", "#2bb39a", "#c04fd1", "#e3b53b", "#4fb3e8", "#d14f7a", "#7a8b99", "#8bc34a", "#9b6b43")
BASE_COLOUR = "#9aa5b8"
ADAPTER_COLOUR = "#4f6bed"

Point = tuple[float, float]


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg class="chart{" wide" if width >= 700 else ""}" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _text(x: float, y: float, s: str, cls: str = "lbl", anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}"{extra}>{escape(str(s))}</text>'


def fmt_num(v: float) -> str:
    """Short human number: 12,345 / 1.2M / 0.034."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e4 or (a >= 1 and float(v).is_integer()):
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.2f}"
    if a == 0:
        return "0"
    return f"{v:.3g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    ticks, t = [], start
    while t <= end + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """fmt_num of each tick, with more decimals where it would print two ticks alike (2.5675 and 2.57 as "2.57")."""
    labels = [fmt_num(t) for t in ticks]
    digits = 2
    while len(set(labels)) < len(labels) and digits < 8:
        digits += 1
        labels = [f"{t:.{digits}f}" for t in ticks]
    return labels


def hbars(
    rows: Sequence[tuple[str, float, str]],
    colour: str = ADAPTER_COLOUR,
    label: str = "bar chart",
    width: int = 520,
    left: int = 190,
) -> str:
    """Horizontal bars: (label, value, annotation) per row; the funnel and the drop reasons."""
    if not rows:
        return ""
    w, row_h, right = width, 30, 110
    h = row_h * len(rows) + 10
    top = max((r[1] for r in rows), default=0) or 1
    parts = []
    for i, (name, value, note) in enumerate(rows):
        y = 5 + i * row_h
        bw = max((w - left - right) * (value / top), 1.5 if value else 0)
        parts.append(_text(left - 8, y + 19, name, anchor="end"))
        parts.append(f'<rect x="{left}" y="{y + 5}" width="{bw:.1f}" height="{row_h - 10}" rx="3" fill="{colour}"/>')
        parts.append(_text(left + bw + 6, y + 19, note or fmt_num(value), cls="val"))
    return _svg(w, h, "".join(parts), label)


def range_bars(rows: Sequence[tuple[str, float, float | None, float | None, str]], label: str = "composition") -> str:
    """Share per bucket (0-1) as a bar with its target range drawn as a band; colour by status."""
    if not rows:
        return ""
    w, row_h, left, right = 760, 30, 120, 70
    h = row_h * len(rows) + 34
    top = max([r[1] for r in rows] + [r[3] or 0 for r in rows] + [0.05])
    top = min(1.0, nice_ticks(0, top * 1.05, 4)[-1])
    scale = (w - left - right) / top
    parts = []
    for t in nice_ticks(0, top, 4):
        x = left + t * scale
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="4" y2="{h - 26}" class="grid"/>')
        parts.append(_text(x, h - 10, f"{t * 100:.0f}%", cls="tick", anchor="middle"))
    for i, (name, share, lo, hi, status) in enumerate(rows):
        y = 6 + i * row_h
        cls = {"ok": "ok", "in_range": "ok", "within": "ok"}.get(status, "off" if status else "neutral")
        if lo is not None and hi is not None:
            parts.append(
                f'<rect x="{left + lo * scale:.1f}" y="{y + 1}" width="{max((hi - lo) * scale, 2):.1f}" '
                f'height="{row_h - 2}" class="band"><title>target {lo * 100:.0f}–{hi * 100:.0f}%</title></rect>'
            )
        parts.append(_text(left - 8, y + 19, name, anchor="end"))
        parts.append(
            f'<rect x="{left}" y="{y + 8}" width="{max(share * scale, 1):.1f}" height="{row_h - 16}" rx="2" class="bar-{cls}"/>'
        )
        parts.append(_text(left + max(share * scale, 1) + 6, y + 19, f"{share * 100:.1f}%", cls="val"))
    return _svg(w, h, "".join(parts), label)


def line_chart(
    series: Sequence[tuple[str, Sequence[Point], str]],
    *,
    vlines: Sequence[tuple[float, str]] = (),
    x_label: str = "",
    y_label: str = "",
    y_range: tuple[float, float] | None = None,
    height: int = 260,
    width: int = 760,
    label: str = "line chart",
    markers: bool = False,
    integer_x: bool = False,
) -> str:
    """Lines over a shared x axis; vertical rules mark phase boundaries or a topic shift."""
    pts = [p for _, s, _ in series for p in s if p[1] is not None and math.isfinite(p[1])]
    if not pts:
        return ""
    w, left, right, top_pad, bottom = width, 62, 16, 22, 40
    xs = [p[0] for p in pts]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x1 = x0 + 1
    ys = [p[1] for p in pts]
    y0, y1 = y_range if y_range else (min(ys), max(ys))
    if not y_range:
        pad = (y1 - y0) * 0.08 or abs(y1) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad
        if min(ys) >= 0 > y0:
            y0 = 0.0
    ticks = nice_ticks(y0, y1, 4)
    y0, y1 = min(y0, ticks[0]), max(y1, ticks[-1])

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (w - left - right)

    def sy(y: float) -> float:
        return top_pad + (1 - (y - y0) / ((y1 - y0) or 1)) * (height - top_pad - bottom)

    parts = []
    for t, text in zip(ticks, tick_labels(ticks), strict=True):
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>')
        parts.append(_text(left - 6, sy(t) + 4, text, cls="tick", anchor="end"))
    for t in nice_ticks(x0, x1, 6):
        if x0 <= t <= x1 and (not integer_x or float(t).is_integer()):
            parts.append(_text(sx(t), height - bottom + 16, fmt_num(t), cls="tick", anchor="middle"))
    for x, name in vlines:
        parts.append(
            f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top_pad - 6}" y2="{height - bottom}" class="vline"/>'
        )
        if name:
            parts.append(_text(sx(x) + 4, top_pad + 4, name, cls="vlbl"))
    for name, s, colour in series:
        good = [(sx(x), sy(y)) for x, y in s if y is not None and math.isfinite(y)]
        if not good:
            continue
        d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(good))
        parts.append(
            f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2.2" stroke-linejoin="round"><title>{escape(name)}</title></path>'
        )
        if markers or len(good) == 1:
            parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{colour}"/>' for x, y in good)
    parts.append(f'<line x1="{left}" x2="{w - right}" y1="{height - bottom}" y2="{height - bottom}" class="axis"/>')
    if x_label:
        parts.append(_text((left + w - right) / 2, height - 6, x_label, cls="axlbl", anchor="middle"))
    if y_label:
        parts.append(
            _text(
                14,
                (height - bottom + top_pad) / 2,
                y_label,
                cls="axlbl",
                anchor="middle",
                extra=f' transform="rotate(-90 14 {(height - bottom + top_pad) / 2:.1f})"',
            )
        )
    return _svg(w, height, "".join(parts), label)


def grouped_bars_ci(
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[tuple[float | None, float | None, float | None]], str]],
    *,
    y_range: tuple[float, float] = (0.0, 1.0),
    label: str = "grouped bars",
) -> str:
    """Per group one bar per series with its 95 % interval as a whisker (base vs adapter per context)."""
    if not groups or not series:
        return ""
    w, h, left, bottom, top_pad = 760, 270, 46, 56, 12
    gw = (w - left - 10) / len(groups)
    bw = min(28.0, gw * 0.8 / len(series))
    y0, y1 = y_range

    def sy(v: float) -> float:
        return top_pad + (1 - (v - y0) / (y1 - y0)) * (h - top_pad - bottom)

    parts = []
    for t in nice_ticks(y0, y1, 4):
        parts.append(f'<line x1="{left}" x2="{w - 10}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>')
        parts.append(_text(left - 6, sy(t) + 4, fmt_num(t), cls="tick", anchor="end"))
    for gi, g in enumerate(groups):
        cx = left + gi * gw + gw / 2
        start = cx - bw * len(series) / 2
        for si, (name, vals, colour) in enumerate(series):
            v, lo, hi = vals[gi] if gi < len(vals) else (None, None, None)
            if v is None:
                continue
            x = start + si * bw
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{sy(v):.1f}" width="{bw - 2:.1f}" height="{max(sy(y0) - sy(v), 0.5):.1f}" '
                f'rx="2" fill="{colour}"><title>{escape(name)} {escape(g)}: {fmt_num(v)}</title></rect>'
            )
            if lo is not None and hi is not None:
                mx = x + bw / 2
                parts.append(
                    f'<path d="M{mx:.1f},{sy(lo):.1f} V{sy(hi):.1f} M{mx - 4:.1f},{sy(lo):.1f} h8 M{mx - 4:.1f},{sy(hi):.1f} h8" class="whisker"/>'
                )
        parts.append(_text(cx, h - bottom + 16, g, cls="tick", anchor="middle"))
    parts.append(f'<line x1="{left}" x2="{w - 10}" y1="{sy(y0):.1f}" y2="{sy(y0):.1f}" class="axis"/>')
    for si, (name, _, colour) in enumerate(series):
        x = left + si * 120
        parts.append(f'<rect x="{x}" y="{h - 22}" width="12" height="12" rx="2" fill="{colour}"/>')
        parts.append(_text(x + 18, h - 12, name, cls="lbl"))
    return _svg(w, h, "".join(parts), label)


def intervals(
    rows: Sequence[tuple[str, float | None, float | None, float | None, str]],
    *,
    x_label: str = "",
    label: str = "intervals",
    width: int = 760,
) -> str:
    """A dot per row at its estimate with its 95 % whisker, around a dashed zero line: (name, mean, lo, hi, colour).

    For paired differences (adapter − base): whether a whisker crosses zero is the point of the chart.
    """
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return ""
    row_h, left, right, top_pad, bottom = 26, 130, 78, 8, 40
    h = top_pad + row_h * len(rows) + bottom
    values = [v for _, m, lo, hi, _ in rows for v in (m, lo, hi) if v is not None] + [0.0]
    ticks = nice_ticks(min(values), max(values), 4)
    x0, x1 = ticks[0], ticks[-1]

    def sx(v: float) -> float:
        return left + (v - x0) / ((x1 - x0) or 1) * (width - left - right)

    parts = []
    for t in ticks:
        parts.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{top_pad}" y2="{h - bottom}" class="grid"/>')
        parts.append(_text(sx(t), h - bottom + 16, fmt_num(t), cls="tick", anchor="middle"))
    parts.append(f'<line x1="{sx(0):.1f}" x2="{sx(0):.1f}" y1="{top_pad - 4}" y2="{h - bottom}" class="vline"/>')
    for i, (name, mean, lo, hi, colour) in enumerate(rows):
        y = top_pad + i * row_h + row_h / 2
        parts.append(_text(left - 8, y + 4, name, anchor="end"))
        if lo is not None and hi is not None:
            parts.append(
                f'<path d="M{sx(lo):.1f},{y:.1f} H{sx(hi):.1f} M{sx(lo):.1f},{y - 5:.1f} v10 M{sx(hi):.1f},{y - 5:.1f} v10" class="whisker"/>'
            )
        ci = f" [{fmt_num(lo)}, {fmt_num(hi)}]" if lo is not None and hi is not None else ""
        parts.append(
            f'<circle cx="{sx(mean):.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"><title>{escape(name)}: {fmt_num(mean)}{ci}</title></circle>'
        )
        parts.append(_text(width - right + 8, y + 4, fmt_num(mean), cls="val"))
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{h - bottom}" y2="{h - bottom}" class="axis"/>')
    if x_label:
        parts.append(_text((left + width - right) / 2, h - 6, x_label, cls="axlbl", anchor="middle"))
    return _svg(width, h, "".join(parts), label)


def heatmap(
    matrix: Sequence[Sequence[float]], rows: Sequence[str], cols: Sequence[str], *, label: str = "heatmap"
) -> str:
    """Row-normalised confusion matrix (expected × predicted); cell text is the row share."""
    if not matrix or not rows or not cols:
        return ""
    cell, left, top = 44, 104, 96
    w, h = left + cell * len(cols) + 8, top + cell * len(rows) + 8
    parts = []
    for j, c in enumerate(cols):
        x = left + j * cell + cell / 2
        parts.append(
            _text(x, top - 8, c, cls="tick", anchor="start", extra=f' transform="rotate(-45 {x:.1f} {top - 8})"')
        )
    for i, r in enumerate(rows):
        row = list(matrix[i]) if i < len(matrix) else []
        total = sum(v or 0 for v in row) or 1
        parts.append(_text(left - 6, top + i * cell + cell / 2 + 4, r, cls="tick", anchor="end"))
        for j in range(len(cols)):
            v = (row[j] if j < len(row) else 0) or 0
            share = v / total
            diag = i < len(cols) and rows[i] == cols[j]
            fill = (
                f"rgba(79,107,237,{0.06 + 0.94 * share:.3f})" if diag else f"rgba(232,116,79,{0.06 + 0.94 * share:.3f})"
            )
            x, y = left + j * cell, top + i * cell
            parts.append(
                f'<rect x="{x + 1}" y="{y + 1}" width="{cell - 2}" height="{cell - 2}" rx="3" fill="{fill}"><title>{escape(r)} → {escape(cols[j])}: {fmt_num(v)}</title></rect>'
            )
            if v:
                parts.append(
                    _text(
                        x + cell / 2,
                        y + cell / 2 + 4,
                        f"{share * 100:.0f}",
                        cls="cell" + (" dark" if share > 0.55 else ""),
                        anchor="middle",
                    )
                )
    return _svg(w, h, "".join(parts), label)


def radar(axes: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]], *, label: str = "radar") -> str:
    """Style profile: one polygon per model over features scaled 0-1."""
    if len(axes) < 3 or not series:
        return ""
    size, r, side = 300, 96, 70  # side margin keeps long axis labels inside the chart
    cx, cy = size / 2 + side, size / 2 + 4
    n = len(axes)

    def at(i: int, v: float) -> Point:
        a = -math.pi / 2 + 2 * math.pi * i / n
        return cx + r * v * math.cos(a), cy + r * v * math.sin(a)

    parts = []
    for ring in (0.25, 0.5, 0.75, 1.0):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(i, ring) for i in range(n)))
        parts.append(f'<polygon points="{pts}" class="ring"/>')
    for i, a in enumerate(axes):
        x, y = at(i, 1.0)
        parts.append(f'<line x1="{cx}" y1="{cy}" x2="{x:.1f}" y2="{y:.1f}" class="grid"/>')
        lx, ly = at(i, 1.18)
        anchor = "middle" if abs(lx - cx) < 10 else ("start" if lx > cx else "end")
        parts.append(_text(lx, ly + 5, a, cls="rlbl", anchor=anchor))
    for name, vals, colour in series:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(i, max(0.0, min(1.0, v or 0))) for i, v in enumerate(vals)))
        parts.append(
            f'<polygon points="{pts}" fill="{colour}" fill-opacity="0.22" stroke="{colour}" stroke-width="2"><title>{escape(name)}</title></polygon>'
        )
    return _svg(size + 2 * side, size + 8, "".join(parts), label)


def timeline(segments: Sequence[tuple[str, float, float, str, str]], *, label: str = "timeline") -> str:
    """Phases as consecutive blocks proportional to their length: (name, start, end, colour, note)."""
    if not segments:
        return ""
    w, h, pad = 760, 74, 4
    x0 = min(s[1] for s in segments)
    x1 = max(s[2] for s in segments)
    span = (x1 - x0) or 1
    parts = []
    for name, a, b, colour, note in segments:
        x = pad + (a - x0) / span * (w - 2 * pad)
        bw = max((b - a) / span * (w - 2 * pad) - 2, 3)
        parts.append(
            f'<rect x="{x:.1f}" y="6" width="{bw:.1f}" height="36" rx="4" fill="{colour}"><title>{escape(name)}: {escape(note)}</title></rect>'
        )
        if bw > 60:
            parts.append(_text(x + 6, 28, name.split("_", 1)[0], cls="seg"))
        parts.append(_text(x + 2, 60, note if bw > 90 else "", cls="tick"))
    return _svg(w, h, "".join(parts), label)


def legend(items: Sequence[tuple[str, str]]) -> str:
    """An HTML legend (name, colour) placed under a chart."""
    return (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{c}"></i>{escape(n)}</span>' for n, c in items)
        + "</div>"
    )
