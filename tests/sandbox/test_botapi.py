"""The Bot API emulator, driven by a real python-telegram-bot Application / Bot."""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
import os
import time

os.environ["PTB_TIMEDELTA"] = "true"

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputFile,
    InputTextMessageContent,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.sandbox.botapi import BotApiEmulator
from bot.sandbox.botapi_text import EntityParseError, detect_entities, format_text

GROUP = -4001
ANN, BOB, CAT = 11, 12, 13


def make_bot(emu: BotApiEmulator) -> Bot:
    return Bot(emu.token, base_url=f"{emu.url}/bot", base_file_url=f"{emu.url}/file/bot")


@pytest.fixture
async def emu():
    emulator = BotApiEmulator()
    await emulator.start()
    emulator.add_user(ANN, "Ann", username="ann")
    emulator.add_user(BOB, "Bob")
    emulator.add_user(CAT, "Cat")
    emulator.add_private_chat(ANN)
    emulator.add_group(GROUP, "Team", admins=[ANN, BOB], members=[CAT])
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu):
    async with make_bot(emu) as b:
        yield b


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Balance", callback_data="bal"),
                InlineKeyboardButton("Orders", callback_data="ord"),
            ]
        ]
    )
    name = update.effective_user.first_name
    await update.effective_message.reply_text(
        f"<b>Hello</b> {name}; args={context.args}", parse_mode=ParseMode.HTML, reply_markup=keyboard
    )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer(f"pressed {query.data}", show_alert=query.data == "ord")
    await query.edit_message_text(f"You chose <i>{query.data}</i>", parse_mode=ParseMode.HTML)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(f"echo: {update.effective_message.text}")


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    file = await update.effective_message.document.get_file()
    data = await file.download_as_bytearray()
    await update.effective_message.reply_text(
        f"got {update.effective_message.document.file_name}: {bytes(data)!r}"
    )


@pytest.fixture
async def app(emu):
    application: Application = (
        ApplicationBuilder()
        .token(emu.token)
        .base_url(f"{emu.url}/bot")
        .base_file_url(f"{emu.url}/file/bot")
        .build()
    )
    application.add_handler(CommandHandler("start", on_start))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    application.add_handler(MessageHandler(filters.Document.ALL, on_document))
    await application.initialize()
    await application.start()
    await application.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=1))
    yield application
    await application.updater.stop()
    await application.stop()
    await application.shutdown()


async def test_start_reply_then_button_edits_in_place(emu, app):
    mark = emu.mark()
    emu.send_text(ANN, ANN, "/start promo")
    msg = await emu.wait_for_bot_message(ANN, after=mark)
    assert msg["text"] == "Hello Ann; args=['promo']"
    assert msg["entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    assert emu.buttons(msg) == [("Balance", "bal"), ("Orders", "ord")]
    assert emu.calls("getMe") and emu.calls("deleteWebhook")

    mark = emu.mark()
    emu.press_button(ANN, msg["message_id"], "ord", ANN)
    await emu.wait_for(lambda: len(emu.calls("editMessageText")) == 1)
    edited = await emu.wait_for_bot_message(ANN, after=mark)
    assert edited["message_id"] == msg["message_id"] and edited["text"] == "You chose ord"
    assert "reply_markup" not in edited and "edit_date" in edited
    assert emu.callback_answers[0]["text"] == "pressed ord" and emu.callback_answers[0]["show_alert"] is True
    assert [m["text"] for m in emu.bot_messages(ANN)] == ["You chose ord"]
    with pytest.raises(LookupError, match=r"(?i)no button"):
        emu.press_button(ANN, msg["message_id"], "bal", ANN)  # the keyboard is gone


async def test_group_privacy_mode(emu, app):
    assert emu.send_text(GROUP, CAT, "just chatting") is None
    assert emu.send_text(GROUP, CAT, "/start@other_bot") is None
    mark = emu.mark()
    sent = emu.send_text(GROUP, CAT, "/start@smm_test_bot now")
    assert sent["entities"][0] == {"type": "bot_command", "offset": 0, "length": 19}
    reply = await emu.wait_for_bot_message(GROUP, after=mark)
    assert reply["text"] == "Hello Cat; args=['now']"
    assert reply["reply_to_message"]["message_id"] == sent["message_id"]  # PTB quotes in groups

    mark = emu.mark()
    assert emu.send_text(GROUP, BOB, "answer to the bot", reply_to=reply["message_id"]) is not None
    assert (await emu.wait_for_bot_message(GROUP, after=mark))["text"] == "echo: answer to the bot"
    mark = emu.mark()
    assert emu.send_text(GROUP, BOB, "hey @smm_test_bot") is not None
    assert (await emu.wait_for_bot_message(GROUP, after=mark))["text"] == "echo: hey @smm_test_bot"
    emu.set_admin(GROUP, emu.bot_id, True)  # admins see everything
    mark = emu.mark()
    assert emu.send_text(GROUP, CAT, "plain again") is not None
    await emu.wait_for_bot_message(GROUP, after=mark)


async def test_user_document_is_downloadable(emu, app):
    mark = emu.mark()
    emu.send_document(ANN, ANN, "links.txt", b"https://x.test/1\n", caption="my links")
    reply = await emu.wait_for_bot_message(ANN, after=mark)
    assert reply["text"] == "got links.txt: b'https://x.test/1\\n'"
    assert emu.calls("getFile")


async def test_updates_parse_exactly_in_ptb(emu, bot):
    """Every injected kind parses with no unknown fields left over (api_kwargs empty)."""
    emu.send_text(ANN, ANN, "/start")
    sent = await bot.send_message(
        ANN,
        "pick",
        reply_markup=InlineKeyboardMarkup.from_button(InlineKeyboardButton("x", callback_data="x")),
    )
    emu.press_button(ANN, sent.message_id, "x", ANN)
    emu.send_inline_query(BOB, "likes")
    emu.send_text(GROUP, ANN, "/orders", anonymous_admin=True)
    emu.send_document(ANN, ANN, "a.csv", b"1,2")
    emu.add_group(-4002, "New", admins=[BOB], bot_status="left")
    emu.add_bot_to_group(-4002, BOB)
    new_id = emu.migrate_group(GROUP)
    updates = await bot.get_updates(timeout=0)
    kinds = [next(k for k in u.to_dict() if k != "update_id") for u in updates]
    assert kinds == [
        "message", "callback_query", "inline_query", "message", "message",
        "my_chat_member", "message", "message", "message",
    ]  # fmt: skip
    ids = [u.update_id for u in updates]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for update in updates:
        for obj in (update, update.effective_message, update.effective_user, update.effective_chat):
            assert obj is None or obj.api_kwargs == {}, (update, obj.api_kwargs)
    anonymous = updates[3].message
    assert anonymous.from_user.id == 1087968824 and anonymous.sender_chat.id == GROUP
    assert (
        updates[-2].message.migrate_to_chat_id == new_id and updates[-1].message.migrate_from_chat_id == GROUP
    )
    assert (await bot.get_updates(offset=ids[-1] + 1, timeout=0)) == ()
    assert emu.pending_updates == []


async def test_chat_members_and_admins(emu, bot):
    emu.add_user(99, "Dan")
    assert (await bot.get_chat_member(GROUP, ANN)).status == "creator"
    assert (await bot.get_chat_member(GROUP, BOB)).status == "administrator"
    assert (await bot.get_chat_member(GROUP, CAT)).status == "member"
    assert (await bot.get_chat_member(GROUP, 99)).status == "left"
    assert [m.user.id for m in await bot.get_chat_administrators(GROUP)] == [ANN, BOB]
    emu.set_admin(GROUP, CAT, True)
    emu.set_admin(GROUP, emu.bot_id, True)
    admins = await bot.get_chat_administrators(GROUP)
    assert [m.user.id for m in admins] == [ANN, BOB, CAT, emu.bot_id]
    assert (await bot.get_chat_member(GROUP, emu.bot_id)).status == "administrator"
    chat = await bot.get_chat(GROUP)
    assert chat.title == "Team" and chat.type == "group"
    assert (await bot.get_chat(ANN)).first_name == "Ann"
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.get_chat(123456789)
    with pytest.raises(BadRequest, match=r"(?i)no administrators in the private chat"):
        await bot.get_chat_administrators(ANN)


async def test_faults_map_to_ptb_errors(emu, bot):
    emu.fail_next("sendMessage", "429", retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ANN, "x")
    assert caught.value.retry_after == dtm.timedelta(seconds=3)
    emu.fail_next("sendMessage", "403")
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(ANN, "x")
    emu.fail_next("sendMessage", "500", times=2)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(ANN, "x")
    assert (await bot.send_message(ANN, "finally")).text == "finally"

    emu.fail_next("sendMessage", "migrate", chat_id=GROUP)
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(GROUP, "x")
    new_id = migrated.value.new_chat_id
    assert str(new_id).startswith("-100") and emu.chats[new_id]["type"] == "supergroup"
    with pytest.raises(ChatMigrated):  # the old id stays dead
        await bot.send_message(GROUP, "again")
    assert (await bot.send_message(new_id, "moved")).chat.id == new_id

    emu.block_bot(ANN)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(ANN, "x")
    emu.send_text(ANN, ANN, "/start")  # writing again unblocks
    await bot.send_message(ANN, "welcome back")
    with pytest.raises(Forbidden, match=r"(?i)can't initiate conversation"):
        await bot.send_message(BOB, "x")  # Bob never opened a private chat


async def test_bad_requests(emu, bot):
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(ANN, "x" * 4097)
    assert (await bot.send_message(ANN, "<b>ok</b>" + "x" * 4094, parse_mode=ParseMode.HTML)).text.startswith(
        "ok"
    )
    with pytest.raises(
        BadRequest, match=r"(?i)can't parse entities: Can't find end tag corresponding to start tag \"b\""
    ):
        await bot.send_message(ANN, "<b>bold", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r'(?i)Unsupported start tag "br"'):
        await bot.send_message(ANN, "a<br>b", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)Character '!' is reserved"):
        await bot.send_message(ANN, "hi!", parse_mode=ParseMode.MARKDOWN_V2)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(ANN, " ")
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(
            ANN,
            "x",
            reply_markup=InlineKeyboardMarkup.from_button(InlineKeyboardButton("b", callback_data="é" * 33)),
        )
    markup = InlineKeyboardMarkup.from_button(InlineKeyboardButton("b", callback_data="b"))
    msg = await bot.send_message(ANN, "same", reply_markup=markup)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("same", ANN, msg.message_id, reply_markup=markup)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(ANN, msg.message_id, reply_markup=markup)
    await bot.edit_message_reply_markup(ANN, msg.message_id, reply_markup=None)
    assert "reply_markup" not in emu.messages[ANN][msg.message_id]
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", ANN, 999)
    assert await bot.delete_message(ANN, msg.message_id)
    assert (ANN, msg.message_id) in emu.deleted and msg.message_id not in emu.messages[ANN]
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(ANN, msg.message_id)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("nope")
    with pytest.raises(BadRequest, match=r"(?i)wrong parameter action"):
        await bot.send_chat_action(ANN, "dancing")
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    status, answer = await emu.call("noSuchMethod", {})
    assert (status, answer) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    with pytest.raises(InvalidToken):
        async with Bot("123456:WRONG", base_url=f"{emu.url}/bot"):
            pass


async def test_markups_actions_and_replies(emu, bot):
    question = await bot.send_message(ANN, "Link?", reply_markup=ForceReply(selective=True))
    assert question.reply_markup is None
    assert emu.extras[(ANN, question.message_id)]["reply_markup"]["force_reply"] is True
    answer = emu.send_text(ANN, ANN, "https://t.me/x", reply_to=question.message_id)
    assert answer["entities"][0]["type"] == "url"
    removed = await bot.send_message(
        ANN, "done", reply_markup=ReplyKeyboardRemove(), reply_to_message_id=answer["message_id"]
    )
    assert removed.reply_to_message.message_id == answer["message_id"]
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(ANN, "x", reply_to_message_id=999)
    assert await bot.send_chat_action(ANN, "typing")
    assert emu.chat_actions == [(ANN, "typing")]
    inline = emu.send_inline_query(BOB, "likes")
    result = InlineQueryResultArticle("1", "Likes", InputTextMessageContent("likes"))
    assert await bot.answer_inline_query(inline["id"], [result], cache_time=0)
    assert emu.inline_answers[0]["results"][0]["title"] == "Likes"
    assert await bot.set_chat_menu_button(ANN)
    ids = [m["message_id"] for m in emu.messages[ANN].values()]
    assert ids == list(range(1, len(ids) + 1))


async def test_send_document_stored_and_served(emu, bot):
    payload = b"id,status\n1,Completed\n"
    msg = await bot.send_document(
        ANN, InputFile(io.BytesIO(payload), filename="orders.csv"), caption="<b>Orders</b>", parse_mode="HTML"
    )
    assert msg.document.file_name == "orders.csv" and msg.caption == "Orders"
    stored = emu.files[msg.document.file_id]
    assert stored["content"] == payload and stored["mime_type"] == "text/csv"
    assert emu.calls("sendDocument")[0]["document"].filename == "orders.csv"
    again = await bot.send_document(ANN, msg.document.file_id)  # resend by file_id
    assert again.document.file_id == msg.document.file_id
    file = await bot.get_file(msg.document.file_id)
    assert bytes(await file.download_as_bytearray()) == payload
    with pytest.raises(BadRequest, match=r"(?i)there is no text in the message to edit"):
        await bot.edit_message_text("x", ANN, msg.message_id)
    assert (await bot.edit_message_caption(ANN, msg.message_id, caption="new")).caption == "new"


async def test_commands_per_scope_and_language(emu, bot):
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("orders", "Orders")])
    await bot.set_my_commands([BotCommand("start", "Старт")], language_code="ru")
    await bot.set_my_commands([BotCommand("balance", "Balance")], scope=BotCommandScopeAllGroupChats())
    await bot.set_my_commands([BotCommand("stats", "Stats")], scope=BotCommandScopeChat(ANN))
    assert [c.command for c in await bot.get_my_commands()] == ["start", "orders"]
    assert [c.description for c in await bot.get_my_commands(language_code="ru")] == ["Старт"]
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeAllGroupChats())] == ["balance"]
    assert [c["command"] for c in emu.effective_commands(ANN, ANN)] == ["stats"]
    assert [c["command"] for c in emu.effective_commands(GROUP, CAT)] == ["balance"]
    assert [c["command"] for c in emu.effective_commands(BOB, BOB, "ru")] == ["start"]
    assert await bot.delete_my_commands(scope=BotCommandScopeChat(ANN))
    assert await bot.get_my_commands(scope=BotCommandScopeChat(ANN)) == ()
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])


async def test_webhook_delivery_and_polling_conflict(emu, bot):
    received: list[tuple[str | None, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response()

    server = web.Application()
    server.router.add_post("/hook", hook)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        with pytest.raises(Conflict, match=r"(?i)can't use getUpdates method while webhook is active"):
            await bot.get_updates(timeout=0)
        sent = emu.send_text(ANN, ANN, "/start")
        await emu.wait_for(lambda: len(received) == 1)
        secret, update = received[0]
        assert secret == "s3cret" and update["message"]["message_id"] == sent["message_id"]
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook") and info.pending_update_count == 0
        assert await bot.delete_webhook()
        emu.send_text(ANN, ANN, "after")
        assert [u.message.text for u in await bot.get_updates(timeout=0)] == ["after"]
    finally:
        await runner.cleanup()


async def test_long_poll_wakes_on_injection_and_raw_http(emu):
    base = f"{emu.url}/bot{emu.token}"
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        poll = asyncio.create_task(http.post(f"{base}/getUpdates", json={"timeout": 5}))
        await asyncio.sleep(0.1)
        emu.send_text(ANN, ANN, "wake up")
        answer = await (await poll).json()
        assert time.monotonic() - started < 1.5
        assert answer["ok"] and answer["result"][0]["message"]["text"] == "wake up"
        first = answer["result"][0]["update_id"]
        emu.send_text(ANN, ANN, "second")
        form = await (await http.post(f"{base}/getUpdates", data={"offset": str(first + 1)})).json()
        assert [u["message"]["text"] for u in form["result"]] == ["second"]
        emu.press_button(ANN, 1, "x", ANN, force=True)  # a stale button on an unknown message
        got = await (
            await http.get(
                f"{base}/getUpdates", params={"offset": first + 2, "allowed_updates": '["message"]'}
            )
        ).json()
        assert got["result"] == []  # callback queries were not allowed: dropped
        wrong = await http.post(f"{emu.url}/bot1:nope/getMe")
        assert wrong.status == 401 and (await wrong.json())["description"] == "Unauthorized"


async def test_flood_limits(emu):
    limited = BotApiEmulator(enforce_limits=True)
    await limited.start()
    try:
        limited.add_private_chat(1)
        limited.add_group(-7, "G", admins=[1])
        async with make_bot(limited) as bot:
            for _ in range(3):  # a burst of 3 per private chat
                await bot.send_message(1, "x")
            with pytest.raises(RetryAfter):
                await bot.send_message(1, "x")
            for _ in range(20):
                await bot.send_message(-7, "g")
            with pytest.raises(RetryAfter) as per_group:
                await bot.send_message(-7, "g")
            assert per_group.value.retry_after >= dtm.timedelta(seconds=50)
            for chat in range(100, 107):
                limited.add_private_chat(chat)
                await bot.send_message(chat, "y")
            limited.add_private_chat(200)
            with pytest.raises(RetryAfter, match=r"(?i)retry in 0:00:01"):  # 30 sent in this second
                await bot.send_message(200, "z")
        assert limited.stats["sent"] == 30 and limited.stats["rate_limited"] == 3
    finally:
        await limited.stop()

    fast = BotApiEmulator(enforce_limits=True, time_scale=20)
    await fast.start()
    try:
        fast.add_private_chat(1)
        async with make_bot(fast) as bot:
            for _ in range(3):
                await bot.send_message(1, "x")
            with pytest.raises(RetryAfter):
                await bot.send_message(1, "x")
            await asyncio.sleep(0.06)  # 1 s / 20
            await bot.send_message(1, "x")
    finally:
        await fast.stop()


async def test_wait_for_reports_recent_requests(emu, bot):
    await bot.send_message(ANN, "something")
    with pytest.raises(AssertionError, match=r"sendMessage chat=11 'something' -> ok"):
        await emu.wait_for_bot_message(GROUP, timeout=0.1)


def test_text_parse_modes():
    text, entities = format_text(
        '😀 <b>a &amp; <i>b</i></b> <a href="https://x.test/?a=1&amp;b=2">link</a> &#x41;'
        '<pre><code class="language-python">x = 1</code></pre><tg-spoiler>s</tg-spoiler>',
        "HTML",
    )
    assert text == "😀 a & b link Ax = 1s"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 5},  # the emoji is 2 UTF-16 units
        {"type": "italic", "offset": 7, "length": 1},
        {"type": "text_link", "offset": 9, "length": 4, "url": "https://x.test/?a=1&b=2"},
        {"type": "pre", "offset": 15, "length": 5, "language": "python"},
        {"type": "spoiler", "offset": 20, "length": 1},
    ]
    for bad_html, error in [
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ('<a href="x>y', "Unclosed start tag at byte offset 0"),
    ]:
        with pytest.raises(EntityParseError, match=error):
            format_text(bad_html, "HTML")
    text, entities = format_text(r"*Total* \- [see](https://x.test/a\)b) `c\`d` __u__ ||s||", "MarkdownV2")
    assert text == "Total - see c`d u s"
    assert entities[1] == {"type": "text_link", "offset": 8, "length": 3, "url": "https://x.test/a)b"}
    assert [e["type"] for e in entities] == ["bold", "text_link", "code", "underline", "spoiler"]
    with pytest.raises(EntityParseError, match="Can't find end of Bold entity at byte offset 0"):
        format_text("*open", "MarkdownV2")
    assert format_text("*b* _i_ snake", "Markdown")[0] == "b i snake"
    with pytest.raises(EntityParseError, match="Can't find end of the entity starting at byte offset 5"):
        format_text("snake_case", "Markdown")
    assert [e["type"] for e in detect_entities("/start@smm_test_bot x @ann https://t.me/a")] == [
        "bot_command", "mention", "url",
    ]  # fmt: skip
