"""Linking a panel for a group: in the group, /connect hands admins a deep link into the private chat
(`/start connect_g<group id without the minus>`); the admin is re-checked there, and the linked panel is
announced in the group. The conversation itself is in handlers/connect.py."""

from __future__ import annotations

import logging

from telegram.error import TelegramError

from bot.i18n import translator
from handlers.common import (
    Context,
    Turn,
    esc,
    is_anonymous_admin,
    is_chat_admin,
    keyboard,
    may_manage,
    refuse,
)
from handlers.flow import END
from handlers.start import main_buttons
from storage import repo

log = logging.getLogger("handlers.connect")  # the logger name from before the split

DEEP_LINK = "connect"  # /start connect (private) or /start connect_g<digits> (for a group)


async def chat_title(t: Turn, chat_id: int) -> str:
    async with t.session() as session:
        chat = await repo.chats.get_chat(session, chat_id)
    return chat.title if chat is not None and chat.title else str(chat_id)


async def group_connect(t: Turn) -> int:
    """In a group the key must not be typed: hand admins a deep link into the private chat."""
    if not await may_manage(t):
        await refuse(t)
        return END
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
    return END


async def admin_of(context: Context, chat_id: int, user_id: int) -> bool:
    try:
        return await is_chat_admin(context, chat_id, user_id)
    except TelegramError:  # the bot is not in that group (any more), or it does not exist
        return False


async def announce_in_group(t: Turn, group_id: int, host: str, amount: str) -> None:
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
