"""/export [range]: the chat's orders as a CSV document (see bot/export.py for the columns and the encoding).

In a group every member may export: the group's orders are shown to every member anyway. An export reads
the whole history, so it is limited to one per chat every EXPORT_INTERVAL seconds.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from telegram import Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler

from bot.export import MAX_ROWS, CsvBuilder, ExportRange, filename, parse_range
from handlers.common import Context, Turn, command_args, esc, turn
from storage import repo

log = logging.getLogger(__name__)

EXPORT_INTERVAL = 30.0
BATCH = 1000
_STAMPS = "export_stamps"  # bot_data key: chat id -> time.monotonic() of the chat's last export


def _usage(t: Turn) -> str:
    _ = t._
    return "\n".join(
        [
            _("I could not read that range. Use one of:"),
            _("/export — all orders"),
            _("/export 7d — the last 7 days (or 30d, 90d …)"),
            _("/export 2026-11-01 — from that day on"),
            _("/export 2026-11-01 2026-11-30 — from the first day to the second, both included"),
            _("Dates are YYYY-MM-DD, in UTC."),
        ]
    )


def _stamps(context: Context) -> dict[int, float]:
    return context.application.bot_data.setdefault(_STAMPS, {})


def _wait_left(context: Context, chat_id: int) -> int:
    """Seconds until this chat may export again (0: now)."""
    last = _stamps(context).get(chat_id)
    if last is None:
        return 0
    return max(0, int(EXPORT_INTERVAL - (time.monotonic() - last) + 0.999))


def _stamp(context: Context, chat_id: int) -> None:
    stamps = _stamps(context)
    now = time.monotonic()
    if len(stamps) > 10_000:  # forget the chats whose pause is long over
        for key in [k for k, v in stamps.items() if now - v > EXPORT_INTERVAL]:
            del stamps[key]
    stamps[chat_id] = now


async def _build(t: Turn, span: ExportRange) -> CsvBuilder:
    """Read the orders batch by batch (flat memory however long the history) into the CSV."""
    builder = CsvBuilder()
    after = 0
    async with t.session() as session:
        while not builder.truncated:
            batch = await repo.orders.orders_for_export(
                session, t.chat_id, after_id=after, since=span.since, until=span.until, limit=BATCH
            )
            if not batch:
                break
            builder.add(batch)
            after = batch[-1].id
            if len(batch) < BATCH:
                break
    return builder


def _caption(t: Turn, builder: CsvBuilder, span: ExportRange) -> str:
    _ = t._
    lines = [_.ngettext("{n} order", "{n} orders", builder.rows)]
    if span.first_day and span.last_day:
        lines.append(_("From {start} to {end} (UTC)", start=span.first_day, end=span.last_day))
    elif span.first_day:
        lines.append(_("From {start} on (UTC)", start=span.first_day))
    if builder.truncated:
        lines.append(
            _(
                "Only the oldest {n} orders fit in one file: export a shorter range for the rest, "
                "e.g. /export 30d.",
                n=builder.rows or MAX_ROWS,
            )
        )
    return "\n".join(esc(line) for line in lines)


async def cmd_export(update: Update, context: Context) -> None:
    t = await turn(update, context)
    message = update.effective_message
    assert message is not None
    try:
        span = parse_range(command_args(context))
    except ValueError:
        await message.reply_text(esc(_usage(t)))
        return
    wait = _wait_left(context, t.chat_id)
    if wait:
        text = t._("An export was made here a moment ago. Please try again in {n} s.", n=wait)
        await message.reply_text(esc(text))
        return
    _stamp(context, t.chat_id)
    try:
        await context.bot.send_chat_action(t.chat_id, ChatAction.UPLOAD_DOCUMENT)
    except TelegramError:
        pass
    builder = await _build(t, span)
    if not builder.rows:
        _stamps(context).pop(t.chat_id, None)  # nothing was sent: no reason to make them wait
        await message.reply_text(esc(t._("No orders to export.")))
        return
    name = filename(t.chat_id, span, builder.first, builder.last)
    await message.reply_document(builder.content(), filename=name, caption=_caption(t, builder, span))
    log.info("exported %d orders of chat %s", builder.rows, t.chat_id)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("export", cmd_export))
