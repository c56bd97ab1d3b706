"""Bot API methods about chats, members, commands and the bot's settings (see botapi_methods for messages)."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from bot.sandbox.botapi_methods import BotApiMethods, json_param
from bot.sandbox.botapi_state import bad
from bot.sandbox.botapi_text import utf16_len

__all__ = ["BotApiChats"]

_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


class BotApiChats(BotApiMethods):
    # --- chats ---
    def api_getChat(self, p: dict) -> dict:
        chat_id = self.resolve_chat_id(p.get("chat_id"))
        group = self.groups.get(chat_id)
        if group and group.migrated_to is not None:
            self.check_chat_access(chat_id)
        gifts = (
            "unlimited_gifts",
            "limited_gifts",
            "unique_gifts",
            "premium_subscription",
            "gifts_from_channels",
        )
        return {
            **self.chat(chat_id),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(gifts, True),
        }

    def _member_args(self, p: dict) -> tuple[int, int]:
        chat_id = self.resolve_chat_id(p.get("chat_id"))
        if self.is_group(chat_id):
            self.check_chat_access(chat_id)
        try:
            user_id = int(p.get("user_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise bad("invalid user_id specified") from None
        if user_id not in self.users and user_id != self.bot_id:
            raise bad("PARTICIPANT_ID_INVALID")
        return chat_id, user_id

    def api_getChatMember(self, p: dict) -> dict:
        return self.chat_member(*self._member_args(p))

    def api_getChatAdministrators(self, p: dict) -> list[dict]:
        chat_id = self._target(p)
        group = self.groups.get(chat_id)
        if group is None:
            raise bad("there are no administrators in the private chat")
        ids = sorted(group.admins, key=lambda uid: (uid != group.creator, uid))
        if group.bot_status == "administrator":
            ids.append(self.bot_id)
        return [self.chat_member(chat_id, uid) for uid in ids]

    def api_getChatMemberCount(self, p: dict) -> int:
        chat_id = self._target(p)
        group = self.groups.get(chat_id)
        if group is None:
            return 2
        return len(group.members | group.admins) + (group.bot_status in ("member", "administrator"))

    def api_leaveChat(self, p: dict) -> bool:
        chat_id = self._target(p)
        group = self.groups.get(chat_id)
        if group is None:
            raise bad("chat member status can't be changed in private chats")
        self.set_bot_status(chat_id, "left", by=self.bot_user)
        return True

    def set_bot_status(self, chat_id: int, status: str, *, by: dict) -> dict:
        """Change the bot's membership in a group and emit the my_chat_member update."""
        if chat_id in self.groups:
            old = self.chat_member(chat_id, self.bot_id)
            self.groups[chat_id].bot_status = status
            new = self.chat_member(chat_id, self.bot_id)
        else:  # a private chat: the user blocks ("kicked") or unblocks ("member") the bot
            (self.blocked.add if status == "kicked" else self.blocked.discard)(chat_id)
            blocked: dict[str, Any] = {"status": "kicked", "user": self.bot_user, "until_date": 0}
            member: dict[str, Any] = {"status": "member", "user": self.bot_user}
            old, new = (member, blocked) if status == "kicked" else (blocked, member)
        change: dict[str, Any] = {
            "chat": self.chat(chat_id),
            "from": by,
            "date": int(time.time()),
            "old_chat_member": old,
        }
        change["new_chat_member"] = new
        self.push_update("my_chat_member", change)
        return change

    # --- commands and settings ---
    def _scope_key(self, p: dict) -> tuple:
        scope = json_param(p.get("scope"), "scope") or {"type": "default"}
        kind = scope.get("type")
        if kind in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
            key: tuple = (kind,)
        elif kind in ("chat", "chat_administrators", "chat_member"):
            key = (kind, self.resolve_chat_id(scope.get("chat_id")))
            if kind == "chat_member":
                key += (int(scope.get("user_id", 0)),)
        else:
            raise bad("unsupported bot command scope type")
        language = str(p.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise bad("invalid language code specified")
        return (*key, language)

    def api_setMyCommands(self, p: dict) -> bool:
        commands = json_param(p.get("commands"), "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad("commands must be an Array of up to 100 BotCommand")
        for command in commands:
            if not _COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise bad(
                    "command description is empty"
                    if not command.get("description")
                    else "BOT_COMMAND_INVALID"
                )
        key = self._scope_key(p)
        if commands:
            self.commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return True

    def api_getMyCommands(self, p: dict) -> list[dict]:
        return copy.deepcopy(self.commands.get(self._scope_key(p), []))

    def api_deleteMyCommands(self, p: dict) -> bool:
        self.commands.pop(self._scope_key(p), None)
        return True

    def api_setChatMenuButton(self, p: dict) -> bool:
        chat_id = self.resolve_chat_id(p["chat_id"]) if p.get("chat_id") else None
        self.menu_buttons[chat_id] = json_param(p.get("menu_button"), "menu button") or {"type": "default"}
        return True

    def api_getChatMenuButton(self, p: dict) -> dict:
        chat_id = self.resolve_chat_id(p["chat_id"]) if p.get("chat_id") else None
        return copy.deepcopy(
            self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "commands"}
        )

    def _bot_text(self, p: dict, name: str, limit: int, *, get: bool) -> Any:
        language = str(p.get("language_code") or "")
        if get:
            return {name: self.bot_texts.get((name, language)) or self.bot_texts.get((name, ""), "")}
        value = str(p.get(name) or "")
        if utf16_len(value) > limit:
            raise bad(f"{name.upper()}_INVALID")
        self.bot_texts[(name, language)] = value
        return True

    def api_setMyDescription(self, p: dict) -> bool:
        return self._bot_text(p, "description", 512, get=False)

    def api_getMyDescription(self, p: dict) -> dict:
        return self._bot_text(p, "description", 512, get=True)

    def api_setMyShortDescription(self, p: dict) -> bool:
        return self._bot_text(p, "short_description", 120, get=False)

    def api_getMyShortDescription(self, p: dict) -> dict:
        return self._bot_text(p, "short_description", 120, get=True)

    def api_setMyName(self, p: dict) -> bool:
        return self._bot_text(p, "name", 64, get=False)

    def api_getMyName(self, p: dict) -> dict:
        return self._bot_text(p, "name", 64, get=True) or {"name": self.bot_name}

    def effective_commands(
        self, chat_id: int, user_id: int | None = None, language_code: str = ""
    ) -> list[dict]:
        """The command list a user would see in that chat, with Telegram's scope fallback order."""
        group = self.is_group(chat_id)
        admin = (
            group
            and user_id is not None
            and self.member_status(chat_id, user_id) in ("creator", "administrator")
        )
        scopes: list[tuple] = []
        if group:
            if user_id is not None:
                scopes.append(("chat_member", chat_id, user_id))
            if admin:
                scopes.append(("chat_administrators", chat_id))
            scopes.append(("chat", chat_id))
            if admin:
                scopes.append(("all_chat_administrators",))
            scopes.append(("all_group_chats",))
        else:
            scopes += [("chat", chat_id), ("all_private_chats",)]
        scopes.append(("default",))
        for scope in scopes:
            for language in (language_code, ""):
                if (*scope, language) in self.commands:
                    return copy.deepcopy(self.commands[(*scope, language)])
        return []
