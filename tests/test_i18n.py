"""The Turkish catalog covers every message of the code, and keeps what the code relies on.

The msgids are extracted from the code as it is now (the same extraction as `make translations`), so a
message added without a translation turns this red and names it.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from collections import Counter
from functools import cache
from pathlib import Path
from string import Formatter

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LANGUAGES, LOCALES_DIR, normalize_language, translator

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("bot", "handlers")
KEYWORDS = {"_": None, "lazy": None, "ngettext": (1, 2)}  # as in `make translations`
PO = LOCALES_DIR / "tr" / "LC_MESSAGES" / "messages.po"
HINT = f"Run `make translations`, then translate them in {PO.relative_to(ROOT)}."
# The HTML that Telegram understands; "<order id>" in a usage text is not a tag.
TAG = re.compile(r"</?(?:b|strong|i|em|u|ins|s|strike|del|a|code|pre|blockquote|tg-spoiler|span)\b[^>]*>")
COMMAND = re.compile(r"(?<![\w/:.])/[a-z_]{2,}\b")


@cache
def extracted() -> dict[str, tuple[str, ...]]:
    """msgid -> where it is used, from the current code."""
    found: dict[str, list[str]] = {}
    for folder in SOURCES:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, []).append(f"{folder}/{filename}:{lineno}")
    return {msgid: tuple(places) for msgid, places in found.items()}


@cache
def catalog() -> Catalog:
    with PO.open("rb") as fh:
        return read_po(fh, locale="tr")


def entries() -> list[Message]:
    return [m for m in catalog() if m.id]


def key(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def translations(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


def emoji(text: str) -> Counter[str]:
    return Counter(ch for ch in text if unicodedata.category(ch) == "So")


def test_every_message_of_the_code_has_a_turkish_translation() -> None:
    messages = {key(m): m for m in entries()}
    missing = []
    for msgid, places in sorted(extracted().items()):
        message = messages.get(msgid)
        if message is None or message.fuzzy or not all(translations(message)):
            missing.append(f"  {msgid!r}  ({', '.join(places[:2])})")
    assert not missing, f"{len(missing)} message(s) have no Turkish translation. {HINT}\n" + "\n".join(
        missing
    )


def test_babel_sees_every_literal_message() -> None:
    """A `_("...")` inside an f-string is invisible to Babel on Python 3.11, and an f-string as the msgid
    cannot be translated: both would silently stay English."""
    known = set(extracted())
    problems = []
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name not in KEYWORDS:
                    continue
                first, where = node.args[0], f"{path.relative_to(ROOT)}:{node.lineno}"
                if isinstance(first, ast.JoinedStr):
                    problems.append(
                        f"  {where}: an f-string as msgid; use placeholders: _('... {{x}}', x=...)"
                    )
                elif isinstance(first, ast.Constant) and isinstance(first.value, str):
                    if first.value not in known:
                        problems.append(f"  {where}: {first.value!r} is not extracted (inside an f-string?)")
    assert not problems, "Messages the extraction misses:\n" + "\n".join(problems)


def test_translations_keep_placeholders_tags_emoji_and_commands() -> None:
    problems = []
    for message in entries():
        msgid = key(message)
        for text in filter(None, translations(message)):
            checks = {
                "placeholders": (placeholders(msgid), placeholders(text)),
                "HTML tags": (sorted(TAG.findall(msgid)), sorted(TAG.findall(text))),
                "emoji": (emoji(msgid), emoji(text)),
                "commands": (set(COMMAND.findall(msgid)), set(COMMAND.findall(text))),
            }
            for what, (want, got) in checks.items():
                if want != got:
                    problems.append(f"  {msgid!r}: {what} {want} became {got} in {text!r}")
    assert not problems, "Translations that changed what the code relies on:\n" + "\n".join(problems)


def test_turkish_has_one_plural_form() -> None:
    assert catalog().num_plurals == 1
    for message in entries():
        if message.pluralizable:
            assert len(translations(message)) == 1, message.id


def test_translator_speaks_turkish_and_falls_back_to_english() -> None:
    tr = translator("tr")
    assert tr("✅ Confirm") == "✅ Onayla"
    assert tr("Step {n} of {total}", n=2, total=3) == "Adım 2/3"
    assert tr.ngettext("{n} line", "{n} lines", 1) == "1 satır"
    assert tr.ngettext("{n} line", "{n} lines", 5) == "5 satır"
    assert translator("tr-TR")("🔄 Refresh") == "🔄 Yenile"
    assert tr("A message nobody translated") == "A message nobody translated"
    for other in ("de", "en", "", None):
        english = translator(other)
        assert english("✅ Confirm") == "✅ Confirm"
        assert english("Step {n} of {total}", n=2, total=3) == "Step 2 of 3"
        assert english.ngettext("{n} line", "{n} lines", 5) == "5 lines"


def test_normalize_language() -> None:
    assert normalize_language("tr-TR") == "tr"
    assert normalize_language("tr_TR") == "tr"
    assert normalize_language("TR") == "tr"
    assert normalize_language("en-US") == "en"
    assert normalize_language("de") == "en"
    assert normalize_language(None) == "en"
    assert set(LANGUAGES) == {"en", "tr"}
