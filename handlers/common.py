"""What every flow shares: the per-update context, rendering, keyboards, permission checks.

Callback data is plain text `<flow>:<action>[:arg...]`, kept far under Telegram's 64 bytes: only ids and
small numbers go in it, never names.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import (
    CallbackQuery,
    ChatMember,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
    WebAppInfo,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import ContextTypes

from bot.conversation import current
from bot.deps import Deps
from bot.formatting import MAX_ALERT, MAX_MESSAGE, esc, fit_html, format_money, shorten
from bot.i18n import Translator, translator
from storage import repo
from storage.models import Account, Chat

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
# A button: (label, callback data) or (label, URL) when the second part is a link.
Button = tuple[str, str]
WEB_APP_PREFIX = "webapp:"  # a Button target "webapp:<url>" is a web_app button


def deps(context: Context) -> Deps:
    return context.application.bot_data["deps"]


money = format_money  # the name the handlers use


def keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    built = []
    for row in rows:
        buttons = []
        for label, target in row:
            if target.startswith(WEB_APP_PREFIX):  # opens the Mini App (private chats only)
                buttons.append(InlineKeyboardButton(label, web_app=WebAppInfo(target[len(WEB_APP_PREFIX) :])))
            elif target.startswith(("http://", "https://", "tg://")):
                buttons.append(InlineKeyboardButton(label, url=target))
            else:
                assert len(target.encode()) <= 64, target  # a programming error, caught by the tests
                buttons.append(InlineKeyboardButton(label, callback_data=target))
        if buttons:
            built.append(buttons)
    return InlineKeyboardMarkup(built) if built else None


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """Keep an HTML message within Telegram's limit, measured as Telegram does, cut only between tags and
    characters (callers shorten panel texts on purpose; this is the last guard)."""
    return fit_html(text, limit)


def is_private(update: Update) -> bool:
    return bool(update.effective_chat and update.effective_chat.type == ChatType.PRIVATE)


@dataclass
class Turn:
    """One update's view of the world: who, where, in which language, with the chat's stored row."""

    update: Update
    context: Context
    deps: Deps
    chat: Chat
    _: Translator

    @property
    def chat_id(self) -> int:
        return self.chat.id

    @property
    def user_id(self) -> int:
        user = self.update.effective_user
        return user.id if user else 0

    @property
    def query(self) -> CallbackQuery | None:
        return self.update.callback_query

    def session(self) -> AsyncSession:
        return self.deps.sessions()

    async def accounts(self, chat_id: int | None = None) -> list[Account]:
        """The chat's linked accounts, the default first; listed once per update (call forget_accounts()
        after linking, unlinking, renaming or changing the default)."""
        target = self.chat_id if chat_id is None else chat_id
        conversation = current()
        cache = conversation.accounts if conversation is not None else {}
        if target not in cache:
            async with self.session() as session:
                cache[target] = await repo.accounts.list_accounts(session, target)
        return cache[target]

    def forget_accounts(self) -> None:
        conversation = current()
        if conversation is not None:
            conversation.accounts.clear()

    async def account(self) -> Account | None:
        """The chat's default account (the first linked, unless another was made the default)."""
        accounts = await self.accounts()
        if not accounts:
            return None
        return next((a for a in accounts if a.is_default), accounts[0])

    async def show(
        self, text: str, buttons: Sequence[Sequence[Button]] = (), *, edit: bool = True
    ) -> Message | None:
        """Edit the pressed message in place (navigation), or send a new message."""
        markup = keyboard(buttons)
        text = clip(text)
        query = self.query
        if edit and query is not None and query.message is not None and isinstance(query.message, Message):
            try:
                result = await query.edit_message_text(text, reply_markup=markup)
                return result if isinstance(result, Message) else None
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return None
                if "can't be edited" not in str(exc).lower() and "not found" not in str(exc).lower():
                    raise
        chat = self.update.effective_chat
        assert chat is not None
        return await self.context.bot.send_message(chat.id, text, reply_markup=markup)

    async def answer(self, text: str | None = None, *, alert: bool = False) -> None:
        """Always answer a callback query (the client shows a spinner until we do)."""
        if self.query is not None:
            try:
                # Telegram refuses answers over 200 characters (MESSAGE_TOO_LONG)
                await self.query.answer(shorten(text, MAX_ALERT) if text else text, show_alert=alert)
            except BadRequest:  # too old to answer; harmless
                log.debug("callback query could not be answered", exc_info=True)


async def turn(update: Update, context: Context) -> Turn:
    """The chat's row (loaded once per update by the update processor, see bot/conversation.py; loaded or
    created here when there is none, e.g. an update handed to the Application directly) and the language:
    the chat's choice, else the user's."""
    d = deps(context)
    tg_chat = update.effective_chat
    assert tg_chat is not None
    conversation = current()
    chat = conversation.chat if conversation is not None and conversation.chat_id == tg_chat.id else None
    if chat is None:
        async with d.sessions() as session:
            chat = await repo.chats.get_or_create_chat(
                session, tg_chat.id, kind=tg_chat.type, title=tg_chat.title
            )
            await session.commit()
        if conversation is not None:
            conversation.chat = chat
    user = update.effective_user
    lang = chat.language or (user.language_code if user else None)
    return Turn(update=update, context=context, deps=d, chat=chat, _=translator(lang))


ADMIN_TTL = 60.0  # seconds a positive admin answer may serve read-only decisions


class AdminCache:
    """(chat, user) -> when getChatMember last said "admin". Only positive answers are kept, so a member who
    was just promoted is never refused from the cache; privileged actions bypass it (see may_manage)."""

    def __init__(self, ttl: float = ADMIN_TTL, size: int = 10_000) -> None:
        self.ttl, self.size = ttl, size
        self._seen: OrderedDict[tuple[int, int], float] = OrderedDict()

    def get(self, chat_id: int, user_id: int) -> bool:
        at = self._seen.get((chat_id, user_id))
        return at is not None and time.monotonic() - at < self.ttl

    def put(self, chat_id: int, user_id: int, is_admin: bool) -> None:
        key = (chat_id, user_id)
        self._seen.pop(key, None)
        if is_admin:
            self._seen[key] = time.monotonic()
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)

    def forget(self, chat_id: int, user_id: int | None = None) -> None:
        for key in [k for k in self._seen if k[0] == chat_id and user_id in (None, k[1])]:
            del self._seen[key]


def admin_cache(context: Context) -> AdminCache:
    """One per Application (bot_data is not persisted; a module global would leak between test bots)."""
    return context.application.bot_data.setdefault("admin_cache", AdminCache())


async def is_chat_admin(context: Context, chat_id: int, user_id: int, *, cached: bool = False) -> bool:
    """Asks Telegram (getChatMember); `cached=True` may answer from the last 60 s instead."""
    cache = admin_cache(context)
    if cached and cache.get(chat_id, user_id):
        return True
    try:
        member = await context.bot.get_chat_member(chat_id, user_id)
    except (BadRequest, Forbidden):  # not a participant (e.g. a channel identity), or the bot left
        cache.put(chat_id, user_id, False)
        return False
    admin = member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER)
    cache.put(chat_id, user_id, admin)
    return admin


def is_anonymous_admin(update: Update) -> bool:
    """Anonymous admins post as the group itself (sender_chat), which only admins can do."""
    message = update.effective_message
    chat = update.effective_chat
    if update.callback_query is not None or message is None or chat is None:
        return False
    return message.sender_chat is not None and message.sender_chat.id == chat.id


async def may_manage(t: Turn, *, cached: bool = False) -> bool:
    """Privileged actions (link keys, settings): anyone in a private chat, admins in a group.

    Every privileged step calls this as it is (a fresh getChatMember: a demoted admin is stopped at once);
    `cached=True` is for decisions that change nothing (showing a menu, the order wizard's questions)."""
    if is_private(t.update) or is_anonymous_admin(t.update):
        return True
    return await is_chat_admin(t.context, t.chat_id, t.user_id, cached=cached)


async def may_order(t: Turn, *, cached: bool = False) -> bool:
    if is_private(t.update) or t.chat.members_may_order:
        return True
    return await may_manage(t, cached=cached)


async def refuse(t: Turn, text: str | None = None) -> None:
    text = text or t._("Only the group's admins may do this.")
    if t.query is not None:
        await t.answer(text, alert=True)
    elif t.update.effective_message is not None:
        await t.update.effective_message.reply_text(esc(text))


async def ask_reply(
    t: Turn, text: str, *, hint: str | None = None, placeholder: str | None = None
) -> Message:
    """A question whose answer is typed, as a forced reply: in a group (privacy mode) only replies reach the
    bot, and the selective ForceReply targets the person mentioned (nobody to mention for an anonymous admin,
    who writes as the group). `hint` goes under the text in italics."""
    user = t.update.effective_user
    mention = ""
    if not is_private(t.update) and not is_anonymous_admin(t.update) and user is not None:
        mention = f'<a href="tg://user?id={user.id}">{esc(user.first_name)}</a>\n'
    body = f"{mention}{text}" + (f"\n\n<i>{esc(hint)}</i>" if hint else "")
    message = t.update.message
    return await t.context.bot.send_message(
        t.chat_id,
        clip(body),
        reply_markup=ForceReply(selective=True, input_field_placeholder=placeholder),
        reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True)
        if message
        else None,
    )


def parse_callback(data: str | None) -> list[str]:
    return (data or "").split(":")


def int_arg(parts: list[str], index: int, default: int = 0) -> int:
    try:
        return int(parts[index])
    except (IndexError, ValueError):
        return default


def command_args(context: Context) -> list[str]:
    return list(context.args or [])
