"""Text formatting for the Bot API emulator: Telegram's HTML / MarkdownV2 / Markdown parse modes.

Each parser turns the source text into ``(plain_text, entities)`` the way Telegram does, with entity
offsets and lengths in UTF-16 code units, and raises :class:`EntityParseError` with Telegram's wording
where Telegram refuses the text (the caller prefixes "Bad Request: can't parse entities: ").
"""

from __future__ import annotations

import html
import re

__all__ = ["EntityParseError", "detect_entities", "format_text", "utf16_len"]


class EntityParseError(ValueError):
    """The text cannot be parsed in the requested parse mode."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode())


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_CHAR_REF = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]{2,8}));")
_NAME_CHARS = re.compile(r"[a-zA-Z0-9-]*")
_ATTR_CHARS = re.compile(r"[a-zA-Z0-9_-]*")
_WS = " \t\r\n"


def _char_ref(src: str, i: int) -> tuple[str, int] | None:
    m = _CHAR_REF.match(src, i)
    if not m:
        return None
    if m.group(3):
        ch = _NAMED.get(m.group(3))
        return (ch, m.end()) if ch else None
    code = int(m.group(1)) if m.group(1) else int(m.group(2), 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), m.end()


def _read_start_tag(src: str, i: int, begin: int, name: str) -> tuple[dict[str, str], int]:
    """Parse a start tag's attributes from ``i`` (after its name); return them and the index after '>'."""
    attrs: dict[str, str] = {}
    n = len(src)
    unclosed = f"Unclosed start tag at byte offset {_byte_offset(src, begin)}"
    while True:
        while i < n and src[i] in _WS:
            i += 1
        if i >= n:
            raise EntityParseError(unclosed)
        if src[i] == ">":
            return attrs, i + 1
        m = _ATTR_CHARS.match(src, i)
        assert m is not None
        attr = src[i : m.end()].lower()
        if not attr:
            raise EntityParseError(
                f'Empty attribute name in the tag "{name}" at byte offset {_byte_offset(src, i)}'
            )
        i = m.end()
        while i < n and src[i] in _WS:
            i += 1
        if i >= n:
            raise EntityParseError(unclosed)
        if src[i] != "=":
            attrs[attr] = ""
            continue
        i += 1
        while i < n and src[i] in _WS:
            i += 1
        if i >= n:
            raise EntityParseError(unclosed)
        if src[i] in "\"'":
            end = src.find(src[i], i + 1)
            if end < 0:
                raise EntityParseError(unclosed)
            value, i = src[i + 1 : end], end + 1
        else:
            j = i
            while j < n and src[j] not in _WS and src[j] != ">":
                j += 1
            value, i = src[i:j], j
        attrs[attr] = html.unescape(value)


def parse_html(src: str) -> tuple[str, list[dict]]:
    out: list[str] = []
    pos = 0  # UTF-16 position in the output
    stack: list[tuple[str, dict[str, str], int, int]] = []  # tag, attrs, utf16 start, index in out
    entities: list[dict] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "&":
            ref = _char_ref(src, i)
            if ref is None:
                # Telegram's docs: every '&' outside an entity must be escaped. Its parser is lenient here; we
                # refuse, so a text the bot forgot to escape fails in tests instead of rendering by luck.
                raise EntityParseError(
                    f"Character '&' at byte offset {_byte_offset(src, i)} must be escaped as \"&amp;\""
                )
            ch, i = ref
            out.append(ch)
            pos += utf16_len(ch)
            continue
        if c != "<":
            out.append(c)
            pos += utf16_len(c)
            i += 1
            continue
        begin = i
        if i + 1 < n and src[i + 1] == "/":
            m = _NAME_CHARS.match(src, i + 2)
            assert m is not None  # the pattern matches the empty string
            name = m.group(0).lower()
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(src, begin)}")
            j = m.end()
            while j < n and src[j] in _WS:
                j += 1
            if j >= n or src[j] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(src, begin)}")
            expected = stack[-1][0]
            if name != expected:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(src, begin)}, "
                    f'expected "</{expected}>", found "</{name}>"'
                )
            i = j + 1
            tag, attrs, start, out_index = stack.pop()
            inner = "".join(out[out_index:])
            if (
                tag == "code"
                and stack
                and stack[-1][0] == "pre"
                and attrs.get("class", "").startswith("language-")
            ):
                stack[-1][1]["language"] = attrs["class"][len("language-") :]
                continue
            if pos > start:
                entities.append(_html_entity(tag, attrs, start, pos - start, inner))
            continue
        m = _NAME_CHARS.match(src, i + 1)
        assert m is not None
        name = m.group(0).lower()
        if name not in _HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(src, begin)}'
            )
        attrs, i = _read_start_tag(src, m.end(), begin, name)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError('Tag "span" must have class "tg-spoiler"')
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise EntityParseError('Tag "tg-emoji" must have attribute "emoji-id"')
        stack.append((name, attrs, pos, len(out)))
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), _sorted(entities)


def _html_entity(tag: str, attrs: dict[str, str], offset: int, length: int, inner: str) -> dict:
    kind = _HTML_TAGS[tag]
    entity: dict = {"type": kind, "offset": offset, "length": length}
    if kind == "text_link":
        entity["url"] = attrs.get("href") or inner
    elif kind == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = attrs["emoji-id"]
    elif kind == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    return entity


def _sorted(entities: list[dict]) -> list[dict]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


_MD2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MD2_MARKERS = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
_MD2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


def _md_block(src: str, i: int, fence: str, kind: str, v2: bool) -> tuple[str, int]:
    """Read a code/pre body from ``i`` (after ``fence``); return the body and the index after the fence."""
    body: list[str] = []
    j, n = i, len(src)
    while j < n:
        if v2 and src[j] == "\\" and j + 1 < n:
            body.append(src[j + 1])
            j += 2
            continue
        if src.startswith(fence, j):
            return "".join(body), j + len(fence)
        body.append(src[j])
        j += 1
    if kind == "url":
        raise EntityParseError(f"Can't find end of a url at byte offset {_byte_offset(src, i - 1)}")
    name = "Pre" if kind == "pre" else "Code"
    raise EntityParseError(
        f"Can't find end of {name} entity at byte offset {_byte_offset(src, i - len(fence))}"
    )


def parse_markdown(src: str, *, v2: bool) -> tuple[str, list[dict]]:
    out: list[str] = []
    pos = 0
    stack: list[tuple[str, int, int]] = []  # marker, utf16 start, src index
    entities: list[dict] = []
    i, n = 0, len(src)

    def emit(text: str) -> None:
        nonlocal pos
        out.append(text)
        pos += utf16_len(text)

    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and (v2 or src[i + 1] in "_*`["):
            emit(src[i + 1])
            i += 2
            continue
        if c == "`":
            fence = "```" if src.startswith("```", i) else "`"
            body, end = _md_block(src, i + len(fence), fence, "pre" if fence == "```" else "code", v2)
            language = ""
            if fence == "```":
                first, sep, rest = body.partition("\n")
                if sep and first and " " not in first:
                    language, body = first, rest
            entity: dict = {
                "type": "pre" if fence == "```" else "code",
                "offset": pos,
                "length": utf16_len(body),
            }
            if language:
                entity["language"] = language
            if body:
                entities.append(entity)
            emit(body)
            i = end
            continue
        if c == "[":
            stack.append(("[", pos, i))
            i += 1
            continue
        if c == "]" and stack and stack[-1][0] == "[":
            _, start, _ = stack.pop()
            if not src.startswith("(", i + 1):
                if v2:
                    raise EntityParseError(
                        "Character ']' is reserved and must be escaped with the preceding '\\'"
                    )
                emit("]")
                i += 1
                continue
            url, i = _md_block(src, i + 2, ")", "url", v2)
            if pos > start:
                entities.append({"type": "text_link", "offset": start, "length": pos - start, "url": url})
            continue
        marker = src[i : i + 2] if v2 and src[i : i + 2] in ("__", "||") else c
        if marker in _MD2_MARKERS and (v2 or marker in "*_"):
            kind = _MD2_MARKERS[marker] if v2 else ("bold" if marker == "*" else "italic")
            if stack and stack[-1][0] == marker:
                _, start, _ = stack.pop()
                if pos > start:
                    entities.append({"type": kind, "offset": start, "length": pos - start})
            elif v2 and any(entry[0] == marker for entry in stack):
                at = _byte_offset(src, i)
                raise EntityParseError(f"Can't find end of {_MD2_NAMES[kind]} entity at byte offset {at}")
            else:
                stack.append((marker, pos, i))
            i += len(marker)
            continue
        if v2 and c == ">" and (i == 0 or src[i - 1] == "\n"):
            end = src.find("\n", i)
            end = n if end < 0 else end
            inner_text, inner = parse_markdown(src[i + 1 : end], v2=True)
            if inner_text:
                entities.append({"type": "blockquote", "offset": pos, "length": utf16_len(inner_text)})
            entities.extend({**e, "offset": e["offset"] + pos} for e in inner)
            emit(inner_text)
            i = end
            continue
        if v2 and c in _MD2_RESERVED:
            raise EntityParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        emit(c)
        i += 1
    if stack:
        marker, _, at = stack[-1]
        if not v2:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(src, at)}"
            )
        kind = "text_link" if marker == "[" else _MD2_MARKERS[marker]
        raise EntityParseError(
            f"Can't find end of {_MD2_NAMES[kind]} entity at byte offset {_byte_offset(src, at)}"
        )
    return "".join(out), _sorted(entities)


def format_text(
    text: str, parse_mode: str | None, entities: list[dict] | None = None
) -> tuple[str, list[dict]]:
    """Apply ``parse_mode`` (or explicit ``entities``) to ``text`` as Telegram does."""
    mode = (parse_mode or "").lower()
    if entities:
        return text, [dict(e) for e in entities]
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown(text, v2=True)
    if mode == "markdown":
        return parse_markdown(text, v2=False)
    if mode:
        raise EntityParseError(f"Unsupported parse_mode {parse_mode!r}")
    return text, []


_COMMAND = re.compile(r"(?<![\w/@])/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{3,32}))?(?![\w/])")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{3,32})\b")
_URL = re.compile(r"(?<![\w@])https?://[^\s<>\"]+")


def detect_entities(text: str) -> list[dict]:
    """Entities Telegram's clients attach to a plain text: bot commands, @mentions and URLs."""
    found = []
    for regex, kind in ((_COMMAND, "bot_command"), (_MENTION, "mention"), (_URL, "url")):
        for m in regex.finditer(text):
            found.append(
                {"type": kind, "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group(0))}
            )
    return _sorted(found)


def entity_text(text: str, entity: dict) -> str:
    """The slice of ``text`` an entity covers (offsets are UTF-16)."""
    raw = text.encode("utf-16-le")
    start, length = entity["offset"] * 2, entity["length"] * 2
    return raw[start : start + length].decode("utf-16-le")
