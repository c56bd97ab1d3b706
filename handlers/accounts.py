"""Several panel accounts per chat: `/accounts` (the list; make default, rename, unlink), and the account
names every flow shows once a chat has more than one.

An account's name is its label; a chat with two or more accounts gets default labels for the unnamed ones
(the panel's host; with the currency, or the id, when that is taken), stored, so that notifications and
every list name the same account the same way. Renaming asks for text: a forced reply in groups.

Callback data (management checks `may_manage` afresh on every press):
  acs:list                  the list              acs:show:<account id>   one account and its actions
  acs:def:<account id>      make it the default   acs:ren:<account id>    rename (asks for the label)
  acs:drop:<account id>     ask to unlink         acs:unl:<account id>    unlink it
  acs:x                     leave the rename step
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.accounts import unlink_account
from handlers.common import (
    Button,
    Context,
    Turn,
    ask_reply,
    esc,
    int_arg,
    is_private,
    may_manage,
    money,
    parse_callback,
    refuse,
    turn,
)
from handlers.flow import END, Flow, flow_data
from handlers.start import main_buttons, panel_host
from storage import repo
from storage.models import Account
from storage.repo.accounts import LABEL_MAX

NAME = 0
BUTTON_NAME = 30  # characters of a label on a button


# ---------------------------------------------------------------------------------------------- names


def account_name(account: Account) -> str:
    """What the chat calls this account (plain text: escape it for HTML)."""
    return account.label or panel_host(account.panel_url)


def button_name(account: Account, *, mark: str = "") -> str:
    name = account_name(account)
    name = name if len(name) <= BUTTON_NAME else name[: BUTTON_NAME - 1] + "…"
    return f"{mark}{name} · {account.currency or '?'}"


def default_label(account: Account, taken: Iterable[str]) -> str:
    """The panel's host; with the currency, then the account id, when another account is called that."""
    used = {name.casefold() for name in taken}
    host = panel_host(account.panel_url)
    for candidate in (host, f"{host} {account.currency or ''}".strip(), f"{host} #{account.id}"):
        if candidate.casefold() not in used:
            return candidate[:LABEL_MAX]
    return f"#{account.id}"


async def chat_accounts(t: Turn, chat_id: int | None = None) -> list[Account]:
    """The chat's linked accounts, the default first; with two or more, every one has a label (given here
    to those that have none)."""
    target = t.chat_id if chat_id is None else chat_id
    accounts = await t.accounts(target)
    if len(accounts) > 1 and any(not a.label for a in accounts):
        async with t.session() as session:
            for account in sorted(accounts, key=lambda a: a.id or 0):
                if not account.label:
                    session.add(account)
                    others = [a.label for a in accounts if a.label and a is not account]
                    account.label = default_label(account, others)
            await session.commit()
    return accounts


async def names_if_several(t: Turn, account_ids: Iterable[int] = ()) -> dict[int, str]:
    """id -> name of the chat's accounts (and of `account_ids`, unlinked ones too), when the chat has more
    than one account or the ids span more than one; else {} (a single account goes unnamed)."""
    linked = await chat_accounts(t)
    wanted = set(account_ids)
    names = {a.id: account_name(a) for a in linked if a.id is not None}
    missing = wanted - set(names)
    if missing:
        async with t.session() as session:
            for account_id, account in (await repo.accounts.accounts_by_ids(session, missing)).items():
                names[account_id] = account_name(account)
    return names if len(linked) > 1 or len(wanted) > 1 else {}


async def name_of(t: Turn, account_id: int) -> str | None:
    """The account's name when the chat has several accounts; None otherwise."""
    return (await names_if_several(t, [account_id])).get(account_id)


# ---------------------------------------------------------------------------------------------- the list


async def _list_page(t: Turn) -> tuple[str, list[list[Button]]]:
    _ = t._
    accounts = await chat_accounts(t)
    if not accounts:
        return _("No panel is linked to this chat yet."), main_buttons(t, False)
    lines = [_("🔗 <b>Linked panels</b>"), ""]
    rows: list[list[Button]] = []
    for account in accounts:
        mark = "⭐ " if account.is_default else ""
        balance = money(account.last_balance, account.currency) if account.last_balance is not None else "—"
        lines.append(
            f"{mark}<b>{esc(account_name(account))}</b> · <code>{esc(panel_host(account.panel_url))}</code>"
        )
        lines.append(
            "    "
            + _(
                "Currency: {currency} · last balance: {balance}",
                currency=esc(account.currency or "?"),
                balance=balance,
            )
        )
        rows.append([(button_name(account, mark=mark), f"acs:show:{account.id}")])
    if len(accounts) > 1:
        lines += [
            "",
            _("⭐ marks the default panel. Press a panel to rename it, make it the default or unlink it."),
        ]
    else:
        lines += ["", _("Press the panel to rename or unlink it. /connect links another one.")]
    rows.append([(_("➕ Link another panel"), "acc:connect")])
    return "\n".join(lines), rows


async def accounts_command(update: Update, context: Context) -> None:
    t = await turn(update, context)
    await t.show(*(await _list_page(t)), edit=False)


async def _account_page(t: Turn, account: Account) -> None:
    _ = t._
    lines = [
        f"<b>{esc(account_name(account))}</b>",
        _("Panel: <code>{host}</code>", host=esc(panel_host(account.panel_url))),
        _("Currency: {currency}", currency=esc(account.currency or "?")),
    ]
    if account.is_default:
        lines.append(_("⭐ This is the default panel."))
    aid = account.id
    rows: list[list[Button]] = []
    if not account.is_default:
        rows.append([(_("⭐ Make default"), f"acs:def:{aid}")])
    rows.append([(_("✏️ Rename"), f"acs:ren:{aid}"), (_("🔌 Unlink"), f"acs:drop:{aid}")])
    rows.append([(_("⬅️ Panels"), "acs:list")])
    await t.show("\n".join(lines), rows)


async def _own_account(t: Turn, account_id: int) -> Account | None:
    async with t.session() as session:
        account = await repo.accounts.get_account(session, account_id, t.chat_id)
    if account is None:
        await t.answer(t._("This panel is not linked any more."), alert=True)
        await t.show(*(await _list_page(t)))
    return account


async def on_button(update: Update, context: Context) -> None:
    t = await turn(update, context)
    parts = parse_callback(t.query.data if t.query else None)
    action, account_id = (parts[1] if len(parts) > 1 else "list"), int_arg(parts, 2)
    if action == "list":
        await t.answer()
        await t.show(*(await _list_page(t)))
        return
    if action != "show" and not await may_manage(t):  # looking is free; changing is for admins
        await refuse(t)
        return
    account = await _own_account(t, account_id)
    if account is None:
        return
    _ = t._
    if action == "show":
        await t.answer()
        await _account_page(t, account)
    elif action == "def":
        async with t.session() as session:
            await repo.accounts.set_default_account(session, t.chat_id, account_id)
            t.forget_accounts()
            await session.commit()
        account.is_default = True
        await t.answer(_("Default panel: {name}", name=account_name(account)))
        await _account_page(t, account)
    elif action == "drop":
        await t.answer()
        text = _(
            "Unlink <b>{name}</b> from this chat? Its orders stay in the history, but their status is no "
            "longer followed, and its starred services are forgotten.",
            name=esc(account_name(account)),
        )
        rows = [[(_("Yes, unlink"), f"acs:unl:{account_id}"), (_("Keep it"), f"acs:show:{account_id}")]]
        await t.show(text, rows)
    elif action == "unl":
        await unlink_account(t.deps, t.chat_id, account_id)
        t.forget_accounts()
        await t.answer(_("Unlinked: {name}", name=account_name(account)))
        await t.show(*(await _list_page(t)))
    else:
        await t.answer()


# ---------------------------------------------------------------------------------------------- rename


def _renaming(context: Context) -> dict[str, Any]:
    return flow_data("acs_rename")


async def rename_start(update: Update, context: Context) -> int:
    t = await turn(update, context)
    if not await may_manage(t):
        await refuse(t)
        return END
    account = await _own_account(t, int_arg(parse_callback(t.query.data if t.query else None), 2))
    if account is None:
        return END
    await t.answer()
    _renaming(context)[str(t.chat_id)] = account.id
    text = t._(
        "Send the new name of <b>{name}</b> (up to {max} characters), or press Cancel.",
        name=esc(account_name(account)),
        max=LABEL_MAX,
    )
    await _ask(t, text, [[(t._("✖️ Cancel"), "acs:x")]])
    return NAME


async def _ask(t: Turn, text: str, rows: Sequence[Sequence[Button]]) -> None:
    """In place in a private chat; a forced reply in a group (privacy mode: only replies reach the bot)."""
    if is_private(t.update):
        await t.show(text, rows)
        return
    await ask_reply(t, text, hint=t._("Reply to this message. /cancel stops."))


async def rename_text(update: Update, context: Context) -> int:
    t = await turn(update, context)
    account_id = _renaming(context).pop(str(t.chat_id), None)
    if account_id is None:
        return END
    if not await may_manage(t):  # a demoted admin is stopped here too
        await refuse(t)
        return END
    text = " ".join(((update.effective_message.text if update.effective_message else "") or "").split())
    if not text or len(text) > LABEL_MAX:
        _renaming(context)[str(t.chat_id)] = account_id
        note = t._("A name is one line of 1 to {max} characters. Send another, or /cancel.", max=LABEL_MAX)
        await t.show(esc(note), edit=False)
        return NAME
    async with t.session() as session:
        account = await repo.accounts.rename_account(session, account_id, t.chat_id, text)
        t.forget_accounts()
        await session.commit()
    if account is None:
        await t.show(esc(t._("This panel is not linked any more.")), edit=False)
        return END
    note = t._("✅ Renamed to <b>{name}</b>.", name=esc(account_name(account)))
    text_, rows = await _list_page(t)
    await t.show(f"{note}\n\n{text_}", rows, edit=False)
    return END


async def rename_cancel(update: Update, context: Context) -> int:
    t = await turn(update, context)
    _renaming(context).pop(str(t.chat_id), None)
    await t.answer()
    await t.show(esc(t._("Okay, the name stays as it was.")), edit=t.query is not None)
    return END


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    rename = Flow(
        "accounts",
        entry_points=[CallbackQueryHandler(rename_start, pattern=r"^acs:ren:\d+$")],
        steps={NAME: [MessageHandler(filters.TEXT & ~filters.COMMAND, rename_text)]},
        fallbacks=[
            CommandHandler("cancel", rename_cancel),
            CallbackQueryHandler(rename_cancel, pattern=r"^acs:x$"),
        ],
        expired_buttons=r"^acs:x$",
    )
    application.add_handler(rename)
    application.add_handler(CommandHandler("accounts", accounts_command))
    application.add_handler(CallbackQueryHandler(on_button, pattern=r"^acs:"))
