"""State of the Bot API emulator: users, chats, messages, pending updates, flood control, errors.

The HTTP server and the test-facing API live in :mod:`bot.sandbox.botapi`; the Bot API methods in
:mod:`bot.sandbox.botapi_methods`. Everything here runs on one event loop (no locking).
"""

from __future__ import annotations

import asyncio
import copy
import math
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

__all__ = ["ANONYMOUS_ADMIN", "ApiError", "BotApiState", "FloodControl", "GroupState", "Upload", "bad"]

ANONYMOUS_ADMIN: dict[str, Any] = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
# Update types Telegram delivers when allowed_updates is empty / never set.
DEFAULT_EXCLUDED_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
BOT_ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_pin_messages": True,
}


class ApiError(Exception):
    """A Bot API error answer: HTTP status == error_code, like Telegram."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad(description: str, parameters: dict | None = None) -> ApiError:
    return ApiError(400, f"Bad Request: {description}", parameters)


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str
    content: bytes
    content_type: str | None = None


@dataclass
class GroupState:
    admins: set[int]
    members: set[int]
    creator: int | None
    privacy_mode: bool = True
    bot_status: str = "member"  # member | administrator | left | kicked
    migrated_to: int | None = None


class FloodControl:
    """Telegram's (documented, approximate) sending limits; windows are divided by ``time_scale``.

    - about 30 messages per second overall;
    - 1 message per second per private chat, with a small burst;
    - 20 messages per minute per group.
    """

    def __init__(self, time_scale: float = 1.0, *, overall: int = 30, per_group: int = 20, burst: int = 3):
        self.scale = time_scale
        self.overall, self.per_group, self.burst = overall, per_group, burst
        self._all: deque[float] = deque()
        self._groups: dict[int, deque[float]] = {}
        self._buckets: dict[int, tuple[float, float]] = {}  # chat -> (tokens, at)

    def check(self, chat_id: int, is_group: bool, now: float | None = None) -> float | None:
        """Record a send and return None, or return how many seconds to wait (nothing recorded)."""
        now = time.monotonic() if now is None else now
        second, minute = 1.0 / self.scale, 60.0 / self.scale
        while self._all and now - self._all[0] >= second:
            self._all.popleft()
        waits = []
        if len(self._all) >= self.overall:
            waits.append(second - (now - self._all[-self.overall]))
        if is_group:
            window = self._groups.setdefault(chat_id, deque())
            while window and now - window[0] >= minute:
                window.popleft()
            if len(window) >= self.per_group:
                waits.append(minute - (now - window[-self.per_group]))
        else:
            tokens, at = self._buckets.get(chat_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.scale)
            if tokens < 1.0:
                waits.append((1.0 - tokens) / self.scale)
        if waits:
            return max(waits)
        self._all.append(now)
        if is_group:
            self._groups[chat_id].append(now)
        else:
            self._buckets[chat_id] = (tokens - 1.0, now)
        return None


class BotApiState:
    """Chats, users, messages and updates of one bot, shaped like Telegram's objects."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",  # noqa: S107
        *,
        bot_username: str = "smm_test_bot",
        bot_name: str = "SMM Test Bot",
        enforce_limits: bool = False,
        time_scale: float = 1.0,
    ):
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.enforce_limits = enforce_limits
        self.time_scale = time_scale
        self.flood = FloodControl(time_scale)
        self.stats: Counter[str] = Counter()
        self.users: dict[int, dict] = {}
        self.chats: dict[int, dict] = {}  # Telegram Chat objects
        self.groups: dict[int, GroupState] = {}
        self.blocked: set[int] = set()  # private chats whose user blocked the bot
        self.messages: dict[int, dict[int, dict]] = {}
        self.deleted: set[tuple[int, int]] = set()
        # (chat, message) -> {"reply_markup": any kind, raw, "source": text as sent, "parse_mode": ...}
        self.extras: dict[tuple[int, int], dict] = {}
        self._next_message_id: dict[int, int] = {}
        self.pending_updates: list[dict] = []
        self.delivered_updates: list[dict] = []  # every update handed out (polling or webhook), in order
        self._next_update_id = 10_000
        self.allowed_updates: list[str] | None = None
        self.webhook: dict[str, Any] = {"url": ""}
        self.requests: list[tuple[str, dict]] = []
        self.responses: list[dict | None] = []  # the JSON answer of each request, same index
        self.polls: list[dict] = []  # getUpdates parameters (kept out of `requests`)
        self.callback_queries: dict[str, dict] = {}
        self.callback_answers: list[dict] = []
        self.inline_queries: dict[str, dict] = {}
        self.inline_answers: list[dict] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.commands: dict[tuple, list[dict]] = {}
        self.menu_buttons: dict[int | None, dict] = {}
        self.bot_texts: dict[tuple[str, str], str] = {}  # (name|description|short_description, lang) -> text
        self.pinned: dict[int, list[int]] = {}
        self.files: dict[str, dict] = {}
        self._counter = 0
        self._faults: list[dict] = []  # see fail_next
        self._wake: asyncio.Event | None = None

    # --- ids, users, chats ---
    def _next(self) -> int:
        self._counter += 1
        return self._counter

    @property
    def bot_user(self) -> dict:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_name, "username": self.bot_username}

    def _user(self, user_id: int) -> dict:
        if user_id == self.bot_id:
            return self.bot_user
        if user_id not in self.users:
            self.users[user_id] = {
                "id": user_id,
                "is_bot": False,
                "first_name": f"User{user_id}",
                "language_code": "en",
            }
        return copy.deepcopy(self.users[user_id])

    def chat(self, chat_id: int) -> dict:
        return copy.deepcopy(self.chats[chat_id])

    def is_group(self, chat_id: int) -> bool:
        return chat_id in self.groups

    def resolve_chat_id(self, value: Any, *, known: bool = True) -> int:
        """The chat id of a ``chat_id`` parameter (int, numeric string or @username)."""
        if isinstance(value, bool) or value is None or value == "":
            raise bad("chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            for chat_id, chat in self.chats.items():
                if chat.get("username", "").lower() == value[1:].lower():
                    return chat_id
            raise bad("chat not found")
        try:
            chat_id = int(value)
        except (TypeError, ValueError):
            raise bad("chat not found") from None
        if known and chat_id not in self.chats:
            if chat_id in self.users:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise bad("chat not found")
        return chat_id

    def check_chat_access(self, chat_id: int) -> None:
        """Raise what Telegram answers when the bot may not act in this chat (migrated, blocked, left)."""
        group = self.groups.get(chat_id)
        if group is None:
            if chat_id in self.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            return
        if group.migrated_to is not None:
            raise bad(
                "group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": group.migrated_to}
            )
        kind = self.chats[chat_id]["type"]
        kind = "supergroup chat" if kind == "supergroup" else "group chat"
        if group.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind}")
        if group.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind}")

    def member_status(self, chat_id: int, user_id: int) -> str:
        group = self.groups.get(chat_id)
        if group is None:
            return "member" if user_id in (chat_id, self.bot_id) else "left"
        if user_id == self.bot_id:
            return group.bot_status
        if user_id == group.creator:
            return "creator"
        if user_id in group.admins:
            return "administrator"
        return "member" if user_id in group.members else "left"

    def chat_member(self, chat_id: int, user_id: int) -> dict:
        status = self.member_status(chat_id, user_id)
        member: dict[str, Any] = {"status": status, "user": self._user(user_id)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(BOT_ADMIN_RIGHTS)
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def bot_is_admin(self, chat_id: int) -> bool:
        group = self.groups.get(chat_id)
        return group is not None and group.bot_status == "administrator"

    # --- messages ---
    def new_message(self, chat_id: int, sender: dict | None, **fields: Any) -> dict:
        message_id = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = message_id
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat(chat_id),
        }
        if sender is not None:
            message["from"] = copy.deepcopy(sender)
        message.update({k: v for k, v in fields.items() if v is not None})
        self.messages.setdefault(chat_id, {})[message_id] = message
        return copy.deepcopy(message)

    def find_message(self, chat_id: int, message_id: Any) -> dict | None:
        try:
            return self.messages.get(chat_id, {}).get(int(message_id))
        except (TypeError, ValueError):
            return None

    @staticmethod
    def quoted(message: dict) -> dict:
        """A message as it appears in ``reply_to_message`` (no nested reply)."""
        quoted = copy.deepcopy(message)
        quoted.pop("reply_to_message", None)
        return quoted

    # --- updates ---
    def push_update(self, kind: str, payload: dict) -> dict:
        self._next_update_id += 1
        update = {"update_id": self._next_update_id, kind: copy.deepcopy(payload)}
        self.pending_updates.append(update)
        self.stats["updates"] += 1
        self.notify()
        return update

    def notify(self) -> None:
        """Wake long polls and the webhook sender."""
        if self._wake is not None:
            self._wake.set()
        self._wake = asyncio.Event()

    def wake_event(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    def update_allowed(self, update: dict, allowed: list[str] | None) -> bool:
        kind = next(k for k in update if k != "update_id")
        return kind in allowed if allowed else kind not in DEFAULT_EXCLUDED_UPDATES

    def confirm_updates(self, offset: int) -> None:
        if offset > 0:
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        elif offset < 0:
            self.pending_updates = self.pending_updates[offset:]

    def deliverable(self, limit: int, allowed: list[str] | None) -> list[dict]:
        """The next updates to hand out; those of types not allowed are dropped, as Telegram does."""
        kept = [u for u in self.pending_updates if self.update_allowed(u, allowed)]
        self.stats["updates_dropped"] += len(self.pending_updates) - len(kept)
        self.pending_updates = kept
        return copy.deepcopy(kept[:limit])

    # --- limits ---
    def check_flood(self, chat_id: int) -> None:
        if not self.enforce_limits:
            return
        wait = self.flood.check(chat_id, self.is_group(chat_id))
        if wait is not None:
            self.stats["rate_limited"] += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
