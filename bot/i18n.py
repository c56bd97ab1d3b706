"""Translations: gettext catalogs under bot/locales/<lang>/LC_MESSAGES/messages.po.

The English text is the message id, so English needs no catalog and a missing translation falls back to
English. Catalogs are read with Babel straight from the .po files (no compile step to forget).
`pybabel extract -F babel.cfg -o bot/locales/messages.pot .` then `pybabel update` refreshes them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from bot.panel import normalize_status

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"
# Shown in /language; the key is what we store in chat.language.
LANGUAGES: dict[str, str] = {"en": "English", "tr": "Türkçe"}


@cache
def _catalog(lang: str) -> dict[str, str | tuple[str, ...]]:
    path = LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    messages: dict[str, str | tuple[str, ...]] = {}
    for msg in catalog:
        if not msg.id or not msg.string or msg.fuzzy:
            continue
        key = msg.id[0] if isinstance(msg.id, tuple) else msg.id
        if isinstance(msg.string, tuple):
            if all(msg.string):
                messages[key] = tuple(msg.string)
        else:
            messages[key] = msg.string
    return messages


def normalize_language(code: str | None) -> str:
    """Telegram gives IETF tags like 'tr' or 'en-US'; keep the ones we have, else English."""
    if not code:
        return DEFAULT_LANGUAGE
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


class Translator:
    """`_("text {name}", name=...)` and `ngettext` for one language."""

    def __init__(self, lang: str) -> None:
        self.lang = normalize_language(lang)
        self._messages = _catalog(self.lang) if self.lang != DEFAULT_LANGUAGE else {}

    def gettext(self, message: str, /, **values: object) -> str:
        found = self._messages.get(message)
        text = found if isinstance(found, str) else message
        return text.format(**values) if values else text

    __call__ = gettext

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        found = self._messages.get(singular)
        if isinstance(found, tuple):
            # Turkish has one plural form, English two; enough for our catalogs (no Babel plural rules).
            text = found[0] if len(found) == 1 or n == 1 else found[min(1, len(found) - 1)]
        else:
            text = singular if n == 1 else plural
        return text.format(n=n, **values)


@cache
def translator(lang: str | None) -> Translator:
    return Translator(normalize_language(lang))


def lazy(message: str) -> str:
    """Marks a message for extraction where it is translated later (e.g. in a constant table)."""
    return message


GetText = Callable[..., str]


# The panel's statuses (as normalize_status names them) in the reader's language.
STATUS_NAMES = {
    "Pending": lazy("Pending"),
    "In progress": lazy("In progress"),
    "Processing": lazy("Processing"),
    "Completed": lazy("Completed"),
    "Partial": lazy("Partial"),
    "Canceled": lazy("Canceled"),
    "Refunded": lazy("Refunded"),
    "Failed": lazy("Failed"),
    "Rejected": lazy("Rejected"),
    "Awaiting": lazy("Awaiting"),
    "Error": lazy("Error"),
}


def status_name(_: Translator, status: str | None) -> str:
    """A panel status as plain text in the reader's language (escape it for HTML)."""
    if not status:
        return _("Pending")
    canonical = normalize_status(status)
    return _(STATUS_NAMES[canonical]) if canonical in STATUS_NAMES else status
