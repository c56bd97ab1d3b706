"""Starred services: the ⭐ Star / ☆ Unstar button of a service card, and the chat's favourites that /order
and the first page of /services offer first. A star belongs to the chat and to one of its accounts (a
service id only means something on its own panel); in a group, whoever may order may star.

Callback data:
  fav:<service id>:<account id>   star or unstar (the card's other buttons stay as they are)
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler

from bot.panel import PanelError, Service
from handlers.common import Button, Context, Turn, int_arg, may_order, parse_callback, refuse, turn
from storage import repo
from storage.models import Account

SHOWN = 8  # favourites offered at most


def star_button(_: Any, service_id: int, account_id: int, starred: bool) -> Button:
    return (_("☆ Unstar") if starred else _("⭐ Star"), f"fav:{service_id}:{account_id}")


async def is_starred(t: Turn, account_id: int, service_id: int) -> bool:
    async with t.session() as session:
        return await repo.favorites.is_favorite(session, t.chat_id, account_id, service_id)


async def favourites(t: Turn, account: Account) -> list[Service]:
    """The account's starred services still in its catalog, oldest star first (none when the catalog
    cannot be fetched now: favourites are a shortcut, never a reason to fail)."""
    async with t.session() as session:
        starred = await repo.favorites.list_favorites(session, t.chat_id, account.id)
    if not starred:
        return []
    try:
        catalog = await t.deps.panels.catalog(account)
    except PanelError:
        return []
    found = [catalog.get(f.service_id) for f in starred]
    return [s for s in found if s is not None][:SHOWN]


async def on_star(update: Update, context: Context) -> None:
    t = await turn(update, context)
    if not await may_order(t):
        await refuse(t, t._("Only those who may order here may star services."))
        return
    data = t.query.data if t.query else ""
    parts = parse_callback(data)
    service_id, account_id = int_arg(parts, 1), int_arg(parts, 2)
    async with t.session() as session:
        account = await repo.accounts.get_account(session, account_id, t.chat_id)
        if account is None:
            starred = None
        else:
            starred = await repo.favorites.toggle_favorite(session, t.chat_id, account_id, service_id)
            await session.commit()
    if starred is None:
        await t.answer(t._("This panel is not linked any more."), alert=True)
        return
    await t.answer(
        t._("⭐ Starred: it comes first in /order and /services.") if starred else t._("Unstarred.")
    )
    message = t.query.message if t.query else None
    if t.query is not None and isinstance(message, Message) and message.reply_markup is not None:
        label, _target = star_button(t._, service_id, account_id, starred)
        rows = [
            [InlineKeyboardButton(label, callback_data=data) if b.callback_data == data else b for b in row]
            for row in message.reply_markup.inline_keyboard
        ]
        try:
            await t.query.edit_message_reply_markup(InlineKeyboardMarkup(rows))
        except BadRequest:  # not modified (pressed twice quickly), or too old to edit
            pass


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CallbackQueryHandler(on_star, pattern=r"^fav:\d+:\d+$"))
