"""python-telegram-bot persistence over our own database, so a conversation survives a restart.

Only user_data, chat_data and conversation states are kept (bot_data holds live objects, and callback data
is plain strings). Everything stored must be JSON: handlers keep ints, strings and lists there, and
Decimals as strings.
"""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

from storage import repo


def _conv_key(name: str, key: ConversationKey) -> str:
    return name + "|" + json.dumps(list(key))


class DatabasePersistence(BasePersistence[dict[str, Any], dict[str, Any], dict[str, Any]]):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], update_interval: float = 1.0) -> None:
        super().__init__(
            store_data=PersistenceInput(bot_data=False, chat_data=True, user_data=True, callback_data=False),
            update_interval=update_interval,
        )
        self._sessions = sessions
        # What was last read or written per (kind, key), as JSON text: python-telegram-bot hands over every
        # user's and chat's data after each update whether it changed or not, and most did not.
        self._stored: dict[tuple[str, str], str] = {}

    async def _load(self, kind: str) -> dict[str, Any]:
        async with self._sessions() as session:
            rows = await repo.state.load_state(session, kind)
        for key, data in rows.items():
            self._stored[(kind, key)] = json.dumps(data, sort_keys=True, default=str)
        return rows

    async def _save(self, kind: str, key: str, data: Any) -> None:
        text = json.dumps(data, sort_keys=True, default=str)
        if self._stored.get((kind, key)) == text:
            return
        async with self._sessions() as session:
            await repo.state.save_state(session, kind, key, data)
            await session.commit()
        self._stored[(kind, key)] = text

    async def _delete(self, kind: str, key: str) -> None:
        if self._stored.pop((kind, key), None) is None and kind != "conversations":
            return
        async with self._sessions() as session:
            await repo.state.delete_state(session, kind, key)
            await session.commit()

    # -- user and chat data ------------------------------------------------------------------------------
    async def get_user_data(self) -> dict[int, dict[str, Any]]:
        return {int(k): v for k, v in (await self._load("user_data")).items()}

    async def get_chat_data(self) -> dict[int, dict[str, Any]]:
        return {int(k): v for k, v in (await self._load("chat_data")).items()}

    async def update_user_data(self, user_id: int, data: dict[str, Any]) -> None:
        await self._save("user_data", str(user_id), deepcopy(data))

    async def update_chat_data(self, chat_id: int, data: dict[str, Any]) -> None:
        await self._save("chat_data", str(chat_id), deepcopy(data))

    async def drop_user_data(self, user_id: int) -> None:
        await self._delete("user_data", str(user_id))

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._delete("chat_data", str(chat_id))

    async def refresh_user_data(self, user_id: int, user_data: dict[str, Any]) -> None:
        """The in-memory copy is the live one; nothing to refresh from the database."""

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[str, Any]) -> None:
        """The in-memory copy is the live one; nothing to refresh from the database."""

    # -- conversations -------------------------------------------------------------------------------------
    async def get_conversations(self, name: str) -> ConversationDict:
        rows = await self._load("conversations")
        prefix = name + "|"
        return {tuple(json.loads(k[len(prefix) :])): v for k, v in rows.items() if k.startswith(prefix)}

    async def update_conversation(self, name: str, key: ConversationKey, new_state: object | None) -> None:
        if new_state is None:
            await self._delete("conversations", _conv_key(name, key))
        else:
            await self._save("conversations", _conv_key(name, key), new_state)

    # -- not kept ----------------------------------------------------------------------------------------
    async def get_bot_data(self) -> dict[str, Any]:
        return {}

    async def update_bot_data(self, data: dict[str, Any]) -> None:
        """bot_data holds live objects (the dependencies), never stored."""

    async def refresh_bot_data(self, bot_data: dict[str, Any]) -> None:
        """bot_data is not stored."""

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        """Callback data is plain strings; nothing to store."""

    async def flush(self) -> None:
        """Every update is written when it is made."""
