"""/order [service id]: the guided order conversation, its summary and the exactly-once Confirm.

Callback data of this flow:
  ord:new:<service id>[:<account id>]   start for a service (catalog card, favourites, compare)
  m:order        start (main menu)       ord:acc:<account id>   the account to order with (several linked)
  o:again:<order id>     start pre-filled from a stored order   ord:ok:<token> confirm the stored draft
  ord:skip  ord:keep  ord:v:<n>  ord:edit  ord:x                 skip / keep / choose / edit / cancel

With several accounts linked, /order first asks which one (the one used last comes first, marked); the
choice is kept in the conversation data (flow_data("order_pick")) and the last used account in the chat row.
"""

from __future__ import annotations

from typing import Any

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import ordering
from bot.catalog import Catalog
from bot.panel import InvalidKey, PanelError
from handlers import group
from handlers import order_pick as pick
from handlers import order_steps as steps
from handlers.accounts import chat_accounts, name_of
from handlers.cards import order_card
from handlers.common import (
    Button,
    Context,
    Turn,
    clip,
    command_args,
    esc,
    int_arg,
    keyboard,
    may_order,
    parse_callback,
    refuse,
    turn,
)
from handlers.flow import END, Flow, remember_message
from handlers.order_steps import ACCOUNT, FIELD, SERVICE, SUMMARY
from storage import repo
from storage.models import Account, Placement

SEARCH_RESULTS = 8


# ---------------------------------------------------------------------------------------------- state


async def _send(t: Turn, text: str, buttons: list[list[Button]] | None = None, *, edit: bool = True) -> None:
    await t.show(text, buttons or [], edit=edit)


async def _allowed(t: Turn) -> bool:
    """The wizard's questions change nothing yet: a cached admin answer will do (Confirm asks afresh)."""
    if await may_order(t, cached=True):
        return True
    await refuse(
        t, t._("Only the group's admins may order here. An admin can let every member order in /settings.")
    )
    return False


async def _expired(t: Turn) -> int:
    await t.answer()
    await steps.forget(t)
    await _send(t, t._("This order expired; start again with /order"), edit=False)
    return END


# ---------------------------------------------------------------------------------------------- entry


async def _catalog(t: Turn, account: Account) -> Catalog | None:
    try:
        return await t.deps.panels.catalog(account)
    except InvalidKey:
        await _send(t, t._("The panel did not accept the API key. Link it again with /connect."), edit=False)
    except PanelError:
        await _send(t, t._("The panel is not reachable right now. Please try again in a moment."), edit=False)
    return None


async def _begin(t: Turn, account: Account, raw: str) -> int:
    """Start the steps for the service typed or pressed."""
    cleaned = raw.strip().lstrip("#")
    await pick.remember(t, account.id)
    catalog = await _catalog(t, account)
    if catalog is None:
        return SERVICE
    if not cleaned.isdecimal() or len(cleaned) > 18:  # "²" is a digit int() refuses; so are 5,000 digits
        return await _search(t, account, catalog, raw)
    service = catalog.get(int(cleaned))
    if service is None:
        return await pick.ask_service(
            t, account, t._("No service with id {id} on your panel.", id=esc(cleaned))
        )
    steps.drafts()[str(t.chat_id)] = {
        "svc": steps.snapshot(service),
        "acc": account.id,
        "steps": ordering.plan_steps(service),
        "i": 0,
        "v": {},
        "d": {},
        "token": None,
        "an": await name_of(t, account.id or 0),
    }
    return await steps.prompt(t, steps.drafts()[str(t.chat_id)])


async def _search(t: Turn, account: Account, catalog: Catalog, query: str) -> int:
    """Text instead of an id: offer the best matches by name."""
    found = catalog.search(query, limit=SEARCH_RESULTS) if query.strip() else []
    if not found:
        return await pick.ask_service(t, account, t._("Send the service ID as a number, e.g. 12."))
    rows: list[list[Button]] = [
        [(f"{s.id} · {s.name[:40].strip()}", f"ord:new:{s.id}:{account.id}")] for s in found
    ]
    rows.append([(t._("✖️ Cancel"), "ord:x")])
    shown = await t.show(t._("Services matching “{query}”: choose one.", query=esc(query.strip()[:50])), rows)
    remember_message(shown)
    return SERVICE


async def _start(t: Turn, accounts: list[Account], raw: str | None = None) -> int:
    """Ask which account when there are several; else on to the service (typed, or asked for)."""
    if len(accounts) > 1:
        return await pick.ask_account(t, accounts, raw)
    return await _begin(t, accounts[0], raw) if raw else await pick.ask_service(t, accounts[0])


async def start_command(update: Update, context: Context) -> int:
    t = await turn(update, context)
    if not await _allowed(t):
        return END
    await steps.forget(t)
    accounts = await chat_accounts(t)
    if not accounts:
        return await steps.need_account(t)
    args = command_args(context)
    return await _start(t, accounts, args[0] if args else None)


async def start_button(update: Update, context: Context) -> int:
    """ord:new:<service id>[:<account id>] and m:order."""
    t = await turn(update, context)
    if not await _allowed(t):
        return END
    await t.answer()
    await steps.forget(t)
    parts = parse_callback(t.query.data if t.query else None)
    accounts = await chat_accounts(t)
    if not accounts:
        return await steps.need_account(t)
    if parts[0] != "ord":  # m:order
        return await _start(t, accounts)
    wanted = int_arg(parts, 3, 0)
    account = next((a for a in accounts if a.id == wanted), None) if wanted else accounts[0]
    if account is None:  # that account was unlinked since the button was made
        return await _start(t, accounts, parts[2])
    return await _begin(t, account, parts[2])


async def on_account(update: Update, context: Context) -> int:
    """ord:acc:<account id>: the account question's answer (also after the wizard ended)."""
    t = await turn(update, context)
    if not await _allowed(t):
        return END
    await t.answer()
    raw = (pick.picks().get(str(t.chat_id)) or {}).get("raw")
    await steps.forget(t)
    wanted = int_arg(parse_callback(t.query.data if t.query else None), 2)
    accounts = await chat_accounts(t)
    account = next((a for a in accounts if a.id == wanted), None)
    if account is None:
        if not accounts:
            return await steps.need_account(t)
        await _send(t, t._("This panel is not linked any more."), edit=False)
        return await pick.ask_account(t, accounts, raw)
    await pick.remember(t, account.id)
    return await _begin(t, account, raw) if raw else await pick.ask_service(t, account)


async def on_account_text(update: Update, context: Context) -> int:
    t = await turn(update, context)
    await _send(t, t._("Choose the panel with the buttons above, or /cancel."), edit=False)
    return ACCOUNT


async def order_again(update: Update, context: Context) -> int:
    """o:again:<order id>: the same service, link, quantity and fields, straight to the summary."""
    t = await turn(update, context)
    if not await _allowed(t):
        return END
    await t.answer()
    await steps.forget(t)
    async with t.session() as session:
        old = await repo.orders.get_order(
            session, int_arg(parse_callback(t.query.data if t.query else ""), 2), t.chat_id
        )
        account = await repo.accounts.get_account(session, old.account_id, t.chat_id) if old else None
    if old is None:
        await _send(t, t._("That order was not found."), edit=False)
        return END
    account = account or await t.account()
    if account is None:
        return await steps.need_account(t)
    catalog = await _catalog(t, account)
    if catalog is None:
        return END
    service = catalog.get(old.service_id)
    if service is None:
        await _send(t, t._("No service with id {id} on your panel.", id=old.service_id), edit=False)
        return END
    plan = ordering.plan_steps(service)
    known = {"link": old.link, "quantity": old.quantity, **(old.fields or {})}
    values = {k: v for k, v in known.items() if k in plan and v not in (None, "", [])}
    draft = {"svc": steps.snapshot(service), "acc": account.id, "steps": plan, "v": values, "d": dict(values)}
    draft["an"] = await name_of(t, account.id or 0)
    draft.update(i=steps.first_missing({"steps": plan, "v": values}), token=None)
    steps.drafts()[str(t.chat_id)] = draft
    return await steps.prompt(t, draft, edit=False)  # the order's card stays as it is


# ---------------------------------------------------------------------------------------------- steps


async def on_service_text(update: Update, context: Context) -> int:
    t = await turn(update, context)
    if not await _allowed(t):
        return SERVICE
    account = await pick.picked_account(t)
    if account is None:
        return await steps.need_account(t)
    return await _begin(t, account, (update.effective_message.text or "") if update.effective_message else "")


async def on_text(update: Update, context: Context) -> int:
    t = await turn(update, context)
    draft = steps.current_draft(t)
    if draft is None:
        return await _expired(t)
    if not await _allowed(t):
        return FIELD
    field = steps.current_field(draft)
    if field is None:
        return await steps.show_summary(t, draft)
    text = update.effective_message.text if update.effective_message else ""
    try:
        draft["v"][field] = ordering.parse_value(field, text or "", steps.service_of(draft), draft["v"])
    except ordering.InputError as exc:
        return await steps.prompt(t, draft, t._(exc.msgid, **exc.values))
    draft["i"] += 1
    return await steps.prompt(t, draft)


async def _set(t: Turn, how: str, choice: int | None = None) -> int:
    """A button or command instead of typing: skip an optional step, keep the current value, a choice."""
    draft = steps.current_draft(t)
    if draft is None:
        return await _expired(t)
    if not await _allowed(t):
        return FIELD
    await t.answer()
    field = steps.current_field(draft)
    if field is None:
        return await steps.show_summary(t, draft)
    default = draft.get("d", {}).get(field)
    if how == "keep" and default not in (None, "", []):
        draft["v"][field] = default
    elif how == "choice" and field == "delay" and choice is not None:
        draft["v"][field] = choice
    elif how in ("skip", "keep") and ordering.is_optional(field):
        draft["v"].pop(field, None)
    else:
        return await steps.prompt(t, draft, t._("This step cannot be skipped."))
    draft["i"] += 1
    return await steps.prompt(t, draft)


async def on_skip(update: Update, context: Context) -> int:
    return await _set(await turn(update, context), "skip")


async def on_keep(update: Update, context: Context) -> int:
    return await _set(await turn(update, context), "keep")


async def on_choice(update: Update, context: Context) -> int:
    t = await turn(update, context)
    return await _set(t, "choice", int_arg(parse_callback(t.query.data if t.query else ""), 2))


# ---------------------------------------------------------------------------------------------- summary


async def on_summary_text(update: Update, context: Context) -> int:
    t = await turn(update, context)
    await _send(t, t._("Press ✅ Confirm to place the order, ✏️ Edit to change it, or ✖️ Cancel."), edit=False)
    return SUMMARY


async def on_edit(update: Update, context: Context) -> int:
    """Back to the first step; the answers so far become the defaults (Keep current)."""
    t = await turn(update, context)
    draft = steps.current_draft(t)
    if draft is None:
        return await _expired(t)
    if not await _allowed(t):
        return SUMMARY
    await t.answer()
    if draft.get("token"):
        async with t.session() as session:
            await repo.orders.discard_draft(session, draft["token"], t.chat_id)
            await session.commit()
    draft.update(d=dict(draft["v"]), v={}, i=0, token=None)
    return await steps.prompt(t, draft)


async def on_confirm(update: Update, context: Context) -> int | None:
    """ord:ok:<token>, in the conversation and outside it (a second press after it ended)."""
    t = await turn(update, context)
    token = parse_callback(t.query.data if t.query else "")[2:3]
    own = steps.drafts().get(str(t.chat_id)) or {}
    # None keeps the presser's own wizard as it is: the press may be on someone else's summary.
    done = END if token and own.get("token") == token[0] else None
    async with t.session() as session:
        order = await repo.orders.get_order_by_token(session, token[0]) if token else None
    if order is None or order.chat_id != t.chat_id:
        await t.answer(t._("This summary is no longer valid; start again with /order"), alert=True)
        return done
    if order.placement != Placement.drafted:
        await t.answer(t._("Already confirmed"))
        await _show_order(t, order)
        return done
    if not await group.may_confirm(t, order):  # the builder or an admin, checked afresh
        return None
    await t.answer(t._("Sending…"))
    if t.query is not None:  # the summary loses its buttons: it cannot be pressed again from the UI
        try:
            await t.query.edit_message_reply_markup(reply_markup=None)
        except BadRequest:
            pass
    draft = steps.drafts().get(str(t.chat_id))
    if draft and draft.get("token") == order.confirm_token:
        steps.drafts().pop(str(t.chat_id), None)
    result = await ordering.place_order(
        t.deps.sessions, t.deps.panels, order.confirm_token, chat_id=t.chat_id
    )
    if result.order is None:
        await _send(t, t._("This summary is no longer valid; start again with /order"), edit=False)
        return done
    head = {
        "placed": t._("✅ Order placed."),
        "unclear": t._(steps.UNCLEAR),
        "already": t._("Already confirmed"),
    }.get(result.outcome)
    if head is None:
        catalog = t.deps.panels.cached_catalog(result.order.account_id)
        service = catalog.get(result.order.service_id) if catalog else None
        head = "⛔ " + steps.rejection_reason(t._, result.error, service)
    await _show_order(t, result.order, head)
    return done


async def _show_order(t: Turn, order: Any, head: str | None = None) -> Message | None:
    text, buttons = order_card(t._, order, account_name=await name_of(t, order.account_id))
    return await t.context.bot.send_message(
        t.chat_id, clip(f"{head}\n\n{text}" if head else text), reply_markup=keyboard(buttons)
    )


# ---------------------------------------------------------------------------------------------- endings


async def on_cancel(update: Update, context: Context) -> int:
    t = await turn(update, context)
    await t.answer()
    await steps.forget(t)
    await _send(t, t._("Order cancelled."))
    return END


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    text = filters.TEXT & ~filters.COMMAND
    conversation = Flow(
        "order",
        entry_points=[
            CommandHandler("order", start_command),
            CallbackQueryHandler(start_button, pattern=r"^(ord:new:\d+(:\d+)?|m:order)$"),
            CallbackQueryHandler(on_account, pattern=r"^ord:acc:\d+$"),
            CallbackQueryHandler(order_again, pattern=r"^o:again:\d+$"),
        ],
        steps={
            ACCOUNT: [MessageHandler(text, on_account_text)],
            SERVICE: [MessageHandler(text, on_service_text)],
            FIELD: [
                MessageHandler(text, on_text),
                CommandHandler("skip", on_skip),
                CommandHandler("keep", on_keep),
                CallbackQueryHandler(on_skip, pattern=r"^ord:skip$"),
                CallbackQueryHandler(on_keep, pattern=r"^ord:keep$"),
                CallbackQueryHandler(on_choice, pattern=r"^ord:v:\d+$"),
            ],
            SUMMARY: [
                CallbackQueryHandler(on_confirm, pattern=r"^ord:ok:[\w-]+$"),
                CallbackQueryHandler(on_edit, pattern=r"^ord:edit$"),
                MessageHandler(text, on_summary_text),
            ],
        },
        fallbacks=[CommandHandler("cancel", on_cancel), CallbackQueryHandler(on_cancel, pattern=r"^ord:x$")],
        expired_buttons=r"^ord:(skip|keep|edit|x|v:\d+)$",
    )
    application.add_handler(conversation)
    # Confirm also outside the flow: an admin confirming a member's summary, a second press after the end
    application.add_handler(CallbackQueryHandler(on_confirm, pattern=r"^ord:ok:[\w-]+$"))
