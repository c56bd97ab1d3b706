"""/mass: many orders at once, as `service id | link | quantity` lines (in the command's message, in the next
message, or in a .txt/.csv file), one summary with the problems and the total, then Confirm places each
valid line exactly once (bot/mass.py) while a progress message counts, and reports every line.

Callback data of this flow:
  mass:ok:<batch id>   place the batch's drafts         mass:x:<batch id>   drop them
  mass:x               leave the prompt
The batch lives in the orders table (its drafts share the batch id, "~" and 9 characters, a namespace no
single order's token is in), so its buttons survive a restart. In a group, like a single order's Confirm,
only the person who built the batch or an admin (asked afresh) may confirm or cancel it.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import mass, ordering
from bot.i18n import lazy
from bot.ordering import InputError, PlacementResult
from bot.panel import Balance, InvalidKey, PanelError, classify_error
from handlers import group
from handlers import order_steps as steps
from handlers.common import Context, Turn, esc, may_order, parse_callback, refuse, turn
from handlers.flow import END, Flow, state
from handlers.limits import must_wait
from handlers.mass_report import BUDGET, fit, problem_line, report, summary_lines
from storage import repo
from storage.models import Account, Order, Placement

log = logging.getLogger(__name__)

ASK = 0
PROBLEMS_SHOWN = 30
PROGRESS_EVERY = 20  # lines between two progress edits
PROGRESS_SECONDS = 1.0  # and at least this long (Telegram's edit limits)
FORMAT = lazy(
    "📦 <b>Mass order</b>\n"
    "Send the orders, one per line:\n"
    "<code>service id | link | quantity</code>\n"
    "e.g. <code>1 | https://instagram.com/p/abc | 1000</code>\n\n"
    "“;” or tabs also separate the fields; a .txt or .csv file works too. At most {max} lines."
)
# Batches being placed by this process: a second Confirm meanwhile is told so (the claims alone would
# already keep it from placing anything twice).
_RUNNING: set[str] = set()


# ---------------------------------------------------------------------------------------------- helpers


async def _allowed(t: Turn) -> bool:
    if await may_order(t):
        return True
    await refuse(t)
    return False


def _remembered(t: Turn) -> dict[str, str]:
    """The person's unconfirmed batch per chat: kept after the flow (its summary waits for Confirm)."""
    return state().notes.setdefault("mass", {})


async def _forget(t: Turn) -> None:
    """Drop this person's unconfirmed batch in this chat, unless it is being placed."""
    batch_id = _remembered(t).pop(str(t.chat_id), None)
    if batch_id and batch_id not in _RUNNING:
        async with t.session() as session:
            await repo.batches.discard_batch(session, batch_id, t.chat_id)
            await session.commit()


async def _send_file(t: Turn, name: str, data: bytes) -> None:
    try:
        await t.context.bot.send_document(t.chat_id, document=data, filename=name)
    except TelegramError:
        log.warning("could not send %s to chat %s", name, t.chat_id, exc_info=True)


# ---------------------------------------------------------------------------------------------- input


async def _ask(t: Turn, error: str | None = None) -> int:
    text = t._(FORMAT, max=mass.MAX_LINES)
    await steps.ask(
        t,
        f"⚠️ {error}\n\n{text}" if error else text,
        [[(t._("✖️ Cancel"), "mass:x")]],
        t._("Reply to this message. /cancel stops."),
        edit=False,
    )
    return ASK


def _body(message: Message) -> str:
    """The text of a message, without the /mass command in front of it."""
    text = message.text or ""
    first = message.entities[0] if message.entities else None
    if first is not None and first.offset == 0 and first.type == MessageEntity.BOT_COMMAND:
        text = text[first.length :]
    return text.lstrip()


async def _take(t: Turn, account: Account, message: Message) -> int:
    """The lines of a message (its text, or its .txt/.csv file) -> the summary; bad input -> ask again."""
    document = message.document
    try:
        if document is None:
            rows = mass.read_text(_body(message))
        else:
            mass.check_file(document.file_name, document.file_size)
            try:
                data = await (await document.get_file()).download_as_bytearray()
            except TelegramError:
                log.info("could not download a mass order file", exc_info=True)
                return await _ask(t, t._("The file could not be downloaded; please send it again."))
            rows = mass.read_file(bytes(data), document.file_name or "")
    except InputError as exc:
        return await _ask(t, t._(exc.msgid, **exc.values))
    return await _summary(t, account, rows)


async def start(update: Update, context: Context) -> int:
    """/mass [lines], or a file with the caption /mass."""
    t = await turn(update, context)
    if not await _allowed(t):
        return END
    await _forget(t)
    account = await t.account()
    if account is None:
        return await steps.need_account(t)
    message = update.effective_message
    assert message is not None
    if message.document is None and not _body(message):
        return await _ask(t)
    return await _take(t, account, message)


async def on_input(update: Update, context: Context) -> int:
    """The lines (text or file) after the prompt."""
    t = await turn(update, context)
    if not await _allowed(t):
        return ASK
    account = await t.account()
    if account is None:
        return await steps.need_account(t)
    assert update.effective_message is not None
    return await _take(t, account, update.effective_message)


# ---------------------------------------------------------------------------------------------- summary


async def _summary(t: Turn, account: Account, rows: list[mass.Row]) -> int:
    if await must_wait(t, "mass"):
        return ASK
    try:
        catalog = await t.deps.panels.catalog(account)
    except InvalidKey:
        await t.show(t._("The panel did not accept the API key. Link it again with /connect."), edit=False)
        return END
    except PanelError:
        await t.show(t._("The panel is not reachable right now. Please try again in a moment."), edit=False)
        return ASK
    batch = mass.check_rows(rows, catalog)
    problems = [problem_line(t._, p) for p in batch.problems]
    shown, more = problems[:PROBLEMS_SHOWN], t._("… and {n} more (see the file)")
    if not batch.items:
        head = [t._("No line can be ordered. Correct the lines and send them again, or /cancel."), ""]
        text, hidden = fit(head + shown, more, len(problems) - len(shown), BUDGET - 800)  # + the prompt
        await _problems_file(t, problems, hidden)
        return await _ask(t, text)
    balance = await ordering.refresh_balance(t.deps.sessions, t.deps.panels, account)
    currency = (balance.currency if balance else None) or account.currency
    batch_id = await mass.store(
        t.deps.sessions,
        batch,
        chat_id=t.chat_id,
        account_id=account.id,  # type: ignore[arg-type]
        placed_by=t.user_id,
        currency=currency,
    )
    _remembered(t)[str(t.chat_id)] = batch_id
    lines = summary_lines(t._, batch, currency, balance)
    if problems:
        lines += ["", t._("<b>Not ordered</b> (fix them and send them again):"), *shown]
    text, hidden = fit(lines, more, len(problems) - len(shown))
    await _problems_file(t, problems, hidden)
    n = len(batch.items)
    buttons = [
        [(t._.ngettext("✅ Confirm {n} order", "✅ Confirm {n} orders", n), f"mass:ok:{batch_id}")],
        [(t._("✖️ Cancel"), f"mass:x:{batch_id}")],
    ]
    await t.show(text, buttons, edit=False)
    return END


async def _problems_file(t: Turn, problems: list[str], hidden: int) -> None:
    if hidden:
        await _send_file(t, "problems.txt", "\n".join(html.unescape(p) for p in problems).encode())


# ---------------------------------------------------------------------------------------------- confirm


async def on_confirm(update: Update, context: Context) -> None:
    """mass:ok:<batch id>: claim and place every line still a draft, in the background."""
    t = await turn(update, context)
    batch_id = parse_callback(t.query.data if t.query else "")[2]
    async with t.session() as session:
        rows = await repo.batches.batch_orders(session, batch_id, t.chat_id)
    tokens = [o.confirm_token for o in rows if o.placement == Placement.drafted]
    if not rows:
        await t.answer(t._("This summary is no longer valid; start again with /mass"), alert=True)
        return
    if not await group.may_confirm(t, rows[0]):  # the builder or an admin, checked afresh
        return
    if batch_id in _RUNNING or not tokens:
        await t.answer(t._("Already confirmed"))
        return
    _RUNNING.add(batch_id)  # before any await: the next press of this chat sees it
    try:
        await t.answer(t._("Sending…"))
        if _remembered(t).get(str(t.chat_id)) == batch_id:
            _remembered(t).pop(str(t.chat_id))
        if t.query is not None:  # the summary loses its buttons
            try:
                await t.query.edit_message_reply_markup(reply_markup=None)
            except TelegramError:
                pass
        text = t._.ngettext("⏳ Placing {n} order…", "⏳ Placing {n} orders…", len(tokens))
        try:
            progress: Message | None = await t.context.bot.send_message(t.chat_id, text)
        except TelegramError:
            progress = None  # the report will come as a new message
        # In the background, so that the chat's other updates are not held up for the whole batch.
        t.context.application.create_task(_run(t, batch_id, tokens, progress), update=update)
    except BaseException:
        _RUNNING.discard(batch_id)
        raise


async def _edit(t: Turn, message: Message | None, text: str) -> bool:
    if message is None:
        return False
    try:
        await t.context.bot.edit_message_text(text, t.chat_id, message.message_id)
        return True
    except BadRequest as exc:
        return "not modified" in str(exc).lower()
    except TelegramError:
        return False


async def _run(t: Turn, batch_id: str, tokens: list[str], progress: Message | None) -> None:
    shown = {"done": 0, "at": time.monotonic()}
    lock = asyncio.Lock()

    async def report(done: int, total: int) -> None:
        if done == total or done - shown["done"] < PROGRESS_EVERY:
            return
        if time.monotonic() - shown["at"] < PROGRESS_SECONDS:
            return
        async with lock:
            if done <= shown["done"]:
                return
            shown.update(done=done, at=time.monotonic())
            text = t._("⏳ Placing the orders… {done} of {total}", done=done, total=total)
            await _edit(t, progress, text)

    try:
        results = await mass.place(t.deps.sessions, t.deps.panels, tokens, chat_id=t.chat_id, progress=report)
        async with t.session() as session:
            rows = await repo.batches.batch_orders(session, batch_id, t.chat_id)
            account = await repo.accounts.get_account(session, rows[0].account_id) if rows else None
        balance = await mass.balance_after(t.deps.sessions, t.deps.panels, account) if account else None
        text, report_file = _result(t, rows, results, balance)
        if not await _edit(t, progress, text):
            await t.context.bot.send_message(t.chat_id, text)
        if report_file is not None:
            await _send_file(t, f"mass-order-{batch_id}.csv", report_file)
    except Exception:
        log.exception("mass order %s failed", batch_id)
        text = t._("Something went wrong while placing the mass order. Check /orders before trying again.")
        try:
            await t.context.bot.send_message(t.chat_id, esc(text))
        except TelegramError:
            pass
    finally:
        _RUNNING.discard(batch_id)


# ---------------------------------------------------------------------------------------------- result


def _outcome(t: Turn, order: Order, result: PlacementResult | None) -> tuple[str, str]:
    """A line's mark and, unless it was placed, why."""
    if order.placement == Placement.placed:
        return "✅", ""
    if order.placement == Placement.rejected:
        error = result.error if result is not None and result.error is not None else None
        catalog = t.deps.panels.cached_catalog(order.account_id)
        service = catalog.get(order.service_id) if catalog else None
        return "⛔", steps.rejection_reason(t._, error or classify_error(order.error), service)
    if order.placement == Placement.drafted:
        return "⏸", t._("not sent (press Confirm again to send it)")
    return "❓", t._("unclear: check your panel's order list before ordering it again")


def _result(
    t: Turn, rows: list[Order], results: dict[str, PlacementResult], balance: Balance | None
) -> tuple[str, bytes | None]:
    outcomes = [(o, *_outcome(t, o, results.get(o.confirm_token))) for o in rows]
    return report(t._, rows, outcomes, balance)


# ---------------------------------------------------------------------------------------------- endings


async def on_cancel(update: Update, context: Context) -> int:
    """/cancel, mass:x (the prompt) and mass:x:<batch id> (the summary)."""
    t = await turn(update, context)
    parts = parse_callback(t.query.data if t.query else "")
    if len(parts) > 2 and parts[0] == "mass":
        batch_id = parts[2]
        async with t.session() as session:
            rows = await repo.batches.batch_orders(session, batch_id, t.chat_id)
        if rows and not await group.may_confirm(t, rows[0]):  # the builder or an admin, checked afresh
            return END
        if not rows and not await _allowed(t):
            return END
        if batch_id in _RUNNING:
            await t.answer(t._("Already confirmed"))
            return END
        async with t.session() as session:
            await repo.batches.discard_batch(session, batch_id, t.chat_id)
            await session.commit()
            left = await repo.batches.batch_orders(session, batch_id, t.chat_id)
        if left:
            await t.answer(t._("Already confirmed"))
            return END
    await t.answer()
    await _forget(t)
    await t.show(t._("Mass order cancelled."))
    return END


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    text = filters.TEXT & ~filters.COMMAND
    document = filters.Document.ALL
    cancel_button = CallbackQueryHandler(on_cancel, pattern=r"^mass:x(:[~\w-]+)?$")
    fallbacks: list[Any] = [CommandHandler("cancel", on_cancel), cancel_button]
    conversation = Flow(
        "mass",
        entry_points=[
            CommandHandler("mass", start),
            MessageHandler(document & filters.CaptionRegex(r"^/mass(@\w+)?(\s|$)"), start),
        ],
        steps={ASK: [MessageHandler(text | document, on_input)]},
        fallbacks=fallbacks,
        expired_buttons=r"^mass:x$",
    )
    application.add_handler(conversation)
    application.add_handler(CallbackQueryHandler(on_confirm, pattern=r"^mass:ok:[~\w-]+$"))
    application.add_handler(cancel_button)
