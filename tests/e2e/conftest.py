"""End-to-end harness: the real Application against the Bot API emulator and the panel simulator.

A test talks as a person would: `await alice.say("/order 3")`, `await alice.press("Confirm")`, then looks at
what the bot sent back (`alice.last`) or at the panel's side (`env.panel.count("add")`).

`env` runs each test on SQLite and on PostgreSQL (ids `[sqlite]`, `[postgresql]`; the server is started once
per session by tests/pg.py). For a quicker local run on one backend: `pytest tests/e2e -k "not postgresql"`.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.app import build_application, start_in_loop, stop_in_loop
from bot.config import Settings, load_settings
from bot.deps import Deps
from bot.sandbox.botapi import BotApiEmulator
from bot.sandbox.panel import PanelSimulator

os.environ.setdefault("PTB_TIMEDELTA", "true")

KEY = PanelSimulator.DEFAULT_KEY


class Person:
    """A Telegram user in one chat (their private chat unless a group is given)."""

    def __init__(self, env: BotEnv, user_id: int, chat_id: int | None = None) -> None:
        self.env = env
        self.user_id = user_id
        self.chat_id = chat_id if chat_id is not None else user_id

    @property
    def tg(self) -> BotApiEmulator:
        return self.env.tg

    async def say(self, text: str, *, reply_to: int | None = None, expect_reply: bool = True) -> dict | None:
        """Send a message; wait until the bot has answered and gone quiet; return its last message."""
        mark = self.tg.mark()
        sent = self.tg.send_text(self.chat_id, self.user_id, text, reply_to=reply_to)
        if sent is None:  # privacy mode hid it from the bot
            return None
        return await self._settle(mark, expect_reply)

    async def send_file(self, filename: str, content: bytes, caption: str | None = None) -> dict | None:
        mark = self.tg.mark()
        self.tg.send_document(self.chat_id, self.user_id, filename, content, caption=caption)
        return await self._settle(mark, True)

    async def press(self, label: str, *, message: dict | None = None) -> dict | None:
        """Press the button whose label contains `label` on `message` (default: the bot's newest message
        that has such a button)."""
        message = message or self.message_with_button(label)
        mark = self.tg.mark()
        self.tg.click(self.chat_id, message["message_id"], label, self.user_id)
        return await self._settle(mark, False)

    async def press_data(self, data: str, *, message: dict | None = None) -> dict | None:
        message = message or self.last
        mark = self.tg.mark()
        self.tg.press_button(self.chat_id, message["message_id"], data, self.user_id, force=True)
        return await self._settle(mark, False)

    async def _settle(self, mark: int, expect_reply: bool) -> dict | None:
        if expect_reply:
            await self.tg.wait_for_bot_message(self.chat_id, after=mark, timeout=10)
        await self.env.quiet(mark)
        messages = self.tg.bot_messages(self.chat_id)
        return messages[-1] if messages else None

    @property
    def last(self) -> dict:
        return self.tg.last_bot_message(self.chat_id)

    @property
    def text(self) -> str:
        return self.last.get("text", "")

    def recent_text(self, count: int = 2) -> str:
        """The bot's last `count` messages in this chat, joined (after /connect: the link's result, then the
        low-balance alert offer)."""
        return "\n".join(m.get("text", "") for m in self.tg.bot_messages(self.chat_id)[-count:])

    def buttons(self, message: dict | None = None) -> list[str]:
        return [label for label, _ in self.tg.buttons(message or self.last)]

    def message_with_button(self, label: str) -> dict:
        for message in reversed(self.tg.bot_messages(self.chat_id)):
            if any(label.lower() in text.lower() for text, _ in self.tg.buttons(message)):
                return message
        raise AssertionError(f"no bot message with a button {label!r}\n{self.tg.summary()}")

    def alerts(self) -> list[str]:
        return [a.get("text") or "" for a in self.tg.callback_answers if a.get("text")]


class BotEnv:
    def __init__(
        self,
        tg: BotApiEmulator,
        panel: PanelSimulator,
        db_url: str,
        data_dir: Path,
        extras: list[PanelSimulator] | None = None,
    ) -> None:
        self.tg = tg
        self.panel = panel
        self.extras = list(extras or [])  # more panels chats may link (make_env(..., extra_panels=n))
        self.db_url = db_url
        self.data_dir = data_dir
        self.app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self.settings: Settings = load_settings(
            TELEGRAM_BOT_TOKEN=tg.token,
            SMMBOT_TELEGRAM_API_URL=tg.url,
            SMMBOT_DATA_DIR=str(data_dir),
            SMMBOT_DATABASE_URL=db_url,
            SMMBOT_PANEL_URL=panel.url,
            SMMBOT_ALLOWED_PANELS=",".join([panel.url, *(p.url for p in self.extras)]),
            SMMBOT_ADMIN_IDS="900",
            SMMBOT_POLL_INTERVAL="3600",
            SMMBOT_BALANCE_INTERVAL="3600",
        )

    @property
    def deps(self) -> Deps:
        assert self.app is not None
        return self.app.bot_data["deps"]

    async def start(self, *, polling: bool = True) -> None:
        """`polling=False`: the test hands updates to `app.update_queue` itself (as a webhook would)."""
        self.app = build_application(self.settings, rate_limiter=False)
        await start_in_loop(self.app, polling=polling)

    async def stop(self) -> None:
        if self.app is None:
            return
        app, self.app = self.app, None
        await stop_in_loop(app)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def quiet(self, mark: int = 0, idle: float = 0.15, timeout: float = 10.0) -> None:
        """Wait until every injected update was fetched and the bot made no request for `idle` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_count, last_change = -1, loop.time()
        while loop.time() < deadline:
            count = len(self.tg.requests)
            if count != last_count:
                last_count, last_change = count, loop.time()
            elif not self.tg.pending_updates and not self.busy() and loop.time() - last_change >= idle:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"the bot did not go quiet\n{self.tg.summary()}")

    def busy(self) -> bool:
        """Updates fetched but not handled yet, or being handled (a slow panel call, say)."""
        app = self.app
        if app is None:
            return False
        return app.update_queue.qsize() > 0 or app.update_processor.current_concurrent_updates > 0

    def person(self, user_id: int, *, first_name: str = "Alice", language: str = "en") -> Person:
        self.tg.add_user(user_id, first_name, language_code=language)
        self.tg.add_private_chat(user_id)
        return Person(self, user_id)

    def in_group(self, person: Person, group_id: int) -> Person:
        return Person(self, person.user_id, group_id)

    async def link(
        self,
        chat_id: int,
        key: str = KEY,
        *,
        currency: str = "USD",
        panel_url: str | None = None,
        label: str | None = None,
    ) -> int:
        """Link a key to a chat directly in the database (tests of other flows start from here; the
        /connect conversation itself is tested in test_connect.py). Returns the account id. `panel_url`:
        another panel than env.panel (one of env.extras)."""
        from storage import repo

        deps = self.deps
        async with deps.sessions() as session:
            await repo.chats.get_or_create_chat(session, chat_id, kind="private" if chat_id > 0 else "group")
            account = await repo.accounts.add_account(
                session,
                chat_id,
                panel_url or self.panel.url,
                deps.vault.encrypt(key),
                deps.vault.fingerprint(key),
                currency=currency,
                label=label,
            )
            await session.commit()
            assert account.id is not None
            return account.id

    async def expire_conversations(self) -> int:
        """Move every stored conversation's deadline into the past (as if 30 minutes went by); how many."""
        from datetime import timedelta

        from sqlalchemy import update

        from storage.models import Conversation
        from storage.types import utcnow

        async with self.deps.sessions() as session:
            result = await session.execute(
                update(Conversation)
                .where(Conversation.flow.is_not(None))  # type: ignore[union-attr]
                .values(deadline=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        return int(getattr(result, "rowcount", 0))

    async def conversation(self, chat_id: int, user_id: int) -> tuple[str | None, str | None]:
        """(flow, step) stored for that person in that chat."""
        from storage import repo

        async with self.deps.sessions() as session:
            rows = await repo.conversations.chat_conversations(session, chat_id)
        row = next((r for r in rows if r.user_id == user_id), None)
        return (row.flow, row.step) if row else (None, None)

    async def connected(self, user_id: int = 101, *, language: str = "en", key: str = KEY) -> Person:
        """A person whose private chat has the simulator's key linked."""
        someone = self.person(user_id, language=language)
        await self.link(user_id, key)
        return someone


async def make_env(
    tmp_path: Path, db_url: str, *, extra_panels: int = 0, **panel_options: Any
) -> AsyncIterator[BotEnv]:
    """`extra_panels`: that many more simulators (seeds 2, 3, ...), allowed too, in `env.extras`."""
    panel = PanelSimulator(**panel_options)
    await panel.start()
    extras = [PanelSimulator(seed=2 + i) for i in range(extra_panels)]
    for extra in extras:
        await extra.start()
    tg = BotApiEmulator()
    await tg.start()
    env = BotEnv(tg, panel, db_url, tmp_path / "data", extras)
    await env.start()
    try:
        yield env
    finally:
        await env.stop()
        await tg.stop()
        await panel.stop()
        for extra in extras:
            await extra.stop()


@pytest.fixture
async def env(tmp_path: Path, db_url: str) -> AsyncIterator[BotEnv]:
    """The bot on each backend (test ids `[sqlite]`, `[postgresql]`): SQLite checks no column length and
    no type strictly, PostgreSQL does; both must take what panels and people send."""
    async for e in make_env(tmp_path, db_url):
        yield e


@pytest.fixture
async def big_env(tmp_path: Path, sqlite_url: str) -> AsyncIterator[BotEnv]:
    """A panel with a 10,000-service catalog."""
    async for e in make_env(tmp_path, sqlite_url, services=10_000):
        yield e


def plain(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
