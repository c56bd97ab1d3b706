"""Text shared by chat messages and notifications: HTML escaping and exact money."""

from __future__ import annotations

import html
import re
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


def delivered(quantity: int | None, remains: int | None) -> int | None:
    """How much of an order the panel has delivered (quantity − remains), within [0, quantity]."""
    if quantity is None or remains is None or quantity <= 0:
        return None
    return min(quantity, max(0, quantity - remains))


def progress_percent(quantity: int | None, remains: int | None) -> int | None:
    done = delivered(quantity, remains)
    if done is None or quantity is None:
        return None
    return done * 100 // quantity


def progress_bar(quantity: int | None, remains: int | None, width: int = 10) -> str | None:
    """`▓▓▓▓▓░░░░░ 50%` for an order whose remains are known; None otherwise."""
    percent = progress_percent(quantity, remains)
    if percent is None:
        return None
    filled = percent * width // 100
    return f"{'▓' * filled}{'░' * (width - filled)} {percent}%"


_BREAK = re.compile(r"<br\s*/?>|</p>|</div>|</li>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]{0,200}>")


def plain_description(text: str, limit: int = 1500) -> str:
    """Panels write descriptions as HTML fragments; keep their line breaks, drop their tags (the chat escapes
    the rest and the Mini App shows it as text, so nothing of theirs is ever rendered as markup)."""
    text = html.unescape(_TAG.sub("", _BREAK.sub("\n", text)))
    text = re.sub(r"\n{3,}", "\n\n", text.replace("\r", "")).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
