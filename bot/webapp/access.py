"""Which chat's accounts a Mini App user may reach.

A private chat's accounts are its user's (chat id == user id). A group's are reachable only by the group's
admins: the page learns the group from the `startapp` link the bot posts there (`start_param` = g<group id>),
and every request asks Telegram (getChatMember) whether the user is an admin; reads may use an answer of the
last minute, writes always ask afresh (a demoted admin is stopped at once).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict

from telegram import Bot, ChatMember
from telegram.error import BadRequest, Forbidden

from bot.webapp.auth import WebAppUser

_GROUP_PARAM = re.compile(r"g(-\d{1,20})")
CACHE_SECONDS = 60.0
CACHE_SIZE = 10_000


class AccessDenied(Exception):
    """The user may not reach that chat; `reason` is a short word (logs and tests)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def group_from_start_param(start_param: str | None) -> int | None:
    match = _GROUP_PARAM.fullmatch(start_param or "")
    return int(match.group(1)) if match else None


def startapp_link(bot_username: str, group_id: int) -> str:
    """The link the bot posts in a group: Telegram opens the app with start_param g<group id>."""
    return f"https://t.me/{bot_username}?startapp=g{group_id}"


class ChatAccess:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._admins: OrderedDict[tuple[int, int], tuple[bool, float]] = OrderedDict()

    async def chat_for(self, user: WebAppUser, requested: int | None, *, write: bool) -> int:
        """The chat id this request acts on: `requested` (or the start_param's group, or the user's own
        private chat) when the user may; AccessDenied otherwise."""
        chat_id = requested
        if chat_id is None:
            chat_id = group_from_start_param(user.start_param) or user.id
        if chat_id == user.id:
            return chat_id
        if chat_id > 0:
            raise AccessDenied("another user's chat")
        if not await self.is_admin(chat_id, user.id, fresh=write):
            raise AccessDenied("not an admin")
        return chat_id

    async def is_admin(self, chat_id: int, user_id: int, *, fresh: bool) -> bool:
        key = (chat_id, user_id)
        cached = self._admins.get(key)
        if cached is not None and not fresh and time.monotonic() - cached[1] < CACHE_SECONDS:
            return cached[0]
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
            admin = member.status in (ChatMember.ADMINISTRATOR, ChatMember.OWNER)
        except (BadRequest, Forbidden):  # not a member, no such chat, or the bot left it
            admin = False
        self._admins[key] = (admin, time.monotonic())
        self._admins.move_to_end(key)
        while len(self._admins) > CACHE_SIZE:
            self._admins.popitem(last=False)
        return admin
