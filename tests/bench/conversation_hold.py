"""Benchmark: CPU of the conversation store's work around one update (bot/conversation.py
ConversationStore.hold: lock on PostgreSQL, load the chat and its conversations, insert a new chat, write
back), for a chat seen for the first time and for a known one. Updates one after another, no handlers.

Run: `.venv/bin/python tests/bench/conversation_hold.py [updates] [--no-postgres]` (default 1000). Prints
`name: value` lines, CPU ms per update (time.process_time(): the driver's threads count too).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from telegram import Chat, Message, Update, User

from bot.conversation import ConversationStore
from storage.db import create_engine, migrate
from tests.pg import PostgresUnavailable, start_local_server

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
UPDATES = int(ARGS[0]) if ARGS else 1000


def start_from(user_id: int) -> Update:
    user = User(id=user_id, first_name="U", is_bot=False)
    chat = Chat(id=user_id, type="private")
    message = Message(message_id=1, date=datetime.now(UTC), chat=chat, from_user=user, text="/start")
    return Update(update_id=user_id, message=message)


async def measure(name: str, url: str) -> None:
    await migrate(url)
    engine = create_engine(url)
    store = ConversationStore(engine)
    try:
        for i in range(50):  # warm-up: statement caches, pools
            async with store.hold(start_from(1 + i)):
                pass
        updates = [start_from(10_000 + i) for i in range(UPDATES)]
        for label in ("new_chat", "known_chat"):  # the same chats twice: first new, then known
            started = time.process_time()
            for update in updates:
                async with store.hold(update):
                    pass
            print(f"{name}_hold_{label}_ms: {(time.process_time() - started) * 1000 / UPDATES:.3f}")
    finally:
        await store.close()
        await engine.dispose()


async def main() -> None:
    print(f"updates: {UPDATES}")
    with tempfile.TemporaryDirectory() as tmp:
        await measure("sqlite", f"sqlite+aiosqlite:///{tmp}/hold.db")
    if "--no-postgres" in sys.argv:
        return
    try:
        pg = start_local_server()
    except PostgresUnavailable as exc:
        print(f"# PostgreSQL skipped: {exc}")
        return
    try:
        await measure("postgres", await pg.acreate_database("bench_hold"))
    finally:
        pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
