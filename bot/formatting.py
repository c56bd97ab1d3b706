"""Text shared by chat messages and notifications: HTML escaping, exact money, and fitting Telegram's limits.

Telegram measures a message *after* parsing its HTML, in UTF-16 code units (an astral emoji counts 2), and
refuses a text cut inside a tag or an entity. So panel texts are shortened on purpose before they are escaped
(`shorten`, `name_in`), and a whole message is fitted by `fit_html`, which cuts only between tags and
characters and closes what it leaves open.
"""

from __future__ import annotations

import html
import re
from decimal import Decimal

MAX_MESSAGE = 4096  # UTF-16 units of the parsed text
MAX_ALERT = 200  # answerCallbackQuery text
NAME_IN_LIST = 60  # a panel's service name in a list line or a button
NAME_IN_CARD = 400  # ... in a card or a summary
LABEL = 40  # a button label made from panel text
CURRENCY = 12  # a panel's currency code (normally 3 letters)
ELLIPSIS = "…"


def esc(value: object) -> str:
    """Escape anything that came from a panel or a user before it goes into HTML."""
    return html.escape(str(value), quote=False)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def shorten(value: object, limit: int, *, one_line: bool = False) -> str:
    """Plain text at most `limit` UTF-16 units, ending in "…" when it was cut. `one_line` folds line breaks
    and runs of spaces (a name in a list or a button must not break the layout)."""
    text = str(value)
    if one_line:
        text = " ".join(text.split())
    if utf16_len(text) <= limit:
        return text
    return _take(text, limit - 1).rstrip() + ELLIPSIS


def name_in(value: object, limit: int = NAME_IN_LIST) -> str:
    """A panel's name, shortened and escaped, ready for HTML (lists and buttons use the default)."""
    return esc(shorten(value, limit, one_line=True))


def label(value: object, limit: int = LABEL) -> str:
    """A button label from panel text (labels are plain text, not HTML): short, one line, never blank."""
    return shorten(value, limit, one_line=True) or "…"


# Our own HTML is simple: tags, the entities `esc` writes, numeric references, and text.
_TOKEN = re.compile(r"<[^<>]*>|&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});|[^<&]+|[<&]", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z0-9-]+)")


def _is_tag(token: str) -> bool:
    return token.startswith("<") and len(token) > 1


_COMMON = {"&lt;": 1, "&gt;": 1, "&amp;": 1, "&quot;": 1}
_TAGS = re.compile(r"<[^<>]*>")


def _visible(token: str) -> int:
    if _is_tag(token):
        return 0
    if token.startswith("&") and len(token) > 1:
        return _COMMON.get(token) or utf16_len(html.unescape(token))
    return utf16_len(token)


def visible_len(text: str) -> int:
    """The length Telegram counts for an HTML text: UTF-16 units, tags dropped and entities decoded."""
    return utf16_len(html.unescape(_TAGS.sub("", text)))


def _take(text: str, units: int) -> str:
    """The longest start of plain `text` within `units` UTF-16 units (never half an astral character)."""
    out: list[str] = []
    for ch in text:
        units -= 2 if ord(ch) > 0xFFFF else 1
        if units < 0:
            break
        out.append(ch)
    return "".join(out)


def fit_html(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` unchanged when its parsed length fits; else cut between tags, entities and characters so that
    the parsed text plus a final line "…" takes at most `limit` units, closing every tag left open."""
    if visible_len(text) <= limit:
        return text
    budget = limit - utf16_len("\n" + ELLIPSIS)
    out: list[str] = []
    stack: list[str] = []
    used = 0
    for match in _TOKEN.finditer(text):  # lazily: the tokens after the cut are never made
        token = match.group(0)
        if _is_tag(token):
            m = _TAG_NAME.match(token)
            name = m.group(1).lower() if m else ""
            if token.startswith("</"):
                if stack and stack[-1] == name:
                    stack.pop()
            elif not token.endswith("/>"):
                stack.append(name)
            out.append(token)
            continue
        size = _visible(token)
        if used + size > budget:
            if not token.startswith("&"):  # plain text: keep the part that fits
                out.append(_take(token, budget - used))
            break
        out.append(token)
        used += size
    closing = "".join(f"</{name}>" for name in reversed(stack))
    body = "".join(out).rstrip()
    return f"{body}{closing}\n{ELLIPSIS}" if body else ELLIPSIS


def format_money(amount: Decimal | None, currency: str | None = None) -> str:
    """Exact, without float: at least two decimals, no trailing zeros beyond them ("3.2" -> "3.20")."""
    if amount is None:
        return "—"
    text = f"{amount.normalize():f}" if amount == amount.to_integral() else f"{amount:f}".rstrip("0")
    whole, _, frac = text.partition(".")
    text = f"{whole}.{frac.ljust(2, '0')}"
    return f"{text} {esc(shorten(currency, CURRENCY, one_line=True))}" if currency else text


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


def plain_description(text: str, limit: int = 1200) -> str:
    """Panels write descriptions as HTML fragments; keep their line breaks, drop their tags (the chat escapes
    the rest and the Mini App shows it as text, so nothing of theirs is ever rendered as markup)."""
    text = html.unescape(_TAG.sub("", _BREAK.sub("\n", text)))
    text = re.sub(r"\n{3,}", "\n\n", text.replace("\r", "")).strip()
    return shorten(text, limit)
