"""Outbox delivery through the Bot API emulator with a real telegram.Bot, on SQLite and PostgreSQL.

Most tests shorten the per-chat interval and the backoff to keep them fast; the pacing tests keep Telegram's
limits and scale the emulator's clock (and the Deliverer's limits) by `time_scale` instead.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.delivery import Deliverer, schedule_delivery, wake
from bot.sandbox.botapi import BotApiEmulator
from storage import repo
from storage.models import Outbox

os.environ.setdefault("PTB_TIMEDELTA", "true")

Sessions = async_sessionmaker[AsyncSession]
FAST = {"per_chat_interval": 0.02, "group_per_minute": 3000.0, "backoff_base": 0.2, "poll_interval": 0.1}


@pytest.fixture
async def tg() -> AsyncIterator[BotApiEmulator]:
    emu = BotApiEmulator()
    await emu.start()
    yield emu
    await emu.stop()


async def make_bot(tg: BotApiEmulator) -> Bot:
    bot = Bot(tg.token, base_url=f"{tg.url}/bot", request=HTTPXRequest(connection_pool_size=32))
    await bot.initialize()
    return bot


@pytest.fixture
async def bot(tg: BotApiEmulator) -> AsyncIterator[Bot]:
    b = await make_bot(tg)
    yield b
    await b.shutdown()


async def chat(sessions: Sessions, tg: BotApiEmulator, chat_id: int) -> None:
    """The chat on both sides: in the emulator and in our table."""
    if chat_id > 0:
        tg.add_user(chat_id, f"U{chat_id}")
        tg.add_private_chat(chat_id)
    else:
        tg.add_group(chat_id, f"G{chat_id}", admins=[7])
    async with sessions() as s:
        await repo.chats.get_or_create_chat(s, chat_id, "private" if chat_id > 0 else "group")
        await s.commit()


async def queue(sessions: Sessions, chat_id: int, *texts: str, buttons: Any = None) -> list[int]:
    ids = []
    async with sessions() as s:
        for text in texts:
            ids.append(await repo.outbox.enqueue(s, chat_id, text, buttons))
        await s.commit()
    return ids


async def rows(sessions: Sessions, chat_id: int | None = None) -> list[Outbox]:
    async with sessions() as s:
        stmt = select(Outbox).order_by(Outbox.id)
        if chat_id is not None:
            stmt = stmt.where(Outbox.chat_id == chat_id)
        return list((await s.scalars(stmt)).all())


async def eventually(read: Any, check: Any, timeout: float = 5.0) -> None:
    """Poll `await read()` until `check(value)` holds."""
    deadline = time.monotonic() + timeout
    while not check(await read()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def texts(tg: BotApiEmulator, chat_id: int) -> list[str]:
    return [m["text"] for m in tg.bot_messages(chat_id)]


def attempts(tg: BotApiEmulator, chat_id: int) -> int:
    return sum(1 for p in tg.calls("sendMessage") if p["chat_id"] == chat_id)


async def test_in_order_per_chat_with_buttons(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    for c in (11, 12, -13):
        await chat(session_factory, tg, c)
    buttons = [
        [{"text": "Refresh", "callback_data": "o:r:5"}],
        [{"text": "Panel", "url": "https://p.example"}],
    ]
    await queue(session_factory, 11, "<b>Order 5</b>: In progress", buttons=buttons)
    await queue(session_factory, 12, "b1", "b2")
    await queue(session_factory, 11, "a2", "a3")
    await queue(session_factory, -13, "g1", "g2", "g3")
    tg.add_user(14, "U")
    tg.add_private_chat(14)
    await queue(session_factory, 14, "to a chat we have no row for")
    deliverer = Deliverer(bot, session_factory, **FAST)
    assert await deliverer.drain_once() == 9
    assert texts(tg, 11) == ["Order 5: In progress", "a2", "a3"]
    assert texts(tg, 12) == ["b1", "b2"] and texts(tg, -13) == ["g1", "g2", "g3"]
    first = tg.bot_messages(11)[0]
    assert first["entities"][0]["type"] == "bold"
    assert tg.buttons(first) == [("Refresh", "o:r:5"), ("Panel", "https://p.example")]
    assert all(r.sent_at is not None and r.attempts == 1 for r in await rows(session_factory))
    assert texts(tg, 14) == ["to a chat we have no row for"]
    assert await deliverer.drain_once() == 0  # nothing twice
    assert len(tg.calls("sendMessage")) == 9
    assert tg.calls("sendMessage")[0]["link_preview_options"] == {"is_disabled": True}


async def test_forbidden_chat_is_deactivated_without_a_retry_storm(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    await chat(session_factory, tg, 21)
    await chat(session_factory, tg, 22)
    await queue(session_factory, 21, "x1", "x2", "x3")
    await queue(session_factory, 22, "y1", "y2")
    tg.block_bot(21)
    deliverer = Deliverer(bot, session_factory, **FAST)
    deliverer.start()
    try:
        await tg.wait_for(lambda: len(texts(tg, 22)) == 2, what="chat 22 served")
        await asyncio.sleep(0.25)  # a few polls: no second attempt
        assert attempts(tg, 21) == 1 and texts(tg, 22) == ["y1", "y2"]
        assert all(r.failed_at and "blocked" in (r.last_error or "") for r in await rows(session_factory, 21))
        async with session_factory() as s:
            assert (await repo.chats.get_chat(s, 21)).active is False  # type: ignore[union-attr]
        # Queued while inactive: given up without an attempt.
        await queue(session_factory, 21, "x4")
        deliverer.wake()
        await eventually(lambda: rows(session_factory, 21), lambda r: r[-1].failed_at is not None)
        assert attempts(tg, 21) == 1
        # The user unblocks the bot and writes to it: the chat is active again and gets new messages.
        tg.unblock_bot(21)
        async with session_factory() as s:
            await repo.chats.get_or_create_chat(s, 21, "private")
            await s.commit()
        await queue(session_factory, 21, "x5")
        deliverer.wake()
        await tg.wait_for(lambda: texts(tg, 21) == ["x5"], what="x5 delivered")
    finally:
        await deliverer.stop()
    assert deliverer.stats["forbidden"] == 1


async def test_migrated_group_follows_to_the_supergroup(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    await chat(session_factory, tg, -31)
    async with session_factory() as s:
        await repo.chats.update_chat(s, -31, language="tr")
        await s.commit()
    await queue(session_factory, -31, "m1", "m2")
    new_id = tg.migrate_group(-31)
    tg.add_group(-32, "no row of ours", admins=[7])
    await queue(session_factory, -32, "n1")
    tg.fail_next("sendMessage", "migrate", chat_id=-32)
    assert await Deliverer(bot, session_factory, **FAST).drain_once() == 3
    other = tg.groups[-32].migrated_to
    assert other is not None and texts(tg, other) == ["n1"]
    assert texts(tg, new_id) == ["m1", "m2"] and texts(tg, -31) == []
    assert attempts(tg, -31) == 1  # one refused attempt, then the new id
    async with session_factory() as s:
        assert await repo.chats.get_chat(s, -31) is None
        moved = await repo.chats.get_chat(s, new_id)
        assert moved is not None and moved.language == "tr"
    assert [r.chat_id for r in await rows(session_factory)] == [new_id, new_id, other]


async def test_retry_after_is_honoured_for_that_chat_only(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    for c in (41, 42):
        await chat(session_factory, tg, c)
    tg.fail_next("sendMessage", "429", retry_after=1, chat_id=41)
    await queue(session_factory, 41, "r1", "r2")
    await queue(session_factory, 42, "s1")
    deliverer = Deliverer(bot, session_factory, **FAST)
    started = time.monotonic()
    deliverer.start()
    try:
        await tg.wait_for(lambda: texts(tg, 42) == ["s1"], what="the other chat")
        assert time.monotonic() - started < 0.8
        await tg.wait_for(lambda: len(texts(tg, 41)) == 2, timeout=5, what="after the wait")
        assert time.monotonic() - started >= 1.0
        assert texts(tg, 41) == ["r1", "r2"] and attempts(tg, 41) == 3
    finally:
        await deliverer.stop()
    first = (await rows(session_factory, 41))[0]
    # the RetryAfter was a wait, not a failed attempt: only the send that went through counts
    assert first.attempts == 1 and "flood control" in (first.last_error or "").lower()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # timing logic, not storage
async def test_retry_after_in_several_chats_pauses_everything(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    for c in (43, 44, 45, 46):
        await chat(session_factory, tg, c)
        if c != 46:
            tg.fail_next("sendMessage", "429", retry_after=1, chat_id=c)
        await queue(session_factory, c, f"t{c}")
    deliverer = Deliverer(bot, session_factory, **FAST, overall_rate=10)  # 0.1 s apart: 46 goes last
    started = time.monotonic()
    deliverer.start()
    try:
        await tg.wait_for(lambda: texts(tg, 46) == ["t46"], timeout=5, what="the fourth chat")
        assert time.monotonic() - started >= 1.0  # held back by the global pause, not sent at ~0.3 s
        await tg.wait_for(lambda: all(texts(tg, c) for c in (43, 44, 45)), timeout=5, what="the others")
    finally:
        await deliverer.stop()
    assert attempts(tg, 46) == 1 and deliverer.stats["rate_limited"] == 3


async def test_server_errors_are_retried_with_backoff(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    await chat(session_factory, tg, 51)
    await chat(session_factory, tg, 52)
    tg.fail_next("sendMessage", "500", times=1, chat_id=51)
    tg.fail_next("sendMessage", "502", times=1, chat_id=51)
    tg.fail_next("sendMessage", "500", times=3, chat_id=52)
    await queue(session_factory, 51, "e1", "e2")
    await queue(session_factory, 52, "never", "later")
    deliverer = Deliverer(bot, session_factory, **{**FAST, "backoff_base": 0.1}, max_attempts=3)
    assert await deliverer.drain_once() == 0  # the first attempts failed: the rows wait, the next behind them
    assert attempts(tg, 51) == 1 and attempts(tg, 52) == 1
    deliverer.start()
    try:
        await tg.wait_for(lambda: texts(tg, 51) == ["e1", "e2"], timeout=5, what="retried")
        await tg.wait_for(lambda: texts(tg, 52) == ["later"], timeout=5, what="given up, then the next")
    finally:
        await deliverer.stop()
    first = (await rows(session_factory, 51))[0]
    assert first.attempts == 3 and first.sent_at is not None and "Bad Gateway" in (first.last_error or "")
    never, later = await rows(session_factory, 52)
    assert later.sent_at is not None
    assert never.failed_at is not None and never.attempts == 3 and attempts(tg, 52) == 4


async def test_bad_html_fails_that_row_only(session_factory: Sessions, tg: BotApiEmulator, bot: Bot) -> None:
    await chat(session_factory, tg, 61)
    await queue(session_factory, 61, "<b>unclosed", "fine <i>after</i>", "<nope>x</nope>", "last")
    await queue(session_factory, 61, "with a broken button", buttons=[[{"callback_data": "no text"}]])
    await queue(session_factory, 61, "the end")
    assert await Deliverer(bot, session_factory, **FAST).drain_once() == 3
    assert texts(tg, 61) == ["fine after", "last", "the end"]
    bad, _, tag, _, button, _ = await rows(session_factory, 61)
    assert (
        bad.failed_at is not None
        and bad.attempts == 1
        and "can't parse entities" in (bad.last_error or "").lower()
    )
    assert tag.failed_at is not None and button.failed_at is not None
    assert attempts(tg, 61) == 5  # the broken button never left


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_row_given_up_while_its_chat_waits_is_not_sent(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    await chat(session_factory, tg, 65)
    _, second, _ = await queue(session_factory, 65, "v1", "v2 (superseded)", "v3")
    deliverer = Deliverer(bot, session_factory, **{**FAST, "per_chat_interval": 0.3})
    draining = asyncio.create_task(deliverer.drain_once())
    await tg.wait_for(lambda: texts(tg, 65) == ["v1"], what="the first")
    async with session_factory() as s:  # e.g. the tracking side: a newer notice replaces v2
        await repo.outbox.mark_failed(s, second, "superseded")
        await s.commit()
    assert await draining == 2
    assert texts(tg, 65) == ["v1", "v3"]


async def test_cancelled_mid_drain_then_restarted_sends_each_row_once(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    await chat(session_factory, tg, 71)
    await chat(session_factory, tg, 72)
    await queue(session_factory, 71, "k1", "k2", "k3", "k4")
    await queue(session_factory, 72, "l1", "l2")
    first = Deliverer(bot, session_factory, **{**FAST, "per_chat_interval": 0.2})
    draining = asyncio.create_task(first.drain_once())
    original = tg.api_sendMessage

    def cancel_on_first(params: dict) -> dict:
        answer = original(params)  # Telegram has the message; our side has not heard back yet
        draining.cancel()
        tg.api_sendMessage = original  # type: ignore[method-assign]
        return answer

    tg.api_sendMessage = cancel_on_first  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await draining
    await first.stop()  # the send under way was recorded all the same
    sent_before = Counter(p["text"] for p in tg.calls("sendMessage"))
    assert 1 <= sum(sent_before.values()) <= 2
    assert sum(r.sent_at is not None for r in await rows(session_factory)) == sum(sent_before.values())

    second = Deliverer(bot, session_factory, **FAST)
    second.start()
    try:
        await tg.wait_for(lambda: len(tg.calls("sendMessage")) >= 6, what="the rest after the restart")
        await asyncio.sleep(0.15)
    finally:
        await second.stop()
    assert Counter(p["text"] for p in tg.calls("sendMessage")) == dict.fromkeys(
        ["k1", "k2", "k3", "k4", "l1", "l2"], 1
    )
    assert texts(tg, 71) == ["k1", "k2", "k3", "k4"]


async def test_stopped_while_running_then_restarted(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    await chat(session_factory, tg, 73)
    await queue(session_factory, 73, *[f"p{i}" for i in range(6)])
    first = Deliverer(bot, session_factory, **{**FAST, "per_chat_interval": 0.1})
    first.start()
    await tg.wait_for(lambda: len(texts(tg, 73)) >= 2, what="two sent")
    await first.stop()
    second = Deliverer(bot, session_factory, **FAST)
    second.start()
    try:
        await tg.wait_for(lambda: len(texts(tg, 73)) == 6, what="all sent")
        await asyncio.sleep(0.15)
    finally:
        await second.stop()
    assert texts(tg, 73) == [f"p{i}" for i in range(6)] and len(tg.calls("sendMessage")) == 6


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # pacing does not depend on the database
async def test_private_chat_pacing_keeps_within_limits(session_factory: Sessions) -> None:
    scale = 8  # the emulator's clock and our limits run 8x faster: 1 message per 0.125 s per chat
    async with BotApiEmulator(enforce_limits=True, time_scale=scale) as tg:
        bot = await make_bot(tg)
        await chat(session_factory, tg, 81)
        await queue(session_factory, 81, *[f"q{i}" for i in range(5)])
        started = time.monotonic()
        assert await Deliverer(bot, session_factory, per_chat_interval=1 / scale).drain_once() == 5
        elapsed = time.monotonic() - started
        await bot.shutdown()
    assert elapsed >= 4 / scale  # without pacing the emulator's burst of 3 would answer 429 to the 4th
    assert tg.stats["rate_limited"] == 0 and texts(tg, 81) == [f"q{i}" for i in range(5)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_group_pacing_keeps_within_limits(session_factory: Sessions) -> None:
    scale = 60  # 20 messages per (60/60 =) 1 s in a group
    async with BotApiEmulator(enforce_limits=True, time_scale=scale) as tg:
        bot = await make_bot(tg)
        await chat(session_factory, tg, -82)
        await queue(session_factory, -82, *[f"g{i}" for i in range(21)])
        started = time.monotonic()
        deliverer = Deliverer(bot, session_factory, per_chat_interval=1 / scale, group_per_minute=20 * scale)
        assert await deliverer.drain_once() == 21
        elapsed = time.monotonic() - started
        await bot.shutdown()
    assert elapsed >= 20 * 60 / (20 * scale)  # the 21st would be one too many in the (scaled) minute
    assert tg.stats["rate_limited"] == 0 and len(texts(tg, -82)) == 21


async def test_wired_in_the_application(db_url: str, tmp_path: Path, tg: BotApiEmulator) -> None:
    from bot.app import build_application, start_in_loop, stop_in_loop
    from bot.config import load_settings

    settings = load_settings(
        TELEGRAM_BOT_TOKEN=tg.token,
        SMMBOT_TELEGRAM_API_URL=tg.url,
        SMMBOT_DATA_DIR=str(tmp_path / "data"),
        SMMBOT_DATABASE_URL=db_url,
    )
    app = build_application(settings)  # with AIORateLimiter, as in production
    schedule_delivery(app)
    schedule_delivery(app)  # once only
    sessions = app.bot_data["deps"].sessions
    await chat(sessions, tg, 91)
    await queue(sessions, 91, "queued before the start")
    await start_in_loop(app, polling=False)
    try:
        await tg.wait_for(lambda: texts(tg, 91) == ["queued before the start"], what="the queued row")
        await chat(sessions, tg, 92)
        await queue(sessions, 92, "queued while running")
        wake(app)
        started = time.monotonic()
        await tg.wait_for(lambda: texts(tg, 92) == ["queued while running"], what="woken")
        assert time.monotonic() - started < 0.5  # woken, not found by the next poll (1 s)
    finally:
        await stop_in_loop(app)
    deliverer: Deliverer = app.bot_data["deliverer"]
    assert deliverer.stats["sent"] == 2 and deliverer._task is None
    assert len(tg.calls("sendMessage")) == 2
