"""Text shared by chat messages and notifications: HTML escaping and exact money."""

from __future__ import annotations

import html
from decimal import Decimal


def esc(value: object) -> str:
    """Escape anything that came from a panel or a user before it goes into HTML."""
    return html.escape(str(value), quote=False)


def format_money(amount: Decimal | None, currency: str | None = None) -> str:
    """Exact, without float: at least two decimals, no trailing zeros beyond them ("3.2" -> "3.20")."""
    if amount is None:
        return "—"
    text = f"{amount.normalize():f}" if amount == amount.to_integral() else f"{amount:f}".rstrip("0")
    whole, _, frac = text.partition(".")
    text = f"{whole}.{frac.ljust(2, '0')}"
    return f"{text} {esc(currency)}" if currency else text
