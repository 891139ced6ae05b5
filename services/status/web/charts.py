"""Small inline SVG charts rendered on the server: no script, no CDN, readable without JS."""

from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = {"urgent": "#b3261e", "high": "#d97706", "normal": "#2563eb", "p50": "#2563eb", "p90": "#7c3aed"}
BAR_HEIGHT, GAP, LABEL_WIDTH, WIDTH = 22, 8, 200, 600  # labels up to ~26 characters at 13 px


def bars(title: str, values: dict[str, float], *, unit: str = "", color: str = "#2563eb") -> Markup:
    """Horizontal bars, one per label, with the value written at the end."""
    if not values:
        return Markup(f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
                      f'<p class="muted">No cases in this window yet.</p></figure>')
    top = max(values.values(), default=0) or 1
    rows = []
    for i, (label, value) in enumerate(values.items()):
        y = i * (BAR_HEIGHT + GAP)
        length = (WIDTH - LABEL_WIDTH - 70) * value / top
        rows.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" fill="{color}" rx="3"/>'
            f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 15}">{escape(_number(value))}{escape(unit)}</text>')
    return _frame(title, rows, len(values))


def stacked(title: str, groups: dict[str, dict[str, int]]) -> Markup:
    """Horizontal stacked bars (e.g. cases per stage, split by priority), with a legend."""
    top = max((sum(parts.values()) for parts in groups.values()), default=0) or 1
    rows = []
    for i, (label, parts) in enumerate(groups.items()):
        y, x = i * (BAR_HEIGHT + GAP), float(LABEL_WIDTH)
        rows.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        for part, value in parts.items():
            length = (WIDTH - LABEL_WIDTH - 70) * value / top
            if length:
                rows.append(f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
                            f'fill="{PALETTE.get(part, "#64748b")}"><title>{escape(part)}: {value}</title></rect>')
            x += length
        rows.append(f'<text x="{x + 6:.1f}" y="{y + 15}">{sum(parts.values())}</text>')
    legend = [f'<rect x="{LABEL_WIDTH + i * 90}" y="{len(groups) * (BAR_HEIGHT + GAP)}" width="12" height="12" '
              f'fill="{PALETTE.get(p, "#64748b")}"/><text x="{LABEL_WIDTH + i * 90 + 16}" '
              f'y="{len(groups) * (BAR_HEIGHT + GAP) + 11}">{escape(p)}</text>'
              for i, p in enumerate(next(iter(groups.values()), {}))]
    return _frame(title, rows + legend, len(groups) + 1)


def _frame(title: str, rows: list[str], count: int) -> Markup:
    height = max(count, 1) * (BAR_HEIGHT + GAP) + 4
    return Markup(
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" font-size="13" font-family="system-ui, sans-serif">{"".join(rows)}</svg></figure>')


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def minutes(seconds: float | None) -> float:
    return round(seconds / 60, 1) if seconds is not None else 0.0
