"""People, chats and the updates they produce (the "user side" of the Bot API emulator), and faults.

All of these run synchronously on the emulator's event loop thread and return Telegram-shaped dicts.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from bot.sandbox.botapi_chats import BotApiChats
from bot.sandbox.botapi_state import ANONYMOUS_ADMIN, ApiError, GroupState, bad
from bot.sandbox.botapi_text import detect_entities, entity_text

__all__ = ["FAULTS", "BotApiUpdates"]

FAULTS = {
    "429": None,
    "403": (403, "Forbidden: bot was blocked by the user"),
    "500": (500, "Internal Server Error"),
    "502": (502, "Bad Gateway"),
    "400": (400, "Bad Request: something went wrong"),
    "migrate": None,
}


class BotApiUpdates(BotApiChats):
    # --- people and chats ---
    def add_user(
        self,
        user_id: int,
        first_name: str = "User",
        *,
        username: str | None = None,
        language_code: str | None = "en",
        last_name: str | None = None,
    ) -> dict:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        return copy.deepcopy(user)

    def add_private_chat(self, user_id: int) -> int:
        user = self._user(user_id)
        chat = {"id": user_id, "type": "private", "first_name": user["first_name"]}
        chat.update({k: user[k] for k in ("last_name", "username") if k in user})
        self.chats[user_id] = chat
        return user_id

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        admins: list[int],
        members: list[int] = (),  # type: ignore[assignment]
        supergroup: bool = False,
        privacy_mode: bool = True,
        bot_status: str = "member",
        username: str | None = None,
    ) -> int:
        """A group (basic or super) with these admins (the first is the creator) and members, and the bot."""
        for user_id in [*admins, *members]:
            self._user(user_id)
        chat: dict[str, Any] = {
            "id": chat_id,
            "type": "supergroup" if supergroup else "group",
            "title": title,
        }
        if username:
            chat["username"] = username
        self.chats[chat_id] = chat
        self.groups[chat_id] = GroupState(
            admins=set(admins),
            members=set(admins) | set(members),
            creator=admins[0] if admins else None,
            privacy_mode=privacy_mode,
            bot_status=bot_status,
        )
        return chat_id

    def set_admin(self, chat_id: int, user_id: int, is_admin: bool) -> None:
        """Promote or demote a user (or the bot itself, which then gets a my_chat_member update)."""
        group = self.groups[chat_id]
        creator = self._user(group.creator) if group.creator else self.bot_user
        if user_id == self.bot_id:
            self.set_bot_status(chat_id, "administrator" if is_admin else "member", by=creator)
            return
        old = self.chat_member(chat_id, user_id)
        group.members.add(user_id)
        (group.admins.add if is_admin else group.admins.discard)(user_id)
        change = {
            "chat": self.chat(chat_id),
            "from": creator,
            "date": int(time.time()),
            "old_chat_member": old,
        }
        change["new_chat_member"] = self.chat_member(chat_id, user_id)
        self.push_update("chat_member", change)

    def block_bot(self, chat_id: int) -> None:
        """The user of this private chat blocks the bot: sends answer 403; a my_chat_member update arrives."""
        self.set_bot_status(chat_id, "kicked", by=self._user(chat_id))

    def unblock_bot(self, chat_id: int) -> None:
        self.set_bot_status(chat_id, "member", by=self._user(chat_id))

    def add_bot_to_group(self, chat_id: int, by_user_id: int) -> dict:
        """The bot joins: a my_chat_member update, then the new_chat_members service message (returned)."""
        by = self._user(by_user_id)
        self.set_bot_status(chat_id, "member", by=by)
        message = self.new_message(chat_id, by, new_chat_members=[self.bot_user])
        self.push_update("message", message)
        return message

    def remove_bot_from_group(self, chat_id: int, by_user_id: int) -> dict:
        return self.set_bot_status(chat_id, "kicked", by=self._user(by_user_id))

    def migrate_group(self, chat_id: int) -> int:
        """The group becomes a supergroup with a new id; sends to the old id answer 400 migrate_to_chat_id."""
        group = self.groups[chat_id]
        if group.migrated_to is not None:
            return group.migrated_to
        new_id = int(f"-100{abs(chat_id):010d}")
        while new_id in self.chats:
            new_id -= 1
        self.chats[new_id] = {**self.chats[chat_id], "id": new_id, "type": "supergroup"}
        self.groups[new_id] = copy.deepcopy(group)
        creator = self._user(group.creator) if group.creator else self.bot_user
        bot_in = group.bot_status in ("member", "administrator")
        old_note = self.new_message(chat_id, creator, migrate_to_chat_id=new_id)
        group.migrated_to = new_id
        new_note = self.new_message(new_id, creator, migrate_from_chat_id=chat_id)
        if bot_in:
            self.push_update("message", old_note)
            self.push_update("message", new_note)
        return new_id

    # --- messages from people ---
    def _author(self, chat_id: int, user_id: int, anonymous_admin: bool) -> dict[str, Any]:
        """Check the chat can take a message from this user; return the message's sender fields."""
        if chat_id == user_id or (chat_id in self.chats and self.chats[chat_id]["type"] == "private"):
            if chat_id not in self.chats:
                self.add_private_chat(user_id)
            return {"from": self._user(user_id)}
        if chat_id not in self.groups:
            raise KeyError(f"no chat {chat_id}: add_group() or add_private_chat() first")
        group = self.groups[chat_id]
        if group.migrated_to is not None:
            raise ValueError(f"group {chat_id} was migrated to {group.migrated_to}")
        if anonymous_admin:
            return {"from": dict(ANONYMOUS_ADMIN), "sender_chat": self.chat(chat_id)}
        self._user(user_id)
        group.members.add(user_id)
        return {"from": self._user(user_id)}

    def _reaches_bot(self, chat_id: int, message: dict) -> bool:
        """Group privacy mode: only commands, replies to the bot and mentions of the bot reach it."""
        group = self.groups.get(chat_id)
        if group is None:
            return True
        if group.bot_status not in ("member", "administrator"):
            return False
        if not group.privacy_mode or group.bot_status == "administrator":
            return True
        reply = message.get("reply_to_message")
        if reply and reply.get("from", {}).get("id") == self.bot_id:
            return True
        text = message.get("text") or message.get("caption") or ""
        me = self.bot_username.lower()
        for entity in message.get("entities") or message.get("caption_entities") or []:
            value = entity_text(text, entity).lower()
            if entity["type"] == "bot_command" and ("@" not in value or value.endswith("@" + me)):
                return True
            if entity["type"] == "mention" and value == "@" + me:
                return True
        return False

    def _user_message(
        self, chat_id: int, user_id: int, reply_to: int | None, anonymous_admin: bool, **fields: Any
    ) -> dict | None:
        sender = self._author(chat_id, user_id, anonymous_admin)
        if reply_to is not None:
            replied = self.find_message(chat_id, reply_to)
            if replied is None:
                raise KeyError(f"no message {reply_to} in chat {chat_id} to reply to")
            fields["reply_to_message"] = self.quoted(replied)
        message = self.new_message(chat_id, sender.pop("from"), **sender, **fields)
        if chat_id in self.blocked:
            self.unblock_bot(chat_id)
        if not self._reaches_bot(chat_id, message):
            self.stats["updates_hidden_by_privacy"] += 1
            return None
        self.push_update("message", message)
        return message

    def send_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        anonymous_admin: bool = False,
    ) -> dict | None:
        """A user writes ``text``; returns the message, or None when group privacy keeps it from the bot."""
        entities = detect_entities(text) or None
        return self._user_message(chat_id, user_id, reply_to, anonymous_admin, text=text, entities=entities)

    def send_document(
        self,
        chat_id: int,
        user_id: int,
        filename: str,
        content: bytes,
        caption: str | None = None,
        *,
        mime_type: str | None = None,
        reply_to: int | None = None,
    ) -> dict | None:
        """A user sends a file (the bot can getFile and download it); None if privacy hides it."""
        document = self.file_object(self.store_file(filename, content, mime_type))
        entities = detect_entities(caption) if caption else None
        return self._user_message(
            chat_id,
            user_id,
            reply_to,
            False,
            document=document,
            caption=caption,
            caption_entities=entities or None,
        )

    def press_button(
        self, chat_id: int, message_id: int, callback_data: str, user_id: int, *, force: bool = False
    ) -> dict:
        """A user presses an inline button; LookupError if the message has no such button (unless force)."""
        message = self.find_message(chat_id, message_id)
        if not force:
            if message is None:
                gone = " (it was deleted)" if (chat_id, message_id) in self.deleted else ""
                raise LookupError(f"no message {message_id} in chat {chat_id}{gone}")
            data = [b.get("callback_data") for row in self._keyboard(message) for b in row]
            if callback_data not in data:
                raise LookupError(
                    f"message {message_id} in chat {chat_id} has no button with data {callback_data!r}; "
                    f"buttons: {self.buttons(message)}"
                )
        shown = (
            copy.deepcopy(message)
            if message
            else {"message_id": message_id, "chat": self.chat(chat_id), "date": 0}
        )
        query: dict[str, Any] = {
            "id": str(4_000_000_000_000 + self._next()),
            "from": self._user(user_id),
            "message": shown,
            "chat_instance": str(abs(chat_id) * 31 + 7),
            "data": callback_data,
        }
        self.callback_queries[query["id"]] = {"query": query, "answered": False, "at": time.monotonic()}
        self.push_update("callback_query", query)
        return query

    def click(self, chat_id: int, message_id: int, label: str, user_id: int) -> dict:
        """Press the button whose text contains ``label`` (case-insensitive)."""
        message = self.find_message(chat_id, message_id)
        if message is None:
            raise LookupError(f"no message {message_id} in chat {chat_id}")
        for row in self._keyboard(message):
            for button in row:
                if label.lower() in button["text"].lower() and "callback_data" in button:
                    return self.press_button(chat_id, message_id, button["callback_data"], user_id)
        raise LookupError(f"no button labelled {label!r}; buttons: {self.buttons(message)}")

    def send_inline_query(
        self, user_id: int, query: str, *, offset: str = "", chat_type: str = "private"
    ) -> dict:
        inline: dict[str, Any] = {
            "id": str(5_000_000_000_000 + self._next()),
            "from": self._user(user_id),
            "query": query,
            "offset": offset,
            "chat_type": chat_type,
        }
        self.inline_queries[inline["id"]] = {"query": inline, "answered": False}
        self.push_update("inline_query", inline)
        return inline

    def send_raw_update(self, update: dict) -> None:
        """Queue an update as given; an update_id is assigned when missing (ids keep increasing)."""
        update = copy.deepcopy(update)
        if "update_id" in update:
            self._next_update_id = max(self._next_update_id, int(update["update_id"]))
        else:
            self._next_update_id += 1
            update["update_id"] = self._next_update_id
        self.pending_updates.append(update)
        self.notify()

    # --- faults ---
    def fail_next(
        self,
        method: str,
        kind: str,
        *,
        times: int = 1,
        retry_after: int = 1,
        chat_id: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (to ``chat_id`` if given) fail like Telegram does.

        kind: "429" (with retry_after), "403" (blocked by the user), "500", "502", "400",
        "migrate" (group upgraded to a supergroup).
        """
        if kind not in FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULTS)}")
        fault = {"method": method.lower(), "kind": kind, "times": times, "retry_after": retry_after}
        fault.update(chat_id=chat_id, description=description)
        self._faults.append(fault)

    def clear_faults(self) -> None:
        """Telegram is well again: forget the faults still to come (an outage of N calls ends now)."""
        self._faults.clear()

    def _inject_fault(self, method: str, params: dict) -> None:
        for fault in self._faults:
            if fault["method"] != method.lower():
                continue
            if fault["chat_id"] is not None and str(params.get("chat_id")) != str(fault["chat_id"]):
                continue
            fault["times"] -= 1
            if fault["times"] <= 0:
                self._faults.remove(fault)
            self.stats["faults"] += 1
            kind = fault["kind"]
            if kind == "429":
                seconds = fault["retry_after"]
                raise ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})
            if kind == "migrate":
                raise bad(
                    "group chat was upgraded to a supergroup chat",
                    {"migrate_to_chat_id": self._migrated(params)},
                )
            code, description = FAULTS[kind]  # type: ignore[misc]
            raise ApiError(code, fault["description"] or description)

    def _migrated(self, params: dict) -> int:
        try:
            chat_id = self.resolve_chat_id(params.get("chat_id"), known=False)
        except ApiError:
            chat_id = -1
        if chat_id in self.groups:
            return self.migrate_group(chat_id)
        return int(f"-100{abs(chat_id):010d}")

    # --- reading messages ---
    @staticmethod
    def _keyboard(message: dict) -> list[list[dict]]:
        return (message.get("reply_markup") or {}).get("inline_keyboard") or []

    def buttons(self, message: dict) -> list[tuple[str, str]]:
        """(text, callback_data or url or the button's other action) for every inline button, row by row."""
        found = []
        for row in self._keyboard(message):
            for button in row:
                action = next((k for k in ("callback_data", "url") if k in button), None)
                action = action or next((k for k in button if k != "text"), "")
                value = button.get(action, "")
                found.append((button["text"], value if isinstance(value, str) else action))
        return found
