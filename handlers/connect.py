"""Linking a panel API key (/connect) and unlinking it (/disconnect).

This module holds the conversation, the key handling and `register` (which also registers what lives in
the step modules): the group deep link and the group announcement are in handlers/connect_group.py, the
optional label step in handlers/connect_label.py, unlinking in handlers/disconnect.py, and the shared
conversation state in handlers/connect_state.py.

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
import re
from typing import Any
from urllib.parse import urlsplit

from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.accounts import (
    PanelNotAllowed,
    PanelNotPublic,
    TooManyAccounts,
    accounts_left,
    check_panel_url,
    is_http_url,
    link_account,
)
from bot.conversation import current
from bot.i18n import lazy
from bot.panel import InvalidKey, PanelError, PanelUnavailable, RateLimited
from handlers.accounts import account_name, chat_accounts
from handlers.alert_offer import offer_low_balance_alert
from handlers.common import (
    Button,
    Context,
    Turn,
    command_args,
    esc,
    int_arg,
    is_private,
    money,
    parse_callback,
    turn,
)
from handlers.connect_group import DEEP_LINK, admin_of, announce_in_group, chat_title, group_connect
from handlers.connect_label import got_label, on_keep_label
from handlers.connect_state import KEY, LABEL, URL, cancel_row, connect_data
from handlers.disconnect import cmd_disconnect, on_unlink_button
from handlers.flow import END, PASTED_KEY_GROUP, Flow
from handlers.start import main_buttons, panel_host
from storage.repo.accounts import LABEL_MAX, AccountExistsError

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30 * 60
MIN_KEY, MAX_KEY = 8, 200
NOT_DELETED = lazy("⚠️ I could not delete your message: please delete your message with the key yourself.")


def _plausible_key(text: str) -> bool:
    return MIN_KEY <= len(text) <= MAX_KEY and not any(c.isspace() for c in text) and text.isprintable()


def _might_hold_key(text: str) -> bool:
    """Worth deleting: some word of it could be a key (even one too long to be accepted)."""
    return any(len(word) >= MIN_KEY for word in text.split())


def _too_many_text(t: Turn) -> str:
    return t._(
        "This chat has {n} linked panels, the most a chat may have. Unlink one first (/accounts).",
        n=t.deps.settings.max_accounts_per_chat,
    )


async def _ask_key(t: Turn, target: int, url: str) -> int:
    _ = t._
    state = connect_data()
    state.clear()
    if await accounts_left(t.deps, target) == 0:
        await t.answer()
        await t.show(_too_many_text(t), edit=False)
        return END
    state.update(chat=target, panel=url)
    lines = [_("🔗 <b>Link a panel</b>")]
    if target != t.chat_id:
        title = await chat_title(t, target)
        lines.append(_("For the group <b>{title}</b>.", title=esc(title)))
    linked = await t.accounts(target)
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
    rows.append(cancel_row(t))
    await t.answer()
    await t.show("\n".join(lines), rows)
    return KEY


def carries_password(text: str) -> bool:
    """A panel address with `user:pass@` in it carries a secret: it must not stay in the chat either."""
    for word in text.split():
        if "://" not in word:
            continue
        try:
            if "@" in urlsplit(word).netloc:
                return True
        except ValueError:  # not a URL after all (a broken IPv6 literal, say)
            continue
    return False


def _refusal(t: Turn, exc: PanelNotAllowed) -> str:
    """Why an address typed with `SMMBOT_ALLOWED_PANELS=*` cannot be linked."""
    if is_http_url(str(exc)):
        return t._(
            "This panel cannot be linked here: only public panels over https, without a user name "
            "or password in the address. Send another address, or press Cancel."
        )
    return t._("That is not the address of a panel's API. It looks like https://example.com/api/v2.")


async def cmd_connect(update: Update, context: Context) -> int:
    """/connect, /connect <panel API URL>, and /connect <key>: a key (or an address with a password in it)
    typed after the command is deleted before anything else; in a private chat a key is then taken as the
    key for the default panel."""
    args = command_args(context)
    message = update.effective_message
    typed_key = bool(args) and not args[0].lower().startswith(("http://", "https://"))
    secret = typed_key or (bool(args) and carries_password(args[0]))
    deleted = await _delete(message) if secret and message is not None else False
    t = await turn(update, context)
    if not is_private(update):
        if typed_key and not deleted:
            await t.show(t._(NOT_DELETED), edit=False)
        return await group_connect(t)
    url = t.deps.settings.panel_url
    if typed_key:
        state = connect_data()
        state.clear()
        state.update(chat=t.chat_id, panel=url)
        return await _link(t, " ".join(args), [] if deleted else [t._(NOT_DELETED)])
    if args:
        try:
            url = check_panel_url(t.deps, args[0])
        except PanelNotAllowed as exc:
            allowed = t.deps.settings.allowed_panels
            if allowed is None:
                text = _refusal(t, exc)
            else:
                listed = "\n".join(f"• <code>{esc(u)}</code>" for u in allowed)
                text = t._("This panel is not allowed here. Panels you may link:") + "\n" + listed
            await t.show(text, edit=False)
            return END
    return await _ask_key(t, t.chat_id, url)


async def on_connect_button(update: Update, context: Context) -> int:
    t = await turn(update, context)
    if not is_private(update):
        return await group_connect(t)
    return await _ask_key(t, t.chat_id, t.deps.settings.panel_url)


async def start_connect(update: Update, context: Context) -> int:
    """`/start connect` or `/start connect_g<digits>` in the private chat."""
    t = await turn(update, context)
    payload = command_args(context)[0]
    default = t.deps.settings.panel_url
    if payload == DEEP_LINK:
        return await _ask_key(t, t.chat_id, default)
    group_id = -int(payload.removeprefix(f"{DEEP_LINK}_g"))
    if not await admin_of(context, group_id, t.user_id):
        await t.show(t._("Only the group's admins may link a panel for it."), edit=False)
        return END
    return await _ask_key(t, group_id, default)


async def on_other_panel(update: Update, context: Context) -> int:
    t = await turn(update, context)
    await t.answer()
    allowed = t.deps.settings.allowed_panels
    if allowed is None:
        text = t._("Send me the address of the panel's API, like <code>https://example.com/api/v2</code>.")
        await t.show(text, [cancel_row(t)])
        return URL
    rows = [[(panel_host(url), f"acc:panel:{i}")] for i, url in enumerate(allowed)]
    await t.show(t._("Which panel?"), [*rows, cancel_row(t)])
    return KEY


async def on_panel_choice(update: Update, context: Context) -> int:
    t = await turn(update, context)
    allowed = t.deps.settings.allowed_panels or ()
    index = int_arg(parse_callback(update.callback_query.data if update.callback_query else None), 2, -1)
    if not 0 <= index < len(allowed):
        await t.answer(t._("This panel is no longer offered."), alert=True)
        return KEY
    target = connect_data().get("chat", t.chat_id)
    return await _ask_key(t, target, allowed[index])


async def got_url(update: Update, context: Context) -> int:
    message = update.effective_message
    if message is not None and carries_password(message.text or ""):
        await _delete(message)  # first: the address is refused below, its password must not stay
    t = await turn(update, context)
    try:
        url = check_panel_url(t.deps, (message.text if message else None) or "")
    except PanelNotAllowed as exc:
        await t.show(_refusal(t, exc), [cancel_row(t)], edit=False)
        return URL
    return await _ask_key(t, connect_data().get("chat", t.chat_id), url)


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
    message = update.effective_message
    assert message is not None
    text = (message.text or "").strip()
    notes = []
    if _might_hold_key(text) and not await _delete(message):
        notes.append(t._(NOT_DELETED))
    return await _link(t, text, notes)


async def _link(t: Turn, text: str, notes: list[str]) -> int:
    """Check the key with the panel and link it to the chat the conversation is for."""
    _ = t._
    context = t.context
    state = connect_data()
    if "chat" not in state or "panel" not in state:  # lost state: start over
        await t.show("\n\n".join([*notes, _("Please start again with /connect.")]), edit=False)
        return END
    if not _plausible_key(text):
        notes.append(
            _(
                "That does not look like an API key: a key is one word of {min} to {max} characters. "
                "Send the key again, or press Cancel.",
                min=MIN_KEY,
                max=MAX_KEY,
            )
        )
        await t.show("\n\n".join(notes), [cancel_row(t)], edit=False)
        return KEY
    target, url = int(state["chat"]), str(state["panel"])
    if target != t.chat_id and not await admin_of(context, target, t.user_id):
        await t.show("\n\n".join([*notes, _("Only the group's admins may link a panel for it.")]), edit=False)
        state.clear()
        return END
    try:
        await context.bot.send_chat_action(t.chat_id, ChatAction.TYPING)
    except TelegramError:
        pass
    try:
        account, balance = await link_account(t.deps, target, url, text)
        t.forget_accounts()
    except AccountExistsError:
        state.clear()
        here = target == t.chat_id
        notes.append(
            _("ℹ️ This key is already linked to this chat.")
            if here
            else _("ℹ️ This key is already linked to that group.")
        )
        await t.show("\n\n".join(notes), main_buttons(t, True) if here else (), edit=False)
        return END
    except PanelNotAllowed as exc:
        state.clear()
        refusal = (
            _("This panel's address is not on the public internet, so it cannot be linked here.")
            if isinstance(exc, PanelNotPublic)
            else _("This panel is no longer allowed here.")
        )
        await t.show("\n\n".join([*notes, refusal]), edit=False)
        return END
    except TooManyAccounts:
        state.clear()
        await t.show("\n\n".join([*notes, _too_many_text(t)]), edit=False)
        return END
    except PanelError as exc:  # the conversation keeps waiting for a key
        await t.show("\n\n".join([*notes, _key_trouble(t, exc)]), [cancel_row(t)], edit=False)
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
        title = esc(await chat_title(t, target))
        lines.insert(len(notes) + 1, _("For the group <b>{title}</b>.", title=title))
        await announce_in_group(t, target, host, amount)
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
    await offer_low_balance_alert(t, target, balance)
    return END


async def on_cancel(update: Update, context: Context) -> int:
    t = await turn(update, context)
    connect_data().clear()
    await t.answer()
    await t.show(t._("Okay, no panel was linked."))
    return END


# One token of letters and digits like the keys panels hand out (32-64 hex or base62), and no link.
KEY_LIKE = re.compile(r"(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-]{20,128}")


class PastedKey(MessageHandler[Context, None]):
    """A key pasted anywhere but at the /connect key step (no flow, or another flow's text step): deleted
    from the chat before any flow sees it, with a pointer to /connect. Registered in a handler group before
    the flows; it ends the update's handling there."""

    def __init__(self) -> None:
        super().__init__(filters.TEXT & ~filters.COMMAND, self.on_key)

    def check_update(self, update: object) -> object:
        conversation = current()
        if conversation is not None and conversation.flow == "connect" and conversation.step == str(KEY):
            return None  # the /connect key step takes it (and deletes it)
        message = update.effective_message if isinstance(update, Update) else None
        if message is None or not message.text or not KEY_LIKE.fullmatch(message.text.strip()):
            return None
        return super().check_update(update)

    @staticmethod
    async def on_key(update: Update, context: Context) -> None:
        t = await turn(update, context)
        message = update.effective_message
        assert message is not None
        if await _delete(message):
            text = t._(
                "That looked like an API key, so I deleted it from the chat. To link a panel, use /connect."
            )
        else:
            text = t._(
                "That looks like an API key: please delete your message. To link a panel, use /connect."
            )
        await t.show(text, edit=False)
        raise ApplicationHandlerStop


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    private_text = filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE
    deep_link = filters.ChatType.PRIVATE & filters.Regex(rf"^/start(@\w+)?\s+{DEEP_LINK}(_g\d{{1,20}})?\s*$")
    cancel: list[BaseHandler[Update, Context, object]] = [
        CommandHandler("cancel", on_cancel),
        CallbackQueryHandler(on_cancel, pattern=r"^acc:cancel$"),
    ]
    conversation = Flow(
        "connect",
        entry_points=[
            CommandHandler("connect", cmd_connect),
            CommandHandler("start", start_connect, filters=deep_link),
            CallbackQueryHandler(on_connect_button, pattern=r"^acc:connect$"),
        ],
        steps={
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
        },
        fallbacks=cancel,
        expired_buttons=r"^acc:(other|panel:\d+|lkeep|cancel)$",
    )
    application.add_handler(PastedKey(), group=PASTED_KEY_GROUP)
    application.add_handler(conversation)
    application.add_handler(CommandHandler("disconnect", cmd_disconnect))
    application.add_handler(
        CallbackQueryHandler(on_unlink_button, pattern=r"^acc:(drop|unlink):\d+$|^acc:keep$")
    )
