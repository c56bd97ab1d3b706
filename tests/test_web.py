"""Webhook mode, /healthz and /metrics over real HTTP on loopback; polling conflicts (409).

The webhook tests run `bot.web.run_webhook` (what `smmbot run` does with SMMBOT_WEBHOOK_URL) against the Bot
API emulator, which POSTs updates to the webhook with the secret header as Telegram does.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from telegram.error import TelegramError
from telegram.ext import ApplicationBuilder

from bot.app import build_application, run_bot
from bot.config import load_settings
from bot.sandbox.botapi import BotApiEmulator
from bot.sandbox.panel import PanelSimulator
from bot.web import DEFAULT_LISTEN, SECRET_HEADER, run_webhook
from storage.db import create_engine
from tests.e2e.conftest import BotEnv, Person

os.environ.setdefault("PTB_TIMEDELTA", "true")

SECRET = "s3cret_Token-1"
PATH = "/tg/hook"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def servers(tmp_path: Path, db_url: str) -> AsyncIterator[BotEnv]:
    """The emulator and the panel simulator, and a BotEnv whose application is not started yet."""
    panel = PanelSimulator()
    await panel.start()
    tg = BotApiEmulator()
    await tg.start()
    try:
        yield BotEnv(tg, panel, db_url, tmp_path / "data")
    finally:
        await tg.stop()
        await panel.stop()


class Webhook:
    def __init__(self, env: BotEnv, port: int) -> None:
        self.env, self.port = env, port
        self.url = f"http://127.0.0.1:{port}"

    async def get(self, path: str) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.get(self.url + path) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, body

    async def post(self, body: Any, secret: str | None) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with aiohttp.ClientSession() as http:
            kwargs = {"json": body} if not isinstance(body, bytes) else {"data": body}
            async with http.post(self.url + PATH, headers=headers, **kwargs) as resp:
                return resp.status


@pytest.fixture
async def hook(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Webhook]:
    """The bot in webhook mode (run_webhook in a task), its webhook set at the emulator."""
    async with servers(tmp_path, sqlite_url) as env:
        port = free_port()
        env.settings = env.settings.model_copy(
            update={
                "webhook_url": f"http://127.0.0.1:{port}{PATH}",
                "webhook_secret": SecretStr(SECRET),
                "listen": f"127.0.0.1:{port}",
            }
        )
        env.app = build_application(env.settings, rate_limiter=False)
        stop = asyncio.Event()
        task = asyncio.create_task(run_webhook(env.app, env.settings, stop))
        await env.tg.wait_for(lambda: bool(env.tg.webhook["url"]) or task.done(), 10, what="setWebhook")
        try:
            yield Webhook(env, port)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            env.app = None


async def test_webhook_end_to_end_through_the_emulator(hook: Webhook) -> None:
    env, tg = hook.env, hook.env.tg
    (call,) = tg.calls("setWebhook")
    assert call["url"] == f"{hook.url}{PATH}" and call["secret_token"] == SECRET
    assert {"message", "callback_query", "my_chat_member"} <= set(call["allowed_updates"])
    alice = env.person(101)
    await alice.say("/start")
    assert "Hi, Alice!" in alice.text
    assert tg.webhook_deliveries and "webhook_errors" not in tg.stats
    assert tg.calls("getUpdates") == []  # nothing polled


async def test_wrong_or_missing_secret_is_refused_and_nothing_handled(hook: Webhook) -> None:
    env, tg = hook.env, hook.env.tg
    alice = env.person(101)
    await alice.say("/start")
    forged = copy.deepcopy(tg.delivered_updates[-1])
    forged["update_id"] += 1000
    forged["message"]["text"] = "/help"
    forged["message"]["entities"][0]["length"] = 5
    mark = tg.mark()
    assert await hook.post(forged, "wrong-secret") == 403
    assert await hook.post(forged, None) == 403
    assert await hook.post(forged, SECRET + "x") == 403
    await env.quiet(mark, idle=0.3)
    assert tg.mark() == mark, tg.summary()  # the bot said nothing
    # malformed JSON with the right secret: 400, nothing handled either
    assert await hook.post(b"{not json", SECRET) == 400
    # the same update with the right secret is handled
    assert await hook.post(forged, SECRET) == 200
    await tg.wait_for_bot_message(101, after=mark)
    assert "How it works" in alice.text
    _, text = await hook.get("/metrics")
    rejected = {
        s.labels["reason"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "smmbot_webhook_rejected"
        for s in f.samples
        if s.name.endswith("_total")
    }
    assert rejected == {"secret": 3, "malformed": 1}


async def test_a_wrong_secret_is_logged_once_a_minute(
    hook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.web"):
        for _ in range(5):
            assert await hook.post({"update_id": 1}, "forged") == 403
    lines = [r for r in caplog.records if "wrong or missing secret" in r.getMessage()]
    assert len(lines) == 1 and "forged" not in lines[0].getMessage()


def other_local_address() -> str | None:
    """An address of this machine that is not loopback (None when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.254.254.254", 1))  # UDP: nothing is sent, it only picks the outgoing interface
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_health_server_listens_on_loopback_unless_told(tmp_path: Path, sqlite_url: str) -> None:
    """SMMBOT_LISTEN=":<port>" (or unset, in webhook mode: 127.0.0.1:8080) binds loopback only."""
    assert load_settings(SMMBOT_LISTEN=":8080").listen_host_port == ("127.0.0.1", 8080)
    assert DEFAULT_LISTEN[0] == "127.0.0.1"
    async with servers(tmp_path, sqlite_url) as env:
        port = free_port()
        env.settings = env.settings.model_copy(
            update={
                "webhook_url": f"http://127.0.0.1:{port}{PATH}",
                "webhook_secret": SecretStr(SECRET),
                "listen": f":{port}",
            }
        )
        env.app = build_application(env.settings, rate_limiter=False)
        stop = asyncio.Event()
        task = asyncio.create_task(run_webhook(env.app, env.settings, stop))
        try:
            await env.tg.wait_for(lambda: bool(env.tg.webhook["url"]) or task.done(), 10, what="setWebhook")
            status, _ = await Webhook(env, port).get("/healthz")
            assert status == 200
            outside = other_local_address()
            if outside is not None:
                with pytest.raises(aiohttp.ClientConnectionError):
                    async with aiohttp.ClientSession() as http:
                        await http.get(f"http://{outside}:{port}/metrics", timeout=aiohttp.ClientTimeout(3))
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            env.app = None


async def test_metrics(hook: Webhook) -> None:
    alice = hook.env.person(101)
    await alice.say("/start")
    status, text = await hook.get("/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in (
        "smmbot_updates",
        "smmbot_update_handling_seconds",
        "smmbot_panel_requests",
        "smmbot_panel_errors",
        "smmbot_outbox_messages",
        "smmbot_job_runs",
        "smmbot_polling_conflicts",
    ):
        assert name in families, sorted(families)
    updates = {
        s.labels["kind"]: s.value for s in families["smmbot_updates"].samples if s.name.endswith("_total")
    }
    assert updates["message"] >= 1
    count = [s.value for s in families["smmbot_update_handling_seconds"].samples if s.name.endswith("_count")]
    assert count == [updates["message"]]
    outbox = {s.labels["state"]: s.value for s in families["smmbot_outbox_messages"].samples}
    assert outbox == {"pending": 0, "sent": 0, "failed": 0}


async def test_healthz_ok_then_failing_parts(hook: Webhook) -> None:
    env = hook.env
    status, body = await hook.get("/healthz")
    assert status == 200, body
    assert body["status"] == "ok" and body["database"] == "ok" and body["scheduler"] == "running"
    assert body["updates"] == "webhook" and body["last_poll"] is None

    assert env.app is not None and env.app.job_queue is not None
    env.app.job_queue.scheduler.pause()
    status, body = await hook.get("/healthz")
    assert status == 503 and body["scheduler"] == "paused" and body["failed"] == ["scheduler"]
    env.app.job_queue.scheduler.resume()

    deps = env.deps
    good, deps.engine = deps.engine, create_engine("postgresql+asyncpg://nobody:x@127.0.0.1:1/none")
    try:
        status, body = await hook.get("/healthz")
    finally:
        await deps.engine.dispose()
        deps.engine = good
    assert status == 503 and body["database"].startswith("error: ") and body["failed"] == ["database"]
    assert "nobody" not in str(body)  # no connection details in a public answer
    status, _ = await hook.get("/healthz")
    assert status == 200


async def test_stopping_keeps_the_webhook(tmp_path: Path, sqlite_url: str) -> None:
    async with servers(tmp_path, sqlite_url) as env:
        port = free_port()
        settings = env.settings.model_copy(
            update={"webhook_url": f"http://127.0.0.1:{port}{PATH}", "webhook_secret": SecretStr(SECRET)}
        )
        settings = settings.model_copy(update={"listen": f"127.0.0.1:{port}"})
        app = build_application(settings, rate_limiter=False)
        stop = asyncio.Event()
        task = asyncio.create_task(run_webhook(app, settings, stop))
        await env.tg.wait_for(lambda: bool(env.tg.webhook["url"]), 10, what="setWebhook")
        stop.set()
        await asyncio.wait_for(task, 10)
        assert not app.running
        # a rolling deploy's new instance owns the webhook now: we must not delete it on the way out
        assert env.tg.calls("deleteWebhook") == [] and env.tg.webhook["url"]
        with pytest.raises(aiohttp.ClientConnectionError):
            await Webhook(env, port).get("/healthz")


def test_webhook_mode_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    from bot.config import load_settings

    settings = load_settings(
        TELEGRAM_BOT_TOKEN="123:abc",
        SMMBOT_DATA_DIR=str(tmp_path),
        SMMBOT_WEBHOOK_URL="https://bot.example.com/hook",
    )
    with pytest.raises(SystemExit) as exc:
        run_bot(settings)
    message = str(exc.value.code)
    assert message.startswith("smmbot: SMMBOT_WEBHOOK_SECRET is not set") and "\n" not in message
    assert not (tmp_path / "smmbot.db").exists()  # refused before touching anything
    bad = settings.model_copy(update={"webhook_secret": SecretStr("has spaces")})
    with pytest.raises(SystemExit, match="SMMBOT_WEBHOOK_SECRET must be"):
        run_bot(bad)


async def test_polling_mode_serves_health_and_metrics(tmp_path: Path, sqlite_url: str) -> None:
    async with servers(tmp_path, sqlite_url) as env:
        port = free_port()
        env.settings = env.settings.model_copy(update={"listen": f"127.0.0.1:{port}"})
        await env.start()  # post_init starts the server
        try:
            probe = Webhook(env, port)
            status, body = await probe.get("/healthz")
            assert status == 200 and body["updates"] == "polling", body
            status, text = await probe.get("/metrics")
            assert status == 200 and "smmbot_updates" in text
            async with aiohttp.ClientSession() as http, http.post(probe.url + PATH, json={}) as resp:
                assert resp.status in (404, 405)  # no webhook route in polling mode
        finally:
            await env.stop()
        with pytest.raises(aiohttp.ClientConnectionError):
            await probe.get("/healthz")


async def test_second_poller_conflict_is_logged_once_and_polling_recovers(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two applications polling one token: the emulator answers 409 to the older getUpdates, as Telegram
    does. Ours logs that once (not once per retry), keeps retrying, and answers again once the other stops."""
    caplog.set_level(logging.WARNING, logger="bot.app")
    async with servers(tmp_path, sqlite_url) as env:
        await env.start()
        app = env.app
        assert app is not None and app.updater is not None
        # poll as run_polling does: polling errors go to the application's error handlers
        await app.updater.stop()

        def forward(exc: TelegramError) -> None:
            app.create_task(app.process_error(update=None, error=exc))

        await app.updater.start_polling(poll_interval=0, timeout=1, error_callback=forward)
        other = ApplicationBuilder().token(env.tg.token).base_url(f"{env.tg.url}/bot").build()
        await other.initialize()
        assert other.updater is not None
        await other.updater.start_polling(poll_interval=0, timeout=1, error_callback=lambda exc: None)
        try:
            await env.tg.wait_for(lambda: _conflicts(app) >= 2, 15, what="two conflicts")
        finally:
            await other.updater.stop()
            await other.shutdown()
        warnings = [r.getMessage() for r in caplog.records if "Another instance is polling" in r.getMessage()]
        assert len(warnings) == 1, warnings
        assert "Traceback" not in caplog.text
        alice = Person(env, 101)
        env.tg.add_user(101, "Alice")
        env.tg.add_private_chat(101)
        await alice.say("/start")
        assert "Hi, Alice!" in alice.text
        await env.stop()


def _conflicts(app: Any) -> float:
    return app.bot_data["metrics"].polling_conflicts._value.get()
