"""Linking a panel API key (/connect) and unlinking it (/disconnect).

The key is only ever typed in a private chat: the message is deleted at once, the key is checked with the
panel's `balance`, stored encrypted (bot/accounts.py) and never logged. In a group, /connect answers with a
deep link into the private chat (`/start connect_g<group id without the minus>`), where the same
conversation links the key to the group once the person is confirmed as one of its admins.

Callback data:
  acc:connect            start linking (main menu)          acc:other         choose another panel
  acc:panel:<index>      that panel of SMMBOT_ALLOWED_PANELS    acc:cancel        leave the conversation
  acc:drop:<account id>  ask to unlink that account         acc:unlink:<id>   unlink it
  acc:keep               keep it
  acc:lkeep              keep the default label of the account just linked (asked when the chat has several)
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.accounts import PanelNotAllowed, check_panel_url, link_account, unlink_account
from bot.i18n import translator
from bot.panel import InvalidKey, PanelError, PanelUnavailable, RateLimited
from handlers.accounts import account_name, button_name, chat_accounts
from handlers.common import (
    Button,
    Context,
    Turn,
    command_args,
    esc,
    int_arg,
    is_anonymous_admin,
    is_chat_admin,
    is_private,
    keyboard,
    may_manage,
    money,
    parse_callback,
    refuse,
    turn,
    user_data,
)
from handlers.start import main_buttons, panel_host
from storage import repo
from storage.repo.accounts import LABEL_MAX, AccountExistsError

log = logging.getLogger(__name__)

KEY, URL, LABEL = range(3)
TIMEOUT_SECONDS = 30 * 60
MIN_KEY, MAX_KEY = 8, 200
DEEP_LINK = "connect"  # /start connect (private) or /start connect_g<digits> (for a group)


def _state(context: Context) -> dict[str, Any]:
    """The conversation's own part of user_data: {"chat": target chat id, "panel": url} (JSON only)."""
    return user_data(context).setdefault("connect", {})


def _cancel_row(t: Turn) -> list[Button]:
    return [(t._("✖️ Cancel"), "acc:cancel")]


def _plausible_key(text: str) -> bool:
    return MIN_KEY <= len(text) <= MAX_KEY and not any(c.isspace() for c in text) and text.isprintable()


def _might_hold_key(text: str) -> bool:
    """Worth deleting: some word of it could be a key (even one too long to be accepted)."""
    return any(len(word) >= MIN_KEY for word in text.split())


async def _chat_title(t: Turn, chat_id: int) -> str:
    async with t.session() as session:
        chat = await repo.chats.get_chat(session, chat_id)
    return chat.title if chat is not None and chat.title else str(chat_id)


async def _ask_key(t: Turn, target: int, url: str) -> int:
    _ = t._
    state = _state(t.context)
    state.clear()
    state.update(chat=target, panel=url)
    lines = [_("🔗 <b>Link a panel</b>")]
    if target != t.chat_id:
        title = await _chat_title(t, target)
        lines.append(_("For the group <b>{title}</b>.", title=esc(title)))
    async with t.session() as session:
        linked = await repo.accounts.list_accounts(session, target)
    if linked:
        lines.append(
            _.ngettext(
                "This chat has {n} linked panel already: this key is added as another one (see /accounts).",
                "This chat has {n} linked panels already: this key is added as another one (see /accounts).",
                len(linked),
            )
        )
    lines += [
        _("Panel: <code>{host}</code>", host=esc(panel_host(url))),
        "",
        _(
            "Send me the panel's API key (you find it on the panel's API page). I delete your message "
            "at once, keep the key encrypted and use it only to talk to this panel."
        ),
    ]
    allowed = t.deps.settings.allowed_panels
    rows: list[list[Button]] = []
    if allowed is None or len(allowed) > 1:
        rows.append([(_("🌐 Another panel"), "acc:other")])
    rows.append(_cancel_row(t))
    await t.answer()
    await t.show("\n".join(lines), rows)
    return KEY


async def _group_connect(t: Turn) -> int:
    """In a group the key must not be typed: hand admins a deep link into the private chat."""
    if not await may_manage(t):
        await refuse(t)
        return ConversationHandler.END
    await t.answer()
    link = f"https://t.me/{t.context.bot.username}?start={DEEP_LINK}_g{abs(t.chat_id)}"
    text = t._(
        "🔐 API keys are never sent in a group. Press the button to open a private chat with me and "
        "send the key there; I will link it to this group."
    )
    if is_anonymous_admin(t.update):  # the private chat needs their own account, which I must check
        text += "\n\n" + t._(
            "You are writing anonymously, as the group. The key step needs your own account: switch off "
            "“Remain anonymous” in your admin rights for a moment, or open the button from your account; "
            "I check there that you are an admin of this group."
        )
    await t.show(text, [[(t._("🔐 Link in private chat"), link)]], edit=False)
    return ConversationHandler.END


async def cmd_connect(update: Update, context: Context) -> int:
    t = await turn(update, context)
    if not is_private(update):
        return await _group_connect(t)
    url = t.deps.settings.panel_url
    args = command_args(context)
    if args:
        try:
            url = check_panel_url(t.deps, args[0])
        except PanelNotAllowed:
            allowed = t.deps.settings.allowed_panels
            if allowed is None:
                text = t._(
                    "That is not the address of a panel's API. It looks like https://example.com/api/v2."
                )
            else:
                listed = "\n".join(f"• <code>{esc(u)}</code>" for u in allowed)
                text = t._("This panel is not allowed here. Panels you may link:") + "\n" + listed
            await t.show(text, edit=False)
            return ConversationHandler.END
    return await _ask_key(t, t.chat_id, url)


async def on_connect_button(update: Update, context: Context) -> int:
    t = await turn(update, context)
    if not is_private(update):
        return await _group_connect(t)
    return await _ask_key(t, t.chat_id, t.deps.settings.panel_url)


async def start_connect(update: Update, context: Context) -> int:
    """`/start connect` or `/start connect_g<digits>` in the private chat."""
    t = await turn(update, context)
    payload = command_args(context)[0]
    default = t.deps.settings.panel_url
    if payload == DEEP_LINK:
        return await _ask_key(t, t.chat_id, default)
    group_id = -int(payload.removeprefix(f"{DEEP_LINK}_g"))
    if not await _admin_of(context, group_id, t.user_id):
        await t.show(t._("Only the group's admins may link a panel for it."), edit=False)
        return ConversationHandler.END
    return await _ask_key(t, group_id, default)


async def _admin_of(context: Context, chat_id: int, user_id: int) -> bool:
    try:
        return await is_chat_admin(context, chat_id, user_id)
    except TelegramError:  # the bot is not in that group (any more), or it does not exist
        return False


async def on_other_panel(update: Update, context: Context) -> int:
    t = await turn(update, context)
    await t.answer()
    allowed = t.deps.settings.allowed_panels
    if allowed is None:
        text = t._("Send me the address of the panel's API, like <code>https://example.com/api/v2</code>.")
        await t.show(text, [_cancel_row(t)])
        return URL
    rows = [[(panel_host(url), f"acc:panel:{i}")] for i, url in enumerate(allowed)]
    await t.show(t._("Which panel?"), [*rows, _cancel_row(t)])
    return KEY


async def on_panel_choice(update: Update, context: Context) -> int:
    t = await turn(update, context)
    allowed = t.deps.settings.allowed_panels or ()
    index = int_arg(parse_callback(update.callback_query.data if update.callback_query else None), 2, -1)
    if not 0 <= index < len(allowed):
        await t.answer(t._("This panel is no longer offered."), alert=True)
        return KEY
    target = _state(context).get("chat", t.chat_id)
    return await _ask_key(t, target, allowed[index])


async def got_url(update: Update, context: Context) -> int:
    t = await turn(update, context)
    message = update.effective_message
    try:
        url = check_panel_url(t.deps, (message.text if message else None) or "")
    except PanelNotAllowed:
        text = t._("That is not the address of a panel's API. It looks like https://example.com/api/v2.")
        await t.show(text, [_cancel_row(t)], edit=False)
        return URL
    return await _ask_key(t, _state(context).get("chat", t.chat_id), url)


async def _delete(message: Message) -> bool:
    try:
        return await message.delete()
    except TelegramError:
        return False


def _key_trouble(t: Turn, exc: PanelError) -> str:
    _ = t._
    if isinstance(exc, InvalidKey):
        return "\n".join(
            [
                _("❌ The panel says this API key is invalid."),
                _("Check the key on the panel's API page and send it again, or press Cancel."),
            ]
        )
    if isinstance(exc, (PanelUnavailable, RateLimited)):
        return _("⚠️ The panel is unreachable right now. Send the key again in a minute, or press Cancel.")
    return _(
        "⚠️ The panel answered in a way I did not understand ({error}). Is this the right panel? "
        "Send the key again, or press Cancel.",
        error=esc(exc.message),
    )


async def got_key(update: Update, context: Context) -> int:
    t = await turn(update, context)
    _ = t._
    message = update.effective_message
    assert message is not None
    text = (message.text or "").strip()
    notes = []
    if _might_hold_key(text) and not await _delete(message):
        notes.append(
            _("⚠️ I could not delete your message: please delete your message with the key yourself.")
        )
    state = _state(context)
    if "chat" not in state or "panel" not in state:  # lost state: start over
        await t.show("\n\n".join([*notes, _("Please start again with /connect.")]), edit=False)
        return ConversationHandler.END
    if not _plausible_key(text):
        notes.append(
            _(
                "That does not look like an API key: a key is one word of {min} to {max} characters. "
                "Send the key again, or press Cancel.",
                min=MIN_KEY,
                max=MAX_KEY,
            )
        )
        await t.show("\n\n".join(notes), [_cancel_row(t)], edit=False)
        return KEY
    target, url = int(state["chat"]), str(state["panel"])
    if target != t.chat_id and not await _admin_of(context, target, t.user_id):
        await t.show("\n\n".join([*notes, _("Only the group's admins may link a panel for it.")]), edit=False)
        state.clear()
        return ConversationHandler.END
    try:
        await context.bot.send_chat_action(t.chat_id, ChatAction.TYPING)
    except TelegramError:
        pass
    try:
        account, balance = await link_account(t.deps, target, url, text)
    except AccountExistsError:
        state.clear()
        here = target == t.chat_id
        notes.append(
            _("ℹ️ This key is already linked to this chat.")
            if here
            else _("ℹ️ This key is already linked to that group.")
        )
        await t.show("\n\n".join(notes), main_buttons(t, True) if here else (), edit=False)
        return ConversationHandler.END
    except PanelNotAllowed:
        state.clear()
        await t.show("\n\n".join([*notes, _("This panel is no longer allowed here.")]), edit=False)
        return ConversationHandler.END
    except PanelError as exc:  # the conversation keeps waiting for a key
        await t.show("\n\n".join([*notes, _key_trouble(t, exc)]), [_cancel_row(t)], edit=False)
        return KEY
    state.clear()
    host = esc(panel_host(url))
    amount = money(balance.amount, balance.currency)
    lines = [
        *notes,
        _("✅ Panel linked: <code>{host}</code>", host=host),
        _("💰 Balance: {amount}", amount=amount),
    ]
    log.info("account %s linked to chat %s by user %s", account.id, target, t.user_id)
    here = target == t.chat_id
    if not here:
        title = esc(await _chat_title(t, target))
        lines.insert(len(notes) + 1, _("For the group <b>{title}</b>.", title=title))
        await _announce_in_group(t, target, host, amount)
    accounts = await chat_accounts(t, target)
    named = next((a for a in accounts if a.id == account.id), None)
    if len(accounts) > 1 and named is not None:  # several: ask for a name to tell them apart
        state.update(chat=target, label_for=account.id)
        lines += [
            "",
            _(
                "The chat has {n} panels now. Send a short name for this one (up to {max} characters), "
                "or keep “{name}”.",
                n=len(accounts),
                max=LABEL_MAX,
                name=esc(account_name(named)),
            ),
        ]
        await t.show("\n".join(lines), [[(_("✅ Keep this name"), "acc:lkeep")]], edit=False)
        return LABEL
    await t.show("\n".join(lines), main_buttons(t, True) if here else (), edit=False)
    return ConversationHandler.END


async def got_label(update: Update, context: Context) -> int:
    t = await turn(update, context)
    _ = t._
    state = _state(context)
    message = update.effective_message
    text = " ".join(((message.text if message else "") or "").split())
    if "label_for" not in state:
        await t.show(_("Please start again with /connect."), edit=False)
        return ConversationHandler.END
    if not text or len(text) > LABEL_MAX:
        note = _(
            "A name is one line of 1 to {max} characters. Send another, or keep the name.", max=LABEL_MAX
        )
        await t.show(esc(note), [[(_("✅ Keep this name"), "acc:lkeep")]], edit=False)
        return LABEL
    target = int(state.get("chat", t.chat_id))
    if target != t.chat_id and not await _admin_of(context, target, t.user_id):
        state.clear()
        await t.show(_("Only the group's admins may link a panel for it."), edit=False)
        return ConversationHandler.END
    async with t.session() as session:
        account = await repo.accounts.rename_account(session, int(state["label_for"]), target, text)
        await session.commit()
    return await _named(t, target, account.label if account else None)


async def on_keep_label(update: Update, context: Context) -> int:
    t = await turn(update, context)
    await t.answer()
    state = _state(context)
    target = int(state.get("chat", t.chat_id))
    async with t.session() as session:
        account = await repo.accounts.get_account(session, int(state.get("label_for", 0)), target)
    return await _named(t, target, account_name(account) if account else None)


async def _named(t: Turn, target: int, name: str | None) -> int:
    _state(t.context).clear()
    if name is None:
        await t.show(t._("This panel is not linked any more."), edit=False)
        return ConversationHandler.END
    text = t._("✅ The panel is called <b>{name}</b>. /accounts lists the linked panels.", name=esc(name))
    await t.show(text, main_buttons(t, True) if target == t.chat_id else (), edit=False)
    return ConversationHandler.END


async def _announce_in_group(t: Turn, group_id: int, host: str, amount: str) -> None:
    async with t.session() as session:
        group = await repo.chats.get_chat(session, group_id)
    user = t.update.effective_user
    lang = (group.language if group else None) or (user.language_code if user else None)
    gt = Turn(t.update, t.context, t.deps, group, translator(lang)) if group else t
    lines = [
        gt._(
            "✅ {name} linked the panel <code>{host}</code> to this group.",
            name=esc(user.first_name if user else "?"),
            host=host,
        ),
        gt._("💰 Balance: {amount}", amount=amount),
    ]
    try:
        await t.context.bot.send_message(
            group_id, "\n".join(lines), reply_markup=keyboard(main_buttons(gt, True))
        )
    except TelegramError as exc:
        log.warning("could not announce the linked panel in chat %s: %s", group_id, exc)


async def on_cancel(update: Update, context: Context) -> int:
    t = await turn(update, context)
    _state(context).clear()
    await t.answer()
    await t.show(t._("Okay, no panel was linked."))
    return ConversationHandler.END


async def on_timeout(update: object, context: Context) -> None:
    _state(context).clear()
    if isinstance(update, Update) and update.effective_chat is not None:
        t = await turn(update, context)
        try:
            await context.bot.send_message(
                update.effective_chat.id,
                esc(t._("⌛ Linking the panel timed out. Start again with /connect.")),
            )
        except TelegramError:
            pass


# --------------------------------------------------------------------------------------------- unlinking


async def cmd_disconnect(update: Update, context: Context) -> None:
    t = await turn(update, context)
    if not await may_manage(t, cached=True):  # only asks; the Unlink press is checked afresh
        await refuse(t)
        return
    async with t.session() as session:
        accounts = await repo.accounts.list_accounts(session, t.chat_id)
    if not accounts:
        await t.show(t._("No panel is linked."), main_buttons(t, False), edit=False)
    elif len(accounts) == 1:
        await _confirm_unlink(t, accounts[0].id or 0, accounts[0].panel_url, edit=False)
    else:
        accounts = await chat_accounts(t)  # the names to tell them apart
        rows = [[(button_name(a), f"acc:drop:{a.id}")] for a in accounts]
        rows.append([(t._("Keep them"), "acc:keep")])
        await t.show(t._("Which panel should be unlinked?"), rows, edit=False)


async def _confirm_unlink(t: Turn, account_id: int, url: str, *, edit: bool = True) -> None:
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
        await _confirm_unlink(t, account_id, account.panel_url)
        return
    await unlink_account(t.deps, t.chat_id, account_id)
    remaining = await t.account()
    text = t._("✅ The panel <code>{host}</code> was unlinked.", host=esc(panel_host(account.panel_url)))
    await t.show(text, main_buttons(t, remaining is not None))


async def stale_connect_button(update: Update, context: Context) -> None:
    t = await turn(update, context)
    await t.answer(t._("This step has ended. Start again with /connect."), alert=True)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    private_text = filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE
    deep_link = filters.ChatType.PRIVATE & filters.Regex(rf"^/start(@\w+)?\s+{DEEP_LINK}(_g\d{{1,20}})?\s*$")
    cancel: list[BaseHandler[Update, Context, object]] = [
        CommandHandler("cancel", on_cancel),
        CallbackQueryHandler(on_cancel, pattern=r"^acc:cancel$"),
    ]
    with warnings.catch_warnings():  # per_message=False with CallbackQueryHandlers is what we want
        warnings.simplefilter("ignore", PTBUserWarning)
        conversation = ConversationHandler(
            entry_points=[
                CommandHandler("connect", cmd_connect),
                CommandHandler("start", start_connect, filters=deep_link),
                CallbackQueryHandler(on_connect_button, pattern=r"^acc:connect$"),
            ],
            states={
                KEY: [
                    MessageHandler(private_text, got_key),
                    CallbackQueryHandler(on_other_panel, pattern=r"^acc:other$"),
                    CallbackQueryHandler(on_panel_choice, pattern=r"^acc:panel:\d+$"),
                ],
                URL: [
                    MessageHandler(private_text, got_url),
                    CallbackQueryHandler(on_panel_choice, pattern=r"^acc:panel:\d+$"),
                ],
                LABEL: [
                    MessageHandler(private_text, got_label),
                    CallbackQueryHandler(on_keep_label, pattern=r"^acc:lkeep$"),
                ],
                ConversationHandler.TIMEOUT: [TypeHandler(Update, on_timeout)],
            },
            fallbacks=cancel,
            name="connect",
            persistent=True,
            allow_reentry=True,
            conversation_timeout=TIMEOUT_SECONDS,
        )
    application.add_handler(conversation)
    application.add_handler(CommandHandler("disconnect", cmd_disconnect))
    application.add_handler(
        CallbackQueryHandler(on_unlink_button, pattern=r"^acc:(drop|unlink):\d+$|^acc:keep$")
    )
    application.add_handler(CallbackQueryHandler(stale_connect_button, pattern=r"^acc:"))
