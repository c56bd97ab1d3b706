"""Comparing prices across the chat's linked panels: `/compare <words>` and the ⚖️ button of a service card.

The card's service is matched in every other account's catalog by type and by name (bot/catalog.py:
name_key and similar_to: lower case, no emoji, punctuation or bracketed tags, word sets at least 60 % alike);
`/compare` searches every catalog for the words. Either way the matches are listed by rate per 1000,
cheapest first, each with an Order button for that account's service. Rates in different currencies are
not converted: each currency is its own list. Everyone may compare; ordering checks its own rights.

Callback data:
  cmp:<service id>:<account id>   compare that account's service with the other accounts' catalogs
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from telegram import Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.catalog import Catalog
from bot.formatting import name_in
from bot.panel import PanelError, Service
from handlers.accounts import account_name, chat_accounts
from handlers.common import (
    Button,
    Context,
    Turn,
    command_args,
    esc,
    int_arg,
    money,
    parse_callback,
    turn,
)
from handlers.limits import must_wait
from storage.models import Account

SHOWN = 10  # matches listed (and Order buttons)
SEARCHED = 200  # /compare: hits taken from each catalog before sorting by rate
QUERY_MAX = 100
NAME_MAX = 70


@dataclass
class Match:
    account: Account
    service: Service
    this: bool = False  # the card's own service


async def _catalogs(t: Turn, accounts: list[Account]) -> tuple[list[tuple[Account, Catalog]], list[str]]:
    """The accounts' catalogs, and a line for each that could not be fetched now."""
    try:
        await t.context.bot.send_chat_action(t.chat_id, ChatAction.TYPING)
    except TelegramError:
        pass
    found, missing = [], []
    for account in accounts:
        try:
            found.append((account, await t.deps.panels.catalog(account)))
        except PanelError:
            missing.append(
                t._("⚠️ {name}: the panel is not reachable right now.", name=esc(account_name(account)))
            )
    return found, missing


def _rate(match: Match) -> Decimal:
    return match.service.rate if match.service.rate is not None else Decimal("Infinity")


def _render(t: Turn, head: str, matches: list[Match], notes: list[str]) -> tuple[str, list[list[Button]]]:
    """The SHOWN cheapest (and the card's own service, wherever it ranks), cheapest first within each
    currency, the currency with the most matches first."""
    _ = t._
    shown = sorted(matches, key=_rate)[:SHOWN]
    this = next((m for m in matches if m.this), None)
    if this is not None and this not in shown:
        shown = sorted([*shown[:-1], this], key=_rate)
    currencies: dict[str, list[Match]] = {}
    for match in shown:
        currencies.setdefault(match.account.currency or "?", []).append(match)
    groups = sorted(currencies.items(), key=lambda item: -len(item[1]))
    lines, rows, n = [head, ""], [], 0
    for currency, group in groups:
        if len(groups) > 1:
            lines.append(f"<b>{name_in(currency, 16)}</b>")
        for match in group:
            n += 1
            s = match.service
            mark = " ◀" if match.this else ""
            lines.append(
                f"{n}. <b>{money(s.rate, currency)}</b> · {name_in(account_name(match.account))}{mark}\n"
                f"    <code>{s.id}</code> {name_in(s.name, NAME_MAX)}"
            )
            caption = f"🛒 {n}. {money(s.rate, currency)} · {account_name(match.account)}"
            rows.append([(caption[:60], f"ord:new:{s.id}:{match.account.id}")])
    if len(groups) > 1:
        lines += ["", _("Rates in different currencies are not converted: compare within a currency.")]
    if len(matches) > SHOWN:
        lines += ["", _("{shown} of {total} matches shown.", shown=SHOWN, total=len(matches))]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines), rows


async def on_compare_button(update: Update, context: Context) -> None:
    t = await turn(update, context)
    if await must_wait(t, "compare"):
        return
    await t.answer()
    parts = parse_callback(t.query.data if t.query else None)
    service_id, account_id = int_arg(parts, 1), int_arg(parts, 2)
    accounts = await chat_accounts(t)
    base = next((a for a in accounts if a.id == account_id), None)
    if base is None:
        await t.show(esc(t._("This panel is not linked any more.")), edit=False)
        return
    catalogs, notes = await _catalogs(t, accounts)
    own = next((c for a, c in catalogs if a.id == base.id), None)
    service = own.get(service_id) if own is not None else None
    if service is None:
        text = notes[0] if own is None and notes else esc(t._("This service is no longer in the catalog."))
        await t.show(text, edit=False)
        return
    matches = [Match(base, service, this=True)]
    for account, catalog in catalogs:
        if account.id != base.id:
            matches += [Match(account, s) for s, _score in catalog.similar_to(service)]
    head = t._(
        "⚖️ <b>{name}</b> across your panels, by rate per 1000 (◀ is this one):",
        name=name_in(service.name, NAME_MAX),
    )
    if len(matches) == 1:
        notes.insert(0, t._("No similar service of the same type on the other panels."))
    text, rows = _render(t, head, matches, notes)
    back = f"svc:s:{service.id}:f:0:a{base.id}" if len(accounts) > 1 else f"svc:s:{service.id}:f:0"
    rows.append([(t._("⬅️ Back"), back)])
    await t.show(text, rows)


async def compare_command(update: Update, context: Context) -> None:
    t = await turn(update, context)
    query = " ".join(command_args(context)).strip()[:QUERY_MAX]
    if not query:
        usage = t._(
            "Send /compare with a few words, e.g. {example}: the matching services of every linked panel, "
            "cheapest first.",
            example="<code>/compare instagram followers</code>",
        )
        await t.show(usage, edit=False)
        return
    accounts = await chat_accounts(t)
    if not accounts:
        await t.show(esc(t._("No panel is linked to this chat yet. Link one with /connect.")), edit=False)
        return
    if await must_wait(t, "compare"):
        return
    catalogs, notes = await _catalogs(t, accounts)
    matches = [
        Match(account, s) for account, catalog in catalogs for s in catalog.search(query, limit=SEARCHED)
    ]
    if not matches:
        text = t._("Nothing matches “{query}” on your panels.", query=esc(query))
        await t.show("\n".join([text, *notes]), edit=False)
        return
    head = t._("⚖️ “{query}” on your panels, by rate per 1000:", query=esc(query))
    if len(accounts) == 1:
        notes.append(t._("Only one panel is linked: /connect links another to compare with."))
    await t.show(*_render(t, head, matches, notes), edit=False)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("compare", compare_command))
    application.add_handler(CallbackQueryHandler(on_compare_button, pattern=r"^cmp:\d+:\d+$"))
