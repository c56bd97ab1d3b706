"""Spend per day as a small SVG bar chart, made on the server (no chart library in the page).

Only numbers and dates go into the SVG, and the currency is escaped: it is served as image/svg+xml and shown
through an <img>, where scripts never run anyway.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from bot.formatting import format_money

WIDTH, HEIGHT, PAD = 600, 180, 28


def spend_svg(totals: dict[date, Decimal], today: date, currency: str, days: int = 30) -> str:
    """One bar per day of the last `days` days up to `today`, the highest labelled with its amount."""
    span = [today - timedelta(days=days - 1 - i) for i in range(days)]
    values = [totals.get(day, Decimal(0)) for day in span]
    top = max(values) if any(values) else Decimal(1)
    slot = (WIDTH - 2 * PAD) / days
    usable = HEIGHT - 2 * PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
    ]
    for i, (day, value) in enumerate(zip(span, values, strict=True)):
        height = float(value / top) * usable if top else 0.0
        x = PAD + i * slot + 1
        y = HEIGHT - PAD - height
        title = escape(f"{day.isoformat()}: {format_money(value, currency)}")
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" height="{height:.1f}" '
            f'fill="#3a8dde"><title>{title}</title></rect>'
        )
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 8}" fill="#888">{span[0].strftime("%d.%m")}</text>')
    parts.append(
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" fill="#888" text-anchor="end">'
        f"{span[-1].strftime('%d.%m')}</text>"
    )
    if any(values):
        label = escape(format_money(top, currency))
        parts.append(f'<text x="{PAD}" y="{PAD - 10}" fill="#888">max {label}</text>')
    parts.append("</svg>")
    return "".join(parts)
