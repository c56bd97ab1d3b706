"""The bot with its Mini App on: the real Application against the Bot API emulator and the panel simulator,
its aiohttp server on a loopback port, and a client that signs initData as Telegram would."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import load_settings
from bot.sandbox.botapi import BotApiEmulator
from bot.sandbox.panel import PanelSimulator
from bot.webapp.auth import sign_init_data
from tests.e2e.conftest import BotEnv

os.environ.setdefault("PTB_TIMEDELTA", "true")

APP_PATH = "/app"


def free_port() -> int:
    """A port free now (SMMBOT_LISTEN wants a real one; the race with other processes is harmless here)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class AppEnv(BotEnv):
    """BotEnv plus the Mini App: `app_url` (where the server really listens) and `api(...)`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = load_settings(
            TELEGRAM_BOT_TOKEN=self.tg.token,
            SMMBOT_TELEGRAM_API_URL=self.tg.url,
            SMMBOT_DATA_DIR=str(self.data_dir),
            SMMBOT_DATABASE_URL=self.db_url,
            SMMBOT_PANEL_URL=self.panel.url,
            SMMBOT_ALLOWED_PANELS=self.panel.url,
            SMMBOT_ADMIN_IDS="900",
            SMMBOT_POLL_INTERVAL="3600",
            SMMBOT_BALANCE_INTERVAL="3600",
            SMMBOT_LISTEN=f"127.0.0.1:{free_port()}",
            SMMBOT_WEBAPP_URL=f"http://127.0.0.1{APP_PATH}",
        )
        self.http: aiohttp.ClientSession | None = None

    @property
    def app_url(self) -> str:
        assert self.app is not None
        return self.app.bot_data["web"].url + APP_PATH

    def init_data(self, user_id: int, *, start_param: str | None = None, **kwargs: Any) -> str:
        user = {"id": user_id, "first_name": f"User{user_id}", "language_code": "en"}
        user.update(kwargs.pop("user", {}))
        return sign_init_data(self.tg.token, user, start_param=start_param, **kwargs)

    def fragment_url(self, init_data: str) -> str:
        from urllib.parse import quote

        return f"{self.app_url}/#tgWebAppData={quote(init_data, safe='')}&tgWebAppVersion=8.0"

    async def api(
        self, method: str, path: str, init_data: str | None, json: Any = None, **params: Any
    ) -> tuple[int, Any]:
        if self.http is None:
            self.http = aiohttp.ClientSession()
        headers = {"Authorization": f"tma {init_data}"} if init_data is not None else {}
        async with self.http.request(
            method, f"{self.app_url}/api/{path}", headers=headers, json=json, params=params or None
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        await super().stop()


async def make_app_env(tmp_path: Path, db_url: str, **panel_options: Any) -> AsyncIterator[AppEnv]:
    panel = PanelSimulator(**panel_options)
    await panel.start()
    tg = BotApiEmulator()
    await tg.start()
    env = AppEnv(tg, panel, db_url, tmp_path / "data")
    await env.start()
    try:
        yield env
    finally:
        await env.stop()
        await tg.stop()
        await panel.stop()


@pytest.fixture
async def app_env(tmp_path: Path, sqlite_url: str) -> AsyncIterator[AppEnv]:
    async for e in make_app_env(tmp_path, sqlite_url):
        yield e


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the browser tests need it")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()
