"""Everything that talks to Telegram users: one module per flow, each with `register(application)`.

Conversations are `Flow`s (handlers/flow.py) over the conversation row that the update processor loads for
each update (bot/conversation.py). The order of registration matters within handler group 0: flows first
(while one is active it claims the text the user types), the catch-all guidance last. Group -2 says that a
flow's deadline passed, before the update is handled as if no flow were active; then a key pasted outside
the /connect key step is deleted (handlers/connect.py PastedKey) and goes no further.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from telegram.error import TelegramError
from telegram.ext import Application

from bot.config import Settings
from bot.i18n import LANGUAGES, lazy, translator
from handlers.flow import EXPIRY_GROUP, ExpiryNotice

from . import (
    accounts,
    balance,
    catalog,
    compare,
    connect,
    export,
    favorites,
    group,
    inline,
    mass,
    order,
    orders,
    settings,
    start,
    stats,
)

# (command, description) in the menus; descriptions are translated per language.
PRIVATE_COMMANDS = [
    ("order", lazy("Place an order")),
    ("mass", lazy("Place many orders at once")),
    ("services", lazy("Browse and search services")),
    ("compare", lazy("Compare a service's price across your panels")),
    ("orders", lazy("Your orders and their status")),
    ("export", lazy("Export the orders as a CSV file")),
    ("balance", lazy("Panel balance")),
    ("status", lazy("Status of order ids")),
    ("refill", lazy("Request a refill")),
    ("connect", lazy("Link a panel API key")),
    ("accounts", lazy("Linked panels: default, names, unlink")),
    ("disconnect", lazy("Unlink the panel")),
    ("settings", lazy("Language, alerts, notifications")),
    ("language", lazy("Change language")),
    ("cancel", lazy("Leave the current step")),
    ("help", lazy("How to use this bot")),
]
GROUP_COMMANDS = PRIVATE_COMMANDS
OPERATOR_COMMANDS = [("stats", lazy("Bot statistics (operators)"))]


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(ExpiryNotice(), group=EXPIRY_GROUP)
    for flow in (
        group,
        connect,
        order,
        mass,
        accounts,  # after the order and mass wizards: their text steps come first
        catalog,
        favorites,
        compare,
        orders,
        balance,
        settings,
        export,
        inline,
        stats,
        start,
    ):
        flow.register(application)


async def publish_commands(bot: Bot, settings: Settings) -> None:
    """The command menus, per scope and language. Menus are a convenience: a failure is logged, not raised."""
    log = logging.getLogger(__name__)
    try:
        for lang in LANGUAGES:
            _ = translator(lang)
            code = None if lang == "en" else lang
            private = [BotCommand(name, _(text)) for name, text in PRIVATE_COMMANDS]
            group = [BotCommand(name, _(text)) for name, text in GROUP_COMMANDS]
            await bot.set_my_commands(private, BotCommandScopeAllPrivateChats(), code)
            await bot.set_my_commands(group, BotCommandScopeAllGroupChats(), code)
    except TelegramError as exc:
        log.warning("Could not publish the command menus: %s", exc)
    operator = [BotCommand(n, d) for n, d in PRIVATE_COMMANDS + OPERATOR_COMMANDS]
    for admin_id in settings.admin_ids:
        try:
            await bot.set_my_commands(operator, BotCommandScopeChat(admin_id))
        except TelegramError as exc:  # the operator has not opened a chat with the bot yet
            log.info("No operator menu for %s yet: %s", admin_id, exc)
