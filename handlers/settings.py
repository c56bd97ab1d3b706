"""/settings (a menu edited in place) and /language.

Language, the low-balance alert threshold (typed as a reply to a ForceReply prompt, so that it reaches the
bot in groups too), notifications on/off and, in groups, whether members may order. In a group only admins
may change anything: `may_manage` is checked afresh on every press and reply. In a group the threshold prompt
is not a conversation: a reply to the open prompt (chat.threshold_prompt_id) from any admin sets it, which
is the only way for an anonymous admin, who presses buttons from their own account but writes as the group.

Callback data:
  set:menu            the menu                  set:thr       ask for the threshold
  set:lang            the language choice       set:notif     notifications on/off
  set:lang:<code>     pick a language; `auto`   set:members   members may order yes/no (groups)
                      follows Telegram's
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from telegram import ForceReply, Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.conversation import current
from bot.i18n import LANGUAGES, translator
from handlers import alert_offer
from handlers.cards import yes_no
from handlers.common import (
    Button,
    Context,
    Turn,
    ask_reply,
    esc,
    is_private,
    may_manage,
    money,
    parse_callback,
    refuse,
    turn,
)
from handlers.flow import END, Flow
from storage import repo

THRESHOLD = 0
MAX_THRESHOLD = Decimal("1e15")
AUTO = "auto"


async def _currency(t: Turn) -> str | None:
    account = await t.account()
    return account.currency if account else None


async def _update_chat(t: Turn, **fields: Any) -> None:
    async with t.session() as session:
        chat = await repo.chats.update_chat(session, t.chat_id, **fields)
        await session.commit()
    if chat is not None:
        t.chat = chat
        conversation = current()
        if conversation is not None and conversation.chat_id == chat.id:
            conversation.chat = chat  # later turns of this update see the change


async def show_menu(t: Turn, note: str = "", *, edit: bool = True) -> None:
    _ = t._
    chat = t.chat
    language = LANGUAGES.get(chat.language or "", "") or _("Automatic (from Telegram)")
    threshold = chat.low_balance_threshold
    alert = money(threshold, await _currency(t)) if threshold is not None else _("off")
    notifications = _("on") if chat.notifications_enabled else _("off")
    lines = [note, ""] if note else []
    lines += [
        _("⚙️ <b>Settings</b>"),
        "",
        _("🌐 Language: {language}", language=esc(language)),
        _("🔔 Low-balance alert below: {amount}", amount=alert),
        _("📣 Notifications: {state}", state=notifications),
    ]
    rows: list[list[Button]] = [
        [(_("🌐 Language"), "set:lang")],
        [(_("🔔 Low-balance alert"), "set:thr")],
        [
            (
                _("📣 Turn notifications off")
                if chat.notifications_enabled
                else _("📣 Turn notifications on"),
                "set:notif",
            )
        ],
    ]
    if not is_private(t.update):
        lines.append(_("👥 Members may order: {answer}", answer=yes_no(_, chat.members_may_order)))
        label = _("👥 Only admins may order") if chat.members_may_order else _("👥 Let members order")
        rows.append([(label, "set:members")])
    await t.show("\n".join(lines), rows, edit=edit)


async def show_languages(t: Turn, *, edit: bool = True) -> None:
    _ = t._
    current = t.chat.language or AUTO
    rows: list[list[Button]] = [
        [(("✓ " if code == current else "") + name, f"set:lang:{code}")] for code, name in LANGUAGES.items()
    ]
    auto = _("Automatic (from Telegram)")
    rows.append([(("✓ " if current == AUTO else "") + auto, f"set:lang:{AUTO}")])
    rows.append([(_("⬅️ Back"), "set:menu")])
    await t.show(_("🌐 Choose the language of this chat:"), rows, edit=edit)


async def cmd_settings(update: Update, context: Context) -> int:
    t = await turn(update, context)
    if not await may_manage(t, cached=True):  # showing changes nothing; every press is checked afresh
        await refuse(t)
        return END
    await show_menu(t, edit=False)
    return END


async def cmd_language(update: Update, context: Context) -> int:
    t = await turn(update, context)
    if not await may_manage(t, cached=True):
        await refuse(t)
        return END
    await show_languages(t, edit=False)
    return END


async def _set_language(t: Turn, code: str) -> None:
    if code != AUTO and code not in LANGUAGES:
        await t.answer()
        await show_languages(t)
        return
    await _update_chat(t, language=None if code == AUTO else code)
    user = t.update.effective_user
    # Re-render at once in the new language.
    t._ = translator(t.chat.language or (user.language_code if user else None))
    await t.answer(t._("Language changed."))
    await show_menu(t)


async def _ask_threshold(t: Turn) -> int:
    _ = t._
    await t.answer()
    currency = await _currency(t)
    current = t.chat.low_balance_threshold
    text = _(
        "🔔 Send the balance below which I should alert this chat, like 10 or 2.50{currency}. "
        "Send 0 or off to turn the alert off, /cancel to keep it as it is.",
        currency=f" {esc(currency)}" if currency else "",
    )
    if current is not None:
        text += "\n" + _("Now: {amount}", amount=money(current, currency))
    sent = await ask_reply(t, text, placeholder="10.00")
    if is_private(t.update):
        return THRESHOLD
    # In a group the prompt itself is the state: an admin's reply to it counts (ThresholdReply), also an
    # anonymous admin's, whose reply comes from the group and not from the account that pressed the button.
    await _update_chat(t, threshold_prompt_id=sent.message_id)
    return END


class ThresholdReply(BaseHandler[Update, Context, int]):
    """A text reply, in a group, to the open threshold prompt (checked with may_manage in got_threshold)."""

    def __init__(self) -> None:
        super().__init__(got_threshold)

    def check_update(self, update: object) -> bool:
        message = update.message if isinstance(update, Update) else None
        if (
            message is None
            or not message.text
            or message.text.startswith("/")
            or not message.reply_to_message
        ):
            return False
        if message.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
            return False
        conversation = current()
        chat = conversation.chat if conversation is not None else None
        return chat is not None and chat.threshold_prompt_id == message.reply_to_message.message_id


async def on_button(update: Update, context: Context) -> int:
    t = await turn(update, context)
    if not await may_manage(t):
        await refuse(t)
        return END
    parts = parse_callback(update.callback_query.data if update.callback_query else None)
    action = parts[1] if len(parts) > 1 else "menu"
    if action == "thr":
        return await _ask_threshold(t)
    if action == "lang" and len(parts) > 2:
        await _set_language(t, parts[2])
        return END
    if action == "notif":
        await _update_chat(t, notifications_enabled=not t.chat.notifications_enabled)
    elif action == "members" and not is_private(update):
        await _update_chat(t, members_may_order=not t.chat.members_may_order)
    await t.answer()
    if action == "lang":
        await show_languages(t)
    else:
        await show_menu(t)
    return END


def parse_threshold(text: str, off_words: set[str]) -> tuple[bool, Decimal | None]:
    """(valid, amount); amount None turns the alert off."""
    cleaned = text.strip().lower().replace(" ", "").replace(",", ".")
    if cleaned in off_words:
        return True, None
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return False, None
    if not amount.is_finite() or amount < 0 or amount >= MAX_THRESHOLD:
        return False, None
    return True, (None if amount == 0 else amount)


async def got_threshold(update: Update, context: Context) -> int:
    t = await turn(update, context)
    _ = t._
    if not await may_manage(t):
        await refuse(t)
        return END
    message = update.effective_message
    assert message is not None
    off_words = {"off", "no", "none", "-", _("off").lower()}
    valid, amount = parse_threshold(message.text or "", off_words)
    if not valid:
        text = _("Please send a number like 10 or 2.50, or 0 or off to turn the alert off (/cancel to stop).")
        retry = await message.reply_text(esc(text), reply_markup=ForceReply(selective=True))
        if not is_private(update):
            await _update_chat(t, threshold_prompt_id=retry.message_id)
        return THRESHOLD
    await _update_chat(t, low_balance_threshold=amount, balance_alert_sent=False, threshold_prompt_id=None)
    if amount is None:
        note = _("✅ The low-balance alert is off.")
    else:
        note = _(
            "✅ I will alert this chat when the balance falls below {amount}.",
            amount=money(amount, await _currency(t)),
        )
    await show_menu(t, note, edit=False)
    return END


async def on_cancel(update: Update, context: Context) -> int:
    t = await turn(update, context)
    await t.show(t._("Okay, the alert stays as it was."), edit=False)
    return END


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    alert_offer.register(application)  # the one-tap alert offered after /connect
    conversation = Flow(
        "settings",
        entry_points=[
            CommandHandler("settings", cmd_settings),
            CommandHandler("language", cmd_language),
            CallbackQueryHandler(on_button, pattern=r"^set:"),
        ],
        steps={THRESHOLD: [MessageHandler(filters.TEXT & ~filters.COMMAND, got_threshold)]},
        fallbacks=[CommandHandler("cancel", on_cancel)],
    )
    application.add_handler(ThresholdReply())
    application.add_handler(conversation)
