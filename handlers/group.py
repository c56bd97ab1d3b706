"""Life in groups: the bot joining and leaving, a group becoming a supergroup, channels, and whose order
wizard a message belongs to.

- my_chat_member: added to a group, the bot introduces itself and explains /connect; removed (left or kicked),
  the chat is marked inactive so nothing is sent there any more. In a private chat, blocking the bot marks the
  chat inactive too (any later update from the chat makes it active again, see repo.chats.get_or_create_chat).
- chat_member (Telegram sends these only when asked for in allowed_updates, and only to admin bots): a
  promotion or demotion drops that person's cached admin answer at once.
- A message with migrate_to_chat_id: the group became a supergroup; its rows move to the new id
  (repo.chats.migrate_chat_id; wizards in progress end). The twin message in the new supergroup
  (migrate_from_chat_id) is left alone, so that the two (which run concurrently, being in different chats)
  do not race.
- Channel posts are ignored: anything said in a channel is read by every subscriber.

Whose wizard: conversations are per person, but a press on someone else's wizard message (or a reply to
someone else's prompt) would reach the PRESSER's own conversation, or none. A flow's messages in groups are
noted in its person's conversation row (handlers/flow.py remember_message), the update processor loads
every row of the chat, and `ForeignWizard`, registered before the order flow, answers such presses with
"someone else's order in progress".
Confirm is different: the summary's draft may be confirmed by the person who built it (if still allowed to
order) or by any admin of the group, checked afresh. Admins may finish a member's order, and it is the only
way for an anonymous admin, whose Confirm press comes from their own account, not from the group.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import IntegrityError
from telegram import ChatMember, Update
from telegram.constants import ChatType
from telegram.ext import Application, BaseHandler, ChatMemberHandler, MessageHandler, filters

from bot.conversation import current
from handlers.common import (
    Context,
    Turn,
    admin_cache,
    deps,
    esc,
    is_chat_admin,
    may_order,
    refuse,
    turn,
)
from handlers.start import main_buttons, panel_host
from storage import repo
from storage.models import Order

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------- ownership


class ForeignWizard(BaseHandler[Update, Context, None]):
    """Claims presses on, and text replies to, another person's order-wizard message in a group. Confirm
    (`ord:ok:`) is left to the order flow, which lets admins confirm too."""

    def __init__(self) -> None:
        super().__init__(on_foreign)

    def check_update(self, update: object) -> bool:
        if not isinstance(update, Update) or update.effective_chat is None or update.effective_user is None:
            return False
        if update.effective_chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
            return False
        query, message = update.callback_query, update.message
        if query is not None:
            data = query.data or ""
            if not data.startswith("ord:") or data.startswith("ord:ok:") or query.message is None:
                return False
            message_id = query.message.message_id
        elif message is not None and message.reply_to_message is not None and message.text:
            if message.text.startswith("/"):
                return False
            message_id = message.reply_to_message.message_id
        else:
            return False
        conversation = current()
        owner = conversation.owner_of(message_id) if conversation is not None else None
        return owner is not None and owner != update.effective_user.id


async def on_foreign(update: Update, context: Context) -> None:
    t = await turn(update, context)
    text = t._("This is someone else's order in progress. Start your own with /order.")
    if t.query is not None:
        await t.answer(text, alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(esc(text))


async def may_confirm(t: Turn, order: Order) -> bool:
    """The summary's builder (still allowed to order) or an admin of the group, both checked afresh.
    Answers the press itself when the answer is no."""
    if t.user_id == order.placed_by:
        if await may_order(t):
            return True
        await refuse(t)
        return False
    if await is_chat_admin(t.context, t.chat_id, t.user_id):
        return True
    await refuse(t, t._("This is someone else's order in progress: only they or an admin may confirm it."))
    return False


# ---------------------------------------------------------------------------------------------- membership


def _present(member: ChatMember) -> bool:
    if member.status == ChatMember.RESTRICTED:
        return bool(getattr(member, "is_member", False))
    return member.status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)


async def on_my_status(update: Update, context: Context) -> None:
    change = update.my_chat_member
    if change is None:
        return
    chat = change.chat
    was, now = _present(change.old_chat_member), _present(change.new_chat_member)
    if chat.type == ChatType.CHANNEL or was == now:  # channels: nothing to do; promotions: nothing to say
        return
    if not now:
        async with deps(context).sessions() as session:
            await repo.chats.set_chat_active(session, chat.id, False)
            await session.commit()
        admin_cache(context).forget(chat.id)
        log.info("removed from chat %s; marked inactive", chat.id)
        return
    t = await turn(update, context)  # creates the chat's row, or makes it active again
    if chat.type != ChatType.PRIVATE:
        await introduce(t)


async def introduce(t: Turn) -> None:
    _ = t._
    account = await t.account()
    chat = t.update.effective_chat
    title = esc(chat.title if chat and chat.title else "")
    lines = [
        _("👋 Hello, <b>{title}</b>!", title=title) if title else _("👋 Hello!"),
        _(
            "I place orders on an SMM panel for this group, show their status and tell you here when "
            "it changes."
        ),
    ]
    if account is None:
        lines.append(
            _(
                "🔐 First, an admin links the panel with /connect. API keys are never sent in the group: I "
                "answer with a button that opens a private chat with me, and the key is sent there."
            )
        )
    else:
        lines.append(_("🔗 Linked panel: <code>{host}</code>", host=esc(panel_host(account.panel_url))))
    lines += [
        _(
            "👥 Everyone here can see the balance (/balance) and the orders (/orders). Admins change the "
            "/settings and place, refill and cancel orders (/order); they can let every member order."
        ),
        _("💬 When I ask a question, reply to my message, so that your answer reaches me."),
    ]
    await t.show("\n\n".join(lines), main_buttons(t, account is not None), edit=False)


async def on_member_status(update: Update, context: Context) -> None:
    change = update.chat_member
    if change is not None:
        admin_cache(context).forget(change.chat.id, change.new_chat_member.user.id)


# ---------------------------------------------------------------------------------------------- migration


async def on_migrate(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return  # the note in the new supergroup: the old group's note does the work
    old, new = message.chat.id, message.migrate_to_chat_id
    for attempt in range(2):
        try:
            async with deps(context).sessions() as session:
                await repo.chats.migrate_chat_id(session, old, new)
                await session.commit()
            break
        except IntegrityError:  # the new chat's row appeared meanwhile (an update from it): once more
            if attempt:
                raise
    admin_cache(context).forget(old)
    log.info("chat %s migrated to %s", old, new)


async def on_channel_post(update: Update, context: Context) -> None:
    log.debug("channel post in %s ignored", update.effective_chat and update.effective_chat.id)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(ChatMemberHandler(on_my_status, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(ChatMemberHandler(on_member_status, ChatMemberHandler.CHAT_MEMBER))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, on_migrate))
    application.add_handler(MessageHandler(filters.UpdateType.CHANNEL_POSTS, on_channel_post))
    application.add_handler(ForeignWizard())
