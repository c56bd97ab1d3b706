"""Right after a key is linked: the low-balance alert offered in one tap (a few amounts, or none).

Until now a new user only met the alert if they found it in /settings. `offer_low_balance_alert` is called
from the success path of /connect (handlers/connect.py got_key) and sends nothing when the chat has a
threshold already. The amounts are round numbers under the balance just read, in the account's currency.

Callback data:
  lba:<chat id>:<amount>   alert that chat below <amount> (the key may be linked to a group from a private
  lba:<chat id>:off        chat: the chat is named, and the presser must be one of its admins, asked afresh)
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler

from bot.panel import Balance
from handlers.common import (
    Button,
    Context,
    Turn,
    is_chat_admin,
    may_manage,
    money,
    parse_callback,
    refuse,
    turn,
)
from storage import repo

_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5))
SHARES = (Decimal("0.1"), Decimal("0.25"), Decimal("0.5"))  # of the balance just read
SMALL_BALANCE_AMOUNTS = (Decimal(1), Decimal(5), Decimal(10))


def round_down_nicely(amount: Decimal) -> Decimal:
    """The largest of 1, 2, 2.5, 5 times a power of ten that is not above `amount` (> 0)."""
    scale = Decimal(10) ** amount.adjusted()
    best = scale
    for step in _STEPS:
        if step * scale <= amount:
            best = step * scale
    return best.normalize()


def offer_amounts(balance: Decimal) -> list[Decimal]:
    """Three thresholds for this balance: round shares of it, or 1, 5, 10 when it is tiny."""
    if balance < 4:
        return list(SMALL_BALANCE_AMOUNTS)
    amounts = sorted({round_down_nicely(balance * share) for share in SHARES})
    return amounts if len(amounts) == len(SHARES) else list(SMALL_BALANCE_AMOUNTS)


def _amount_text(amount: Decimal) -> str:
    return format(amount.normalize(), "f")


async def offer_low_balance_alert(t: Turn, chat_id: int, balance: Balance) -> None:
    """Ask, in the chat of this turn, whether `chat_id` wants a low-balance alert; nothing if it has one."""
    async with t.session() as session:
        chat = await repo.chats.get_chat(session, chat_id)
    if chat is None or chat.low_balance_threshold is not None:
        return
    _ = t._
    currency = balance.currency
    rows: list[list[Button]] = [
        [
            (money(amount, currency), f"lba:{chat_id}:{_amount_text(amount)}")
            for amount in offer_amounts(balance.amount)
        ],
        [(_("No alert"), f"lba:{chat_id}:off")],
    ]
    text = _(
        "🔔 Shall I tell this chat when the balance runs low? Pick the amount to alert below (you can change "
        "it any time in /settings):"
    )
    await t.show(text, rows, edit=False)


async def on_offer_button(update: Update, context: Context) -> None:
    t = await turn(update, context)
    _ = t._
    parts = parse_callback(update.callback_query.data if update.callback_query else None)
    try:
        chat_id, choice = int(parts[1]), parts[2]
        amount = None if choice == "off" else Decimal(choice)
    except (IndexError, ValueError, InvalidOperation):
        await t.answer(_("This button is no longer valid."), alert=True)
        return
    if amount is not None and (not amount.is_finite() or amount <= 0):
        await t.answer(_("This button is no longer valid."), alert=True)
        return
    allowed = (
        await may_manage(t) if chat_id == t.chat_id else await is_chat_admin(context, chat_id, t.user_id)
    )
    if not allowed:
        await refuse(t)
        return
    currency = None
    async with t.session() as session:
        account = await repo.accounts.get_default_account(session, chat_id)
        currency = account.currency if account else None
        await repo.chats.update_chat(session, chat_id, low_balance_threshold=amount, balance_alert_sent=False)
        await session.commit()
    if amount is None:
        text = _("Okay, no low-balance alert. You can set one any time in /settings.")
    else:
        text = _(
            "✅ I will alert this chat when the balance falls below {amount}.",
            amount=money(amount, currency),
        )
    await t.answer()
    await t.show(text)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CallbackQueryHandler(on_offer_button, pattern=r"^lba:-?\d+:[\w.]+$"))
