"""/balance and the "bal:show" button: each linked account's balance, fresh from the panel.

When the panel cannot be reached, the last known balance is shown with its time. Callback data:
  bal:show    show (or refresh, edited in place) the balance
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.accounts import read_balance
from bot.keyvault import KeyDecryptError
from bot.panel import PanelError, PanelUnavailable, RateLimited
from handlers.accounts import account_name, chat_accounts
from handlers.common import Button, Context, Turn, esc, money, turn
from handlers.limits import must_wait
from handlers.start import main_buttons, panel_host, panel_trouble
from storage.models import Account


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


async def _account_lines(t: Turn, account: Account, several: bool) -> list[str]:
    _ = t._
    lines = []
    if several:
        mark = "⭐ " if account.is_default else ""
        host = f"<code>{esc(panel_host(account.panel_url))}</code>"
        lines.append(f"{mark}<b>{esc(account_name(account))}</b> · {host}")
    try:
        balance = await read_balance(t.deps, account)
    except (PanelUnavailable, RateLimited) as exc:
        if account.last_balance is None:
            return [*lines, panel_trouble(t, exc)]
        amount = money(account.last_balance, account.currency)
        note = _(
            "(as of {time}, the panel is unreachable now)",
            time=when(account.balance_checked_at),
        )
        return [*lines, _("💰 {amount}", amount=f"<b>{amount}</b>") + " " + note]
    except (PanelError, KeyDecryptError) as exc:
        return [*lines, panel_trouble(t, exc)]
    amount = money(balance.amount, balance.currency or account.currency)
    return [
        *lines,
        _("💰 {amount}", amount=f"<b>{amount}</b>"),
        _("Checked: {time}", time=when(account.balance_checked_at)),
    ]


async def show_balance(update: Update, context: Context) -> None:
    t = await turn(update, context)
    _ = t._
    if await must_wait(t, "balance"):
        return
    await t.answer()
    accounts = await chat_accounts(t)
    if not accounts:
        await t.show(_("No panel linked yet. Link one to see its balance."), main_buttons(t, False))
        return
    blocks = ["\n".join(await _account_lines(t, account, len(accounts) > 1)) for account in accounts]
    text = _("<b>Balance</b>") + "\n\n" + "\n\n".join(blocks)
    threshold = t.chat.low_balance_threshold
    if threshold is not None:
        alert = money(threshold, accounts[0].currency)
        text += "\n\n" + _("🔔 Low-balance alert below {amount}", amount=alert)
    rows: list[list[Button]] = [[(_("🔄 Refresh"), "bal:show")], main_buttons(t, True)[0]]
    await t.show(text, rows)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("balance", show_balance))
    application.add_handler(CallbackQueryHandler(show_balance, pattern=r"^bal:show$"))
