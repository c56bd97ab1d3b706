"""Telegram's limits on what a bot sends, as pure checks: the emulator's methods call them, and so do tests
that render every kind of message the bot sends (tests/test_render_rules.py).

Each check raises :class:`ApiError` (HTTP 400) with Telegram's own description. Lengths are counted the way
Telegram counts them: in UTF-16 code units of the text *after* entity parsing.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.botapi_state import ApiError, bad
from bot.sandbox.botapi_text import EntityParseError, format_text, utf16_len

__all__ = [
    "MAX_BUTTONS",
    "MAX_CALLBACK_ANSWER",
    "MAX_CALLBACK_DATA",
    "MAX_CAPTION",
    "MAX_TEXT",
    "ApiError",
    "check_button",
    "check_callback_answer",
    "check_caption",
    "check_inline_keyboard",
    "check_inline_results",
    "check_text",
    "validate_message",
]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_BUTTONS = 100
MAX_CALLBACK_ANSWER = 200

BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "login_url",
    "web_app",
    "pay",
    "callback_game",
    "copy_text",
)


def formatted(text: Any, parse_mode: Any, entities: list[dict] | None) -> tuple[str, list[dict]]:
    try:
        return format_text(str(text), parse_mode, entities)
    except EntityParseError as exc:
        raise bad(f"can't parse entities: {exc}") from None


def check_text(
    text: Any, parse_mode: Any = None, entities: list[dict] | None = None
) -> tuple[str, list[dict]]:
    """A message text: parses, not empty, at most 4096 UTF-16 units once parsed; returns (plain, entities)."""
    if text is None or str(text) == "":
        raise bad("message text is empty")
    plain, found = formatted(text, parse_mode, entities)
    if not plain.strip():
        raise bad("message text is empty")
    if utf16_len(plain) > MAX_TEXT:
        raise bad("message is too long")
    return plain, found


def check_caption(
    caption: Any, parse_mode: Any = None, entities: list[dict] | None = None
) -> tuple[str | None, list[dict]]:
    """A media caption (optional): parses, at most 1024 UTF-16 units after parsing."""
    if not caption:
        return None, []
    plain, found = formatted(caption, parse_mode, entities)
    if utf16_len(plain) > MAX_CAPTION:
        raise bad("message caption is too long")
    return plain, found


def check_web_app(info: Any) -> None:
    """A WebAppInfo: an https URL (http on loopback too, for the sandbox: Telegram itself wants https)."""
    url = info.get("url") if isinstance(info, dict) else None
    loopback = isinstance(url, str) and url.startswith(("http://127.0.0.1", "http://localhost"))
    if not isinstance(url, str) or not (url.startswith("https://") or loopback):
        raise bad("BUTTON_URL_INVALID")


def check_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    if not isinstance(button.get("text"), str):
        raise bad('can\'t parse inline keyboard button: Field "text" must be of type String')
    if not button["text"].strip():
        raise bad("BUTTON_TEXT_INVALID")
    actions = [a for a in BUTTON_ACTIONS if a in button]
    if not actions:
        raise bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
            raise bad("BUTTON_DATA_INVALID")
    if "web_app" in button:
        check_web_app(button["web_app"])
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not url or any(c.isspace() for c in url):
            raise bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def check_inline_keyboard(rows: Any) -> None:
    """The ``inline_keyboard`` array of an InlineKeyboardMarkup: well-formed buttons, at most 100 of them."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad("reply markup is too long")
    for row in rows:
        for button in row:
            check_button(button)


def check_callback_answer(text: Any) -> None:
    """answerCallbackQuery's notification/alert text: at most 200 characters."""
    if text and len(str(text)) > MAX_CALLBACK_ANSWER:
        raise bad("MESSAGE_TOO_LONG")


def check_inline_results(results: list[Any]) -> None:
    """answerInlineQuery's results: each text message content and keyboard as if sent."""
    for result in results:
        if not isinstance(result, dict):
            continue
        content = result.get("input_message_content")
        if isinstance(content, dict) and "message_text" in content:
            check_text(content["message_text"], content.get("parse_mode"), content.get("entities"))
        markup = result.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            check_inline_keyboard(markup["inline_keyboard"])


def validate_message(text: str, reply_markup: dict | None = None, parse_mode: str | None = "HTML") -> str:
    """What sendMessage/editMessageText would check for this text and markup; returns the plain text.

    ``reply_markup`` is the JSON form (``InlineKeyboardMarkup.to_dict()``). The bot sends HTML by default.
    """
    plain, _ = check_text(text, parse_mode)
    if reply_markup and "inline_keyboard" in reply_markup:
        check_inline_keyboard(reply_markup["inline_keyboard"])
    return plain
