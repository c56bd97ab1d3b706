"""The order wizard's first questions: which account (when the chat has several) and which service, with
the account's starred services offered first. The handlers that call these are in handlers/order.py.

flow_data("order_pick")[<chat id>]: {"acc": the account ordered with} or, while the account question is
open, {"raw": the service id or text typed with /order}; chat.last_account_id: the account used last.
"""

from __future__ import annotations

from typing import Any

from bot.formatting import label, name_in
from handlers import order_steps as steps
from handlers.accounts import button_name, chat_accounts, name_of
from handlers.common import Button, Turn, esc, money
from handlers.favorites import favourites
from handlers.flow import flow_data, remember_message
from handlers.order_steps import ACCOUNT, SERVICE
from storage import repo
from storage.models import Account


def picks() -> dict[str, Any]:
    return flow_data("order_pick")


async def remember(t: Turn, account_id: int | None) -> None:
    """The account this wizard orders with (typed service ids are looked up there), and the chat's last."""
    picks()[str(t.chat_id)] = {"acc": account_id}
    if t.chat.last_account_id != account_id:
        async with t.session() as session:
            await repo.chats.update_chat(session, t.chat_id, last_account_id=account_id)
            await session.commit()
        t.chat.last_account_id = account_id


async def picked_account(t: Turn) -> Account | None:
    picked = (picks().get(str(t.chat_id)) or {}).get("acc")
    if picked:
        async with t.session() as session:
            account = await repo.accounts.get_account(session, int(picked), t.chat_id)
        if account is not None:
            return account
    return await t.account()


async def ask_account(t: Turn, accounts: list[Account], raw: str | None = None) -> int:
    """Several accounts: which one takes the order. The one used last (else the default) comes first,
    marked ✅."""
    last = t.chat.last_account_id
    ordered = sorted(accounts, key=lambda a: a.id != last)  # stable: else the default stays first
    picks()[str(t.chat_id)] = {"raw": raw} if raw else {}
    rows: list[list[Button]] = [
        [(button_name(a, mark="✅ " if a is ordered[0] else ""), f"ord:acc:{a.id}")] for a in ordered
    ]
    rows.append([(t._("✖️ Cancel"), "ord:x")])
    lines = [t._("Which panel should take this order?")]
    if raw:
        lines = [t._("Order “{query}”: which panel should take it?", query=esc(raw.strip()[:50]))]
    lines.append(t._("✅ marks the panel used last time (or the default one)."))
    shown = await t.show("\n".join(lines), rows)
    remember_message(shown)
    return ACCOUNT


async def ask_service(t: Turn, account: Account, note: str | None = None) -> int:
    text = t._(
        "Send the ID of the service to order (the number shown in the catalog), or browse the services."
    )
    several = len(await chat_accounts(t)) > 1
    name = await name_of(t, account.id or 0) if several else None
    if name:
        text = t._("Panel: {name}", name=f"<b>{esc(name)}</b>") + "\n" + text
    starred = await favourites(t, account)
    if starred:
        head = t._("⭐ Favourites:")
        lines = [
            f"<code>{s.id}</code> {name_in(s.name)} — {money(s.rate, account.currency)}" for s in starred
        ]
        text += "\n\n" + "\n".join([head, *lines])
    browse = f"svc:cats:0:a{account.id}" if several else "svc:cats:0"
    buttons: list[list[Button]] = [
        [(label(f"⭐ {s.id} · {s.name}"), f"ord:new:{s.id}:{account.id}")] for s in starred
    ]
    buttons += [[(t._("🔎 Browse services"), browse)], [(t._("✖️ Cancel"), "ord:x")]]
    await steps.ask(
        t, f"⚠️ {note}\n\n{text}" if note else text, buttons, t._("Reply to this message. /cancel stops.")
    )
    return SERVICE
