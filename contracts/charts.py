"""Contracted against allocated capacity over business time, drawn server-side as SVG
(no script, no external asset): a step function is a path of horizontal runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from html import escape

from ledger.read import TimelineItem

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 24, 36


def _x(moment: datetime, start: datetime, end: datetime) -> float:
    span = (end - start).total_seconds() or 1.0
    return LEFT + (WIDTH - LEFT - RIGHT) * (moment - start).total_seconds() / span


def _y(value: Decimal, top: Decimal) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * float(value / top if top else 0)


def _path(
    points: Sequence[tuple[datetime, datetime, Decimal]],
    start: datetime,
    end: datetime,
    top: Decimal,
) -> str:
    commands: list[str] = []
    for lo, hi, value in points:
        y = _y(value, top)
        commands.append(f"{'M' if not commands else 'L'}{_x(lo, start, end):.1f},{y:.1f}")
        commands.append(f"L{_x(hi, start, end):.1f},{y:.1f}")
    return " ".join(commands)


def steps_svg(title: str, items: Sequence[TimelineItem], start: datetime, end: datetime) -> str:
    """One resource's step functions over [start, end): contracted (area), allocated (line)."""
    spans = [(i.valid_from, i.valid_to or end, i) for i in items]
    top = max([i.contracted for i in items] + [i.allocated for i in items] + [Decimal(1)])
    contracted = _path([(lo, hi, i.contracted) for lo, hi, i in spans], start, end, top)
    allocated = _path([(lo, hi, i.allocated) for lo, hi, i in spans], start, end, top)
    base = HEIGHT - BOTTOM
    area = f"{contracted} L{_x(end, start, end):.1f},{base} L{LEFT},{base} Z" if contracted else ""
    label = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ledger-chart" role="img"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        f' aria-label="{label}: contracted and allocated capacity over time">'
        f"<title>{label}</title>"
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{label}</text>'
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#888"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#888"/>'
        f'<text x="{LEFT - 6}" y="{TOP + 4}" font-size="11" text-anchor="end">{top:,}</text>'
        f'<text x="{LEFT - 6}" y="{base}" font-size="11" text-anchor="end">0</text>'
        f'<text x="{LEFT}" y="{HEIGHT - 14}" font-size="11">{start:%Y-%m-%d}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 14}" font-size="11" text-anchor="end">'
        f"{end:%Y-%m-%d}</text>"
        f'<path class="contracted" d="{area}" fill="#9ecae1" fill-opacity="0.6" stroke="#3182bd"/>'
        f'<path class="allocated" d="{allocated}" fill="none" stroke="#e6550d" stroke-width="2"/>'
        f'<text x="{WIDTH - RIGHT}" y="16" font-size="11" text-anchor="end">'
        f'<tspan fill="#3182bd">■ contracted</tspan> <tspan fill="#e6550d">— allocated</tspan>'
        "</text></svg>"
    )
