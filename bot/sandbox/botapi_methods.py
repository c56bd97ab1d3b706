"""Bot API methods of the emulator about messages. ``api_<Method>`` takes the parameters, returns the result.

Errors are raised as :class:`ApiError` with Telegram's codes and descriptions.
"""

from __future__ import annotations

import copy
import json
import mimetypes
import time
from typing import Any

from bot.sandbox.botapi_state import BotApiState, Upload, bad
from bot.sandbox.botapi_text import EntityParseError, format_text

__all__ = ["BotApiMethods"]

BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "login_url",
    "web_app",
    "pay",
    "callback_game",
    "copy_text",
)
CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
CALLBACK_QUERY_TTL = 15.0


def json_param(value: Any, what: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad(f"can't parse {what} JSON object") from None
    return value


class BotApiMethods(BotApiState):
    # --- shared checks ---
    def _target(self, p: dict) -> int:
        chat_id = self.resolve_chat_id(p.get("chat_id"))
        self.check_chat_access(chat_id)
        return chat_id

    @staticmethod
    def _formatted(text: Any, parse_mode: Any, entities: Any, what: str = "text") -> tuple[str, list[dict]]:
        entities = json_param(entities, "entities") if entities else None
        try:
            return format_text(str(text), parse_mode, entities)
        except EntityParseError as exc:
            raise bad(f"can't parse entities: {exc}") from None

    def _message_text(self, p: dict) -> tuple[str, list[dict]]:
        if p.get("text") is None or str(p.get("text")) == "":
            raise bad("message text is empty")
        text, entities = self._formatted(p["text"], p.get("parse_mode"), p.get("entities"))
        if not text.strip():
            raise bad("message text is empty")
        if len(text) > 4096:
            raise bad("message is too long")
        return text, entities

    def _caption(self, p: dict) -> tuple[str | None, list[dict]]:
        if not p.get("caption"):
            return None, []
        caption, entities = self._formatted(p["caption"], p.get("parse_mode"), p.get("caption_entities"))
        if len(caption) > 1024:
            raise bad("message caption is too long")
        return caption, entities

    def _markup(self, raw: Any) -> tuple[dict | None, dict | None]:
        """Validate ``reply_markup``; return (inline markup for the message or None, raw markup or None)."""
        if raw is None or raw == "":
            return None, None
        markup = json_param(raw, "reply keyboard markup")
        if not isinstance(markup, dict):
            raise bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
            for row in rows:
                for button in row:
                    self._check_button(button)
            return copy.deepcopy(markup), copy.deepcopy(markup)
        if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
            raise bad("can't parse reply keyboard markup JSON object")
        if "keyboard" in markup and not isinstance(markup["keyboard"], list):
            raise bad('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
        return None, copy.deepcopy(markup)

    @staticmethod
    def _check_button(button: Any) -> None:
        if not isinstance(button, dict):
            raise bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
        if not isinstance(button.get("text"), str):
            raise bad('can\'t parse inline keyboard button: Field "text" must be of type String')
        if not button["text"].strip():
            raise bad("BUTTON_TEXT_INVALID")
        actions = [a for a in BUTTON_ACTIONS if a in button]
        if not actions:
            raise bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                raise bad("BUTTON_DATA_INVALID")
        if "url" in button:
            url = button["url"]
            if not isinstance(url, str) or not url or any(c.isspace() for c in url):
                raise bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")

    def _reply(self, chat_id: int, p: dict) -> dict | None:
        params = json_param(p.get("reply_parameters"), "reply parameters") or {}
        message_id = params.get("message_id") or p.get("reply_to_message_id")
        if not message_id:
            return None
        allow = params.get("allow_sending_without_reply", p.get("allow_sending_without_reply"))
        reply_chat = self.resolve_chat_id(params["chat_id"]) if params.get("chat_id") else chat_id
        message = self.find_message(reply_chat, message_id)
        if message is None:
            if allow:
                return None
            raise bad("message to be replied not found")
        return self.quoted(message)

    def _send(
        self, chat_id: int, p: dict, inline: dict | None, raw_markup: dict | None, **fields: Any
    ) -> dict:
        self.check_flood(chat_id)
        message = self.new_message(
            chat_id, self.bot_user, reply_to_message=self._reply(chat_id, p), reply_markup=inline, **fields
        )
        self.extras[(chat_id, message["message_id"])] = {
            "reply_markup": raw_markup,
            "source": p.get("text", p.get("caption")),
            "parse_mode": p.get("parse_mode"),
        }
        self.stats["sent"] += 1
        return message

    def _editable(self, p: dict) -> tuple[int, dict]:
        if p.get("inline_message_id"):
            raise bad("MESSAGE_ID_INVALID")
        chat_id = self._target(p)
        message = self.find_message(chat_id, p.get("message_id"))
        if message is None:
            raise bad("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise bad("message can't be edited")
        return chat_id, message

    def _apply_edit(
        self, chat_id: int, message: dict, changes: dict, raw_markup: dict | None, p: dict
    ) -> dict:
        if all(message.get(k) == v for k, v in changes.items()):
            raise bad(NOT_MODIFIED)
        for key, value in changes.items():
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        message["edit_date"] = int(time.time())
        extras = self.extras.setdefault((chat_id, message["message_id"]), {})
        extras["reply_markup"] = raw_markup
        if "text" in p or "caption" in p:
            extras.update(source=p.get("text", p.get("caption")), parse_mode=p.get("parse_mode"))
        self.stats["edited"] += 1
        return copy.deepcopy(message)

    # --- bot ---
    def api_getMe(self, p: dict) -> dict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def api_logOut(self, p: dict) -> bool:
        return True

    def api_close(self, p: dict) -> bool:
        return True

    # --- messages ---
    def api_sendMessage(self, p: dict) -> dict:
        chat_id = self._target(p)
        text, entities = self._message_text(p)
        inline, raw = self._markup(p.get("reply_markup"))
        return self._send(chat_id, p, inline, raw, text=text, entities=entities or None)

    def api_sendDocument(self, p: dict) -> dict:
        chat_id = self._target(p)
        document = p.get("document")
        if isinstance(document, Upload):
            if not document.content:
                raise bad("file must be non-empty")
            file = self.store_file(document.filename, document.content, document.content_type)
        elif isinstance(document, str) and document in self.files:
            file = self.files[document]
        elif isinstance(document, str) and document.startswith(("http://", "https://")):
            file = self.store_file(document.rsplit("/", 1)[-1] or "file", b"", None)
        else:
            raise bad(
                "wrong file identifier/HTTP URL specified"
                if document
                else "there is no document in the request"
            )
        caption, entities = self._caption(p)
        inline, raw = self._markup(p.get("reply_markup"))
        return self._send(
            chat_id,
            p,
            inline,
            raw,
            document=self.file_object(file),
            caption=caption,
            caption_entities=entities or None,
        )

    def store_file(self, filename: str, content: bytes, mime_type: str | None) -> dict:
        n = self._next()
        ext = ("." + filename.rsplit(".", 1)[-1]) if "." in filename else ""
        file: dict[str, Any] = {
            "file_id": f"BQACAgIAAx{n:08d}",
            "file_unique_id": f"AgAD{n:06d}",
            "file_name": filename,
            "mime_type": mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream",
            "file_size": len(content),
            "file_path": f"documents/file_{n}{ext}",
            "content": content,
        }
        self.files[file["file_id"]] = file
        return file

    @staticmethod
    def file_object(file: dict) -> dict:
        keys = ("file_id", "file_unique_id", "file_name", "mime_type", "file_size")
        return {k: file[k] for k in keys}

    def api_getFile(self, p: dict) -> dict:
        file = self.files.get(str(p.get("file_id", "")))
        if file is None:
            raise bad("invalid file_id")
        return {k: file[k] for k in ("file_id", "file_unique_id", "file_size", "file_path")}

    def api_editMessageText(self, p: dict) -> dict:
        chat_id, message = self._editable(p)
        if "text" not in message:
            raise bad("there is no text in the message to edit")
        text, entities = self._message_text(p)
        inline, raw = self._markup(p.get("reply_markup"))
        if raw is not None and inline is None:
            raise bad("inline keyboard expected")
        changes = {"text": text, "entities": entities or None, "reply_markup": inline}
        return self._apply_edit(chat_id, message, changes, raw, p)

    def api_editMessageCaption(self, p: dict) -> dict:
        chat_id, message = self._editable(p)
        if "text" in message:
            raise bad("there is no caption in the message to edit")
        caption, entities = self._caption(p)
        inline, raw = self._markup(p.get("reply_markup"))
        changes = {"caption": caption, "caption_entities": entities or None, "reply_markup": inline}
        return self._apply_edit(chat_id, message, changes, raw, p)

    def api_editMessageReplyMarkup(self, p: dict) -> dict:
        chat_id, message = self._editable(p)
        inline, raw = self._markup(p.get("reply_markup"))
        if raw is not None and inline is None:
            raise bad("inline keyboard expected")
        return self._apply_edit(chat_id, message, {"reply_markup": inline}, raw, p)

    def _delete(self, chat_id: int, message_id: Any) -> bool:
        message = self.find_message(chat_id, message_id)
        if message is None:
            return False
        own = message.get("from", {}).get("id") == self.bot_id
        if self.is_group(chat_id) and not own and not self.bot_is_admin(chat_id):
            raise bad("message can't be deleted")
        del self.messages[chat_id][message["message_id"]]
        self.deleted.add((chat_id, message["message_id"]))
        self.stats["deleted"] += 1
        return True

    def api_deleteMessage(self, p: dict) -> bool:
        chat_id = self._target(p)
        if not self._delete(chat_id, p.get("message_id")):
            raise bad("message to delete not found")
        return True

    def api_deleteMessages(self, p: dict) -> bool:
        chat_id = self._target(p)
        ids = json_param(p.get("message_ids"), "message_ids") or []
        deleted = [self._delete(chat_id, message_id) for message_id in ids]
        if not any(deleted):
            raise bad("message to delete not found")
        return True

    def api_pinChatMessage(self, p: dict) -> bool:
        chat_id = self._target(p)
        if self.find_message(chat_id, p.get("message_id")) is None:
            raise bad("message to pin not found")
        self.pinned.setdefault(chat_id, []).append(int(p["message_id"]))
        return True

    def api_unpinChatMessage(self, p: dict) -> bool:
        pinned = self.pinned.get(self._target(p), [])
        message_id = p.get("message_id")
        if message_id in pinned:
            pinned.remove(message_id)
        elif pinned and message_id is None:
            pinned.pop()
        return True

    def api_sendChatAction(self, p: dict) -> bool:
        chat_id = self._target(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise bad("wrong parameter action in request")
        self.chat_actions.append((chat_id, p["action"]))
        return True

    # --- queries ---
    def api_answerCallbackQuery(self, p: dict) -> bool:
        entry = self.callback_queries.get(str(p.get("callback_query_id", "")))
        if entry is None or entry["answered"] or time.monotonic() - entry["at"] > CALLBACK_QUERY_TTL:
            raise bad(_QUERY_INVALID)
        if p.get("text") and len(str(p["text"])) > 200:
            raise bad("MESSAGE_TOO_LONG")
        entry["answered"] = True
        query = entry["query"]
        answer = {k: p[k] for k in ("callback_query_id", "text", "show_alert", "url", "cache_time") if k in p}
        answer.update(data=query.get("data"), user_id=query["from"]["id"])
        self.callback_answers.append(answer)
        return True

    def api_answerInlineQuery(self, p: dict) -> bool:
        query = self.inline_queries.get(str(p.get("inline_query_id", "")))
        if query is None or query.get("answered"):
            raise bad(_QUERY_INVALID)
        results = json_param(p.get("results"), "results") or []
        ids = [r.get("id") for r in results]
        if len(ids) != len(set(ids)):
            raise bad("RESULT_ID_DUPLICATE")
        if len(results) > 50:
            raise bad("RESULTS_TOO_MUCH")
        query["answered"] = True
        self.inline_answers.append({**p, "results": results, "query": query["query"]})
        return True
