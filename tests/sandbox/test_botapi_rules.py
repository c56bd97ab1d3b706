"""The emulator refuses what Telegram refuses: the pure checks, and the same checks over HTTP."""

from __future__ import annotations

import os

os.environ["PTB_TIMEDELTA"] = "true"

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from bot.sandbox.botapi import BotApiEmulator
from bot.sandbox.botapi_rules import (
    ApiError,
    check_callback_answer,
    check_caption,
    check_inline_keyboard,
    check_inline_results,
    check_text,
    validate_message,
)

ANN = 11
EMOJI = "😀"  # astral plane: 2 UTF-16 code units


def refused(check, *args) -> str:
    with pytest.raises(ApiError) as info:
        check(*args)
    assert info.value.code == 400
    return info.value.description


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<br>", 'Unsupported start tag "br" at byte offset 0'),
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ("<script>x</script>", 'Unsupported start tag "script"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", "Unmatched end tag"),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("Tom & Jerry", "Character '&' at byte offset 4"),
        ("&nbsp;", "Character '&' at byte offset 0"),
        ("&#0;", "Character '&'"),
    ],
)
def test_html_refused_with_telegrams_words(html, error):
    description = refused(check_text, html, "HTML")
    assert description.startswith("Bad Request: can't parse entities: ")
    assert error in description


@pytest.mark.parametrize(
    "html",
    [
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike><del>d</del>",
        '<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler><a href="https://x.test/?a=1&amp;b=2">l</a>',
        '<code>c</code><pre>p</pre><pre><code class="language-python">x = 1</code></pre>',
        "<blockquote>q</blockquote><blockquote expandable>long</blockquote>",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
        "&lt;b&gt; &amp; &quot; &#65; &#x42; > alone",
    ],
)
def test_html_accepted(html):
    assert check_text(html, "HTML")[0]


def test_length_counted_in_utf16_after_parsing():
    assert check_text("a" * 4096)[0] == "a" * 4096
    assert refused(check_text, "a" * 4097) == "Bad Request: message is too long"
    # 2048 emoji are 4096 UTF-16 units (but only 2048 code points): the limit, not over it
    check_text(EMOJI * 2048)
    assert refused(check_text, EMOJI * 2048 + "a") == "Bad Request: message is too long"
    # tags and entities do not count: 4096 visible characters wrapped in markup pass...
    check_text("<b>" + "&amp;" * 4096 + "</b>", "HTML")
    # ...and are measured on the parsed text, not the source
    assert refused(check_text, "<b>" + "&lt;" * 4097 + "</b>", "HTML") == "Bad Request: message is too long"
    assert refused(check_text, "") == "Bad Request: message text is empty"
    assert refused(check_text, "<b> </b>", "HTML") == "Bad Request: message text is empty"
    assert refused(check_text, "<b></b>", "HTML") == "Bad Request: message text is empty"


def test_caption_limit_in_utf16():
    assert check_caption(None) == (None, [])
    check_caption(EMOJI * 512)
    assert refused(check_caption, EMOJI * 512 + "a") == "Bad Request: message caption is too long"
    check_caption("<b>" + "x" * 1024 + "</b>", "HTML")


def button(text="b", **action):
    return {"text": text, **(action or {"callback_data": "x"})}


def test_keyboard_limits():
    check_inline_keyboard([[button(callback_data="d" * 64)]])
    check_inline_keyboard([[button()] * 8] * 12 + [[button()] * 4])  # exactly 100
    assert refused(check_inline_keyboard, [[button()] * 8] * 12 + [[button()] * 5]) == (
        "Bad Request: reply markup is too long"
    )
    for data in ("d" * 65, "é" * 33, ""):  # bytes, not characters; empty is refused too
        error = refused(check_inline_keyboard, [[button(callback_data=data)]])
        assert error == "Bad Request: BUTTON_DATA_INVALID"
    assert refused(check_inline_keyboard, [[button(text=" ")]]) == "Bad Request: BUTTON_TEXT_INVALID"
    assert "Array of Arrays" in refused(check_inline_keyboard, [button()])


def test_callback_answer_limit():
    check_callback_answer(None)
    check_callback_answer("x" * 200)
    assert refused(check_callback_answer, "x" * 201) == "Bad Request: MESSAGE_TOO_LONG"


def test_validate_message_checks_text_and_keyboard():
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="a:b")]]).to_dict()
    assert validate_message("<b>Hi</b> &amp; bye", markup) == "Hi & bye"
    too_many = InlineKeyboardMarkup([[InlineKeyboardButton("k", callback_data="k")]] * 101).to_dict()
    assert refused(validate_message, "ok", too_many) == "Bad Request: reply markup is too long"


@pytest.fixture
async def bot():
    emulator = BotApiEmulator()
    await emulator.start()
    emulator.add_user(ANN, "Ann")
    emulator.add_private_chat(ANN)
    async with Bot(emulator.token, base_url=f"{emulator.url}/bot") as b:
        yield b
    await emulator.stop()


async def test_the_emulator_applies_the_rules_over_http(bot):
    sent = await bot.send_message(ANN, EMOJI * 2048)
    assert sent.text == EMOJI * 2048
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(ANN, EMOJI * 2049)
    with pytest.raises(BadRequest, match="Can't parse entities: unclosed end tag"):
        await bot.send_message(ANN, "<b>" + "x" * 4000 + "</b", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)character '&'"):
        await bot.send_message(ANN, "R&D", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.edit_message_text("y" * 4097, ANN, sent.message_id)
    with pytest.raises(BadRequest, match="Reply markup is too long"):
        rows = [[InlineKeyboardButton("k", callback_data="k")]] * 101
        await bot.send_message(ANN, "k", reply_markup=InlineKeyboardMarkup(rows))


def test_inline_results_are_checked_as_messages():
    ok = {"type": "article", "id": "1", "title": "t", "input_message_content": {"message_text": "<b>x</b>"}}
    html = {"message_text": "<b>x</b>", "parse_mode": "HTML"}
    check_inline_results([ok, {**ok, "input_message_content": html}])
    too_long = {**ok, "input_message_content": {"message_text": EMOJI * 2049}}
    assert refused(check_inline_results, [too_long]) == "Bad Request: message is too long"
    broken = {**ok, "input_message_content": {"message_text": "<b>x", "parse_mode": "HTML"}}
    assert "can't parse entities" in refused(check_inline_results, [broken])
