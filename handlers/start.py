"""/start (the welcome and its deep links), /help, and the catch-alls.

Registered LAST in handler group 0 (see handlers/__init__.py): `/cancel` outside a conversation, unknown
commands, stray text and stale buttons only reach these handlers when no conversation or flow claimed them.

Main-menu buttons (each handled by its own flow):
  acc:connect   link a panel key     (handlers/connect.py)
  m:order       the order wizard     (handlers/order.py)
  o:list:0      the chat's orders    (handlers/orders.py)
  bal:show      the balance          (handlers/balance.py)
  svc:cats:0    the catalog          (handlers/catalog.py)
"""

from __future__ import annotations

import logging
import re
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.accounts import panel_display_host
from bot.keyvault import KeyDecryptError
from bot.panel import AddressNotAllowed, InvalidKey, PanelError, PanelUnavailable, RateLimited
from bot.webapp.access import startapp_link
from handlers.cards import service_card
from handlers.common import WEB_APP_PREFIX, Button, Context, Turn, command_args, esc, is_private, turn

log = logging.getLogger(__name__)

_SERVICE_PAYLOAD = re.compile(r"^(svc|order)_(\d{1,12})$")


def main_buttons(t: Turn, linked: bool) -> list[list[Button]]:
    """The main menu: a connect button until a panel is linked, then the everyday actions."""
    _ = t._
    if not linked:
        return [[(_("🔗 Connect panel"), "acc:connect")]]
    rows = [
        [(_("🛒 New order"), "m:order"), (_("📋 Orders"), "o:list:0")],
        [(_("💰 Balance"), "bal:show"), (_("🔎 Services"), "svc:cats:0")],
    ]
    app = app_button(t)
    return [*rows, [app]] if app else rows


def app_button(t: Turn) -> Button | None:
    """"Open app" when the Mini App is on: a web_app button in a private chat; in a group (where Telegram
    takes no web_app buttons) a startapp link, which opens the app for this group (admins only)."""
    url = t.deps.settings.webapp_url
    if not url:
        return None
    if is_private(t.update):
        return (t._("📱 Open app"), WEB_APP_PREFIX + url)
    username = t.context.bot.username
    return (t._("📱 Open app"), startapp_link(username, t.chat_id)) if username else None


def panel_host(url: str) -> str:
    return panel_display_host(url)


def panel_trouble(t: Turn, exc: Exception) -> str:
    """What to tell the user when the panel (or the stored key) failed."""
    _ = t._
    if isinstance(exc, (PanelUnavailable, RateLimited)):
        return _("⚠️ The panel is unreachable right now. Please try again in a minute.")
    if isinstance(exc, InvalidKey):
        return _("❌ The panel no longer accepts the linked API key. Link it again with /connect.")
    if isinstance(exc, KeyDecryptError):
        return _("❌ The stored API key cannot be read any more. Link it again with /connect.")
    if isinstance(exc, AddressNotAllowed):
        return _("❌ This panel's address is not allowed any more. Unlink it in /accounts.")
    if isinstance(exc, PanelError):
        return _("⚠️ The panel answered with an error: {error}", error=esc(exc.message))
    raise exc


async def welcome(t: Turn, note: str = "") -> None:
    _ = t._
    account = await t.account()
    user = t.update.effective_user
    name = esc(user.first_name) if user and is_private(t.update) else ""
    lines = [_("👋 Hi, {name}!", name=name) if name else _("👋 Hello!")]
    lines.append(
        _(
            "I place orders on your SMM panel right here in Telegram: browse the services, order, "
            "follow each order's status and keep an eye on the balance."
        )
    )
    if account is None:
        if is_private(t.update):
            lines.append(_("First, link your panel's API key: press <b>Connect panel</b>."))
        else:
            lines.append(
                _("First, an admin of this group links the panel's API key: press <b>Connect panel</b>.")
            )
    else:
        lines.append(
            _(
                "Panel: <code>{host}</code>. What would you like to do?",
                host=esc(panel_host(account.panel_url)),
            )
        )
    lines.append(_("/help lists every command."))
    text = "\n\n".join(([note] if note else []) + lines)
    await t.show(text, main_buttons(t, account is not None), edit=False)


async def _service_deep_link(t: Turn, kind: str, service_id: int) -> None:
    _ = t._
    account = await t.account()
    if account is None:
        await welcome(t, _("To see this service, link a panel first."))
        return
    try:
        catalog = await t.deps.panels.catalog(account)
    except (PanelError, KeyDecryptError) as exc:
        await t.show(panel_trouble(t, exc), main_buttons(t, True), edit=False)
        return
    service = catalog.get(service_id)
    if service is None:
        text = _("Service {id} is not in this panel's catalog.", id=service_id)
        await t.show(text, main_buttons(t, True), edit=False)
        return
    text = service_card(_, service, account.currency)
    if kind == "order":
        text = _("Press <b>Order</b> below to order this service.") + "\n\n" + text
    await t.show(text, [[(_("🛒 Order"), f"ord:new:{service.id}")]], edit=False)


async def cmd_start(update: Update, context: Context) -> None:
    t = await turn(update, context)
    args = command_args(context)
    match = _SERVICE_PAYLOAD.match(args[0]) if args else None
    if match:
        await _service_deep_link(t, match.group(1), int(match.group(2)))
        return
    await welcome(t)


async def cmd_help(update: Update, context: Context) -> None:
    from handlers import PRIVATE_COMMANDS  # the package imports this module first

    t = await turn(update, context)
    _ = t._
    args = {
        "order": _("[service id]"),
        "services": _("[text]"),
        "compare": _("<words>"),
        "status": _("<order id> …"),
        "refill": _("<order id>"),
    }
    commands = []
    for name, description in PRIVATE_COMMANDS:
        arg = f" {esc(args[name])}" if name in args else ""
        commands.append(f"/{name}{arg} — {esc(_(description))}")
    lines = [
        _("<b>How it works</b>"),
        _(
            "1. Link your panel's API key with /connect. In a group an admin does it, and sends the key to "
            "me in a private chat, never in the group."
        ),
        _("2. Find a service: /services shows the categories; /services followers searches by name or id."),
        _(
            "3. Order: /order, or the Order button under a service. I ask for the link and the quantity "
            "(and whatever else the service needs), show the exact price and your balance, and place the "
            "order only when you press Confirm."
        ),
        _("4. I let you know when an order's status changes; /orders lists them with their status."),
        "",
        _("<b>Commands</b>"),
        *commands,
    ]
    account = await t.account()
    await t.show("\n".join(lines), main_buttons(t, account is not None), edit=False)


async def cmd_cancel(update: Update, context: Context) -> None:
    t = await turn(update, context)
    await t.show(t._("Nothing to cancel."), edit=False)


async def unknown_command(update: Update, context: Context) -> None:
    message = update.effective_message
    words = (message.text or "").split() if message else []
    _command, at, target = (words[0] if words else "").partition("@")
    if at and target.lower() != (context.bot.username or "").lower():
        return  # /command@another_bot
    if not at and not is_private(update):
        return  # in a group a bare /command may be meant for another bot: answer only when it names us
    t = await turn(update, context)
    await t.show(t._("I don't know that command, see /help."), edit=False)


async def unknown_text(update: Update, context: Context) -> None:
    """Text no flow is waiting for (a pasted key never gets here: see handlers/connect.py PastedKey)."""
    t = await turn(update, context)
    account = await t.account()
    text = t._("I am not sure what you mean. Use the buttons below, or see /help.")
    await t.show(text, main_buttons(t, account is not None), edit=False)


async def stale_button(update: Update, context: Context) -> None:
    """A button no flow claimed (an old message, a finished step): answer it, so no spinner is left."""
    t = await turn(update, context)
    log.debug("unclaimed callback data %r", update.callback_query and update.callback_query.data)
    await t.answer(t._("This button is no longer active."))


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("start", cmd_start))
    application.add_handler(CommandHandler("help", cmd_help))
    application.add_handler(CommandHandler("cancel", cmd_cancel))
    application.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    application.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, unknown_text)
    )
    application.add_handler(CallbackQueryHandler(stale_button))
