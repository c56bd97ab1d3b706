"""Delivery around Telegram's bad moments, through the Bot API emulator: a RetryAfter is a wait and not a
failed attempt, retries after errors are capped at 60 s with jitter, and when Telegram answers again the rows
backing off from its errors go out at once instead of sleeping on (with the chat's later rows behind them)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update
from telegram import Bot

from bot.delivery import Deliverer
from bot.sandbox.botapi import BotApiEmulator
from storage.models import Outbox
from storage.types import utcnow
from tests.push.test_delivery import FAST, Sessions, attempts, bot, chat, queue, rows, texts, tg

__all__ = ["bot", "tg"]  # fixtures


async def test_retry_after_is_a_wait_not_a_failed_attempt(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    await chat(session_factory, tg, 81)
    tg.fail_next("sendMessage", "429", times=3, retry_after=1, chat_id=81)
    await queue(session_factory, 81, "patient", "next")
    # two failed attempts would give the row up: three RetryAfters must not
    deliverer = Deliverer(bot, session_factory, **FAST, max_attempts=2)
    started = time.monotonic()
    deliverer.start()
    try:
        await tg.wait_for(lambda: texts(tg, 81) == ["patient", "next"], timeout=10, what="after the waits")
    finally:
        await deliverer.stop()
    assert time.monotonic() - started >= 3.0  # each wait was honoured
    first, _ = await rows(session_factory, 81)
    assert first.attempts == 1 and first.failed_at is None and attempts(tg, 81) == 5
    assert deliverer.stats["rate_limited"] == 3


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # arithmetic of the delay, not storage
async def test_backoff_after_many_errors_is_capped_at_a_minute_with_jitter(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    await chat(session_factory, tg, 82)
    ids = await queue(session_factory, 82, *(f"m{i}" for i in range(8)))
    async with session_factory() as s:  # rows that have failed many times already (2 s * 2**11 >> 60 s)
        await s.execute(update(Outbox).where(Outbox.id.in_(ids)).values(attempts=12))
        await s.commit()
    deliverer = Deliverer(bot, session_factory, per_chat_interval=0.001, backoff_base=2.0)
    delays = []
    for _ in ids:  # the chat's head fails each time; make the next row the head
        tg.fail_next("sendMessage", "502", chat_id=82)
        before = utcnow()
        await deliverer.drain_once()
        waiting = [r for r in await rows(session_factory, 82) if r.not_before > before and not r.failed_at]
        (row,) = waiting
        delays.append((row.not_before - before).total_seconds())
        assert (row.last_error or "").startswith("retry: ") and "Bad Gateway" in (row.last_error or "")
        async with session_factory() as s:  # out of the way: mark it given up
            await s.execute(update(Outbox).where(Outbox.id == row.id).values(failed_at=utcnow()))
            await s.commit()
    assert all(40.0 <= d <= 60.5 for d in delays), delays
    assert len({round(d, 2) for d in delays}) > 1  # jittered


async def test_rows_backing_off_go_out_as_soon_as_telegram_answers_again(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    for c in (83, 84, 85):
        await chat(session_factory, tg, c)
    tg.fail_next("sendMessage", "502", times=2)  # Telegram is down for the next two sends, whoever they go to
    await queue(session_factory, 83, "a1", "a2")
    await queue(session_factory, 84, "b1")
    # a long backoff: without the recovery rule a1, a2 and b1 would wait 20-30 s
    deliverer = Deliverer(bot, session_factory, **{**FAST, "backoff_base": 30.0})
    assert await deliverer.drain_once() == 0
    waiting = [r for r in await rows(session_factory) if r.sent_at is None]
    assert min(r.not_before for r in waiting if r.attempts) > utcnow() + timedelta(seconds=15)

    deliverer.start()
    try:
        recovered = time.monotonic()
        await queue(session_factory, 85, "fresh")  # a new notice: sent, so Telegram is back
        deliverer.wake()
        await tg.wait_for(
            lambda: texts(tg, 83) == ["a1", "a2"] and texts(tg, 84) == ["b1"], timeout=10, what="recovery"
        )
        assert time.monotonic() - recovered < 5.0
    finally:
        await deliverer.stop()
    assert texts(tg, 85) == ["fresh"] and deliverer.stats["expedited"] == 2


async def test_a_restarted_deliverer_does_not_leave_rows_backing_off(
    session_factory: Sessions, tg: BotApiEmulator, bot: Bot
) -> None:
    for c in (86, 87):
        await chat(session_factory, tg, c)
    tg.fail_next("sendMessage", "502", times=1)
    await queue(session_factory, 86, "before the crash")
    first = Deliverer(bot, session_factory, **{**FAST, "backoff_base": 30.0})
    assert await first.drain_once() == 0  # backing off for 20-30 s when the process dies
    await first.stop()

    second = Deliverer(bot, session_factory, **FAST)  # the new process knows nothing of that
    second.start()
    try:
        started = time.monotonic()
        await queue(session_factory, 87, "after the restart")
        second.wake()
        await tg.wait_for(lambda: texts(tg, 86) == ["before the crash"], timeout=10, what="the old row")
        assert time.monotonic() - started < 5.0
    finally:
        await second.stop()
