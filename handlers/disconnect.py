"""Unlinking a panel (/disconnect, `acc:drop:<id>`, `acc:unlink:<id>`, `acc:keep`). Registered by
handlers/connect.py, after the /connect conversation."""

from __future__ import annotations

from telegram import Update

from bot.accounts import unlink_account
from handlers.accounts import button_name, chat_accounts
from handlers.common import Context, Turn, esc, int_arg, may_manage, parse_callback, refuse, turn
from handlers.start import main_buttons, panel_host
from storage import repo


async def cmd_disconnect(update: Update, context: Context) -> None:
    t = await turn(update, context)
    if not await may_manage(t, cached=True):  # only asks; the Unlink press is checked afresh
        await refuse(t)
        return
    accounts = await t.accounts()
    if not accounts:
        await t.show(t._("No panel is linked."), main_buttons(t, False), edit=False)
    elif len(accounts) == 1:
        await confirm_unlink(t, accounts[0].id or 0, accounts[0].panel_url, edit=False)
    else:
        accounts = await chat_accounts(t)  # the names to tell them apart
        rows = [[(button_name(a), f"acc:drop:{a.id}")] for a in accounts]
        rows.append([(t._("Keep them"), "acc:keep")])
        await t.show(t._("Which panel should be unlinked?"), rows, edit=False)


async def confirm_unlink(t: Turn, account_id: int, url: str, *, edit: bool = True) -> None:
    text = t._(
        "Unlink the panel <code>{host}</code> from this chat? Its orders stay in the history, but their "
        "status is no longer followed.",
        host=esc(panel_host(url)),
    )
    rows = [[(t._("Yes, unlink"), f"acc:unlink:{account_id}"), (t._("Keep it"), "acc:keep")]]
    await t.show(text, rows, edit=edit)


async def on_unlink_button(update: Update, context: Context) -> None:
    t = await turn(update, context)
    if not await may_manage(t):
        await refuse(t)
        return
    parts = parse_callback(update.callback_query.data if update.callback_query else None)
    action, account_id = parts[1], int_arg(parts, 2)
    await t.answer()
    if action == "keep":
        await t.show(t._("Okay, nothing was unlinked."))
        return
    async with t.session() as session:
        account = await repo.accounts.get_account(session, account_id, t.chat_id)
    if account is None:
        await t.show(t._("This panel is not linked any more."))
        return
    if action == "drop":
        await confirm_unlink(t, account_id, account.panel_url)
        return
    await unlink_account(t.deps, t.chat_id, account_id)
    t.forget_accounts()
    remaining = await t.account()
    text = t._("✅ The panel <code>{host}</code> was unlinked.", host=esc(panel_host(account.panel_url)))
    await t.show(text, main_buttons(t, remaining is not None))
