"""Our own aiohttp server: the Telegram webhook, /healthz and /metrics.

Webhook mode (SMMBOT_WEBHOOK_URL set) follows python-telegram-bot's customwebhookbot example: we run the
Application's life cycle ourselves and feed it by putting each verified update on `application.update_queue`
(no tornado, no python-telegram-bot[webhooks]). In polling mode the same server, without the webhook route,
serves /healthz and /metrics when SMMBOT_LISTEN is set (started in post_init, stopped in post_shutdown).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING  # type: ignore[import-untyped]
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from telegram import Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot.config import Settings
from bot.deps import Deps
from bot.metrics import Metrics, poll_finished_at

log = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, Any, Any]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
DEFAULT_LISTEN = ("127.0.0.1", 8080)  # loopback unless SMMBOT_LISTEN says otherwise (a proxy forwards to it)
SECRET_LOG_EVERY = 60.0  # seconds: a flood of forged calls makes one log line a minute (all are counted)
RESERVED_PATHS = ("/healthz", "/metrics")
_SECRET_CHARS = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as secret_token
DB_CHECK_TIMEOUT = 5.0


class StartupError(Exception):
    """The bot cannot start as configured; the message is one line for the operator."""


def webhook_path(url: str) -> str:
    return urlsplit(url).path or "/"


def check_webhook_settings(settings: Settings) -> None:
    """Raise StartupError when webhook mode is asked for but cannot be run safely."""
    assert settings.webhook_url
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if not secret:
        raise StartupError(
            "SMMBOT_WEBHOOK_SECRET is not set: a webhook without a secret lets anyone send the bot fake "
            "updates. Set it to 1-256 characters of A-Z, a-z, 0-9, _ and -."
        )
    if not _SECRET_CHARS.fullmatch(secret):
        raise StartupError("SMMBOT_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
    if webhook_path(settings.webhook_url) in RESERVED_PATHS:
        raise StartupError(f"SMMBOT_WEBHOOK_URL must not end in {' or '.join(RESERVED_PATHS)}")


class WebServer:
    """/healthz and /metrics, plus the webhook route when `secret` is given."""

    def __init__(
        self,
        application: App,
        host: str,
        port: int,
        *,
        webhook_path: str | None = None,
        secret: str | None = None,
    ) -> None:
        self.application = application
        self.host, self.port = host, port
        self._path = webhook_path
        self._secret = secret.encode() if secret else None
        self._runner: web.AppRunner | None = None
        self._secret_logged_at = -SECRET_LOG_EVERY
        assert webhook_path is None or self._secret, "a webhook needs a secret"

    @property
    def deps(self) -> Deps:
        return self.application.bot_data["deps"]

    @property
    def metrics(self) -> Metrics:
        return self.application.bot_data["metrics"]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        if self._path is not None:
            app.router.add_post(self._path, self._webhook)
        if self.deps.settings.webapp_url:
            from bot import webapp  # only when the Mini App is on

            webapp.install(app, self.application)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.port).start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise StartupError(f"cannot listen on {self.host}:{self.port} (SMMBOT_LISTEN): {exc}") from None
        self.port = self._runner.addresses[0][1]  # the bound port, when 0 was asked for
        log.info("Serving %s/healthz and /metrics%s", self.url, " and the webhook" if self._path else "")

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # --- routes ---
    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        assert self._secret is not None
        if not secrets.compare_digest(given, self._secret):
            self.metrics.webhook_rejected.labels("secret").inc()
            now = time.monotonic()
            if now - self._secret_logged_at >= SECRET_LOG_EVERY:
                self._secret_logged_at = now
                log.warning(
                    "Webhook request with a wrong or missing secret token from %s (more within a minute are "
                    "only counted: smmbot_webhook_rejected_total)",
                    request.remote,
                )
            return web.Response(status=403)
        if not self.application.running:  # starting or stopping: Telegram retries later
            return web.Response(status=503)
        try:
            data = await request.json(loads=json.loads)
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self.metrics.webhook_rejected.labels("malformed").inc()
            log.warning("Webhook request with a malformed update: %s", exc)
            return web.Response(status=400)
        if update is None:
            self.metrics.webhook_rejected.labels("malformed").inc()
            return web.Response(status=400)
        await self.application.update_queue.put(update)  # handled by the Application, not in this request
        return web.Response(status=200)

    async def _healthz(self, request: web.Request) -> web.Response:
        report = await health(self.application, webhook=self._path is not None)
        return web.json_response(report, status=200 if report["status"] == "ok" else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = await self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _select_one(deps: Deps) -> None:
    async with deps.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def health(application: App, *, webhook: bool) -> dict[str, Any]:
    """The health report: status "ok" when the database answers, the scheduler runs and updates come in."""
    deps: Deps = application.bot_data["deps"]
    metrics: Metrics = application.bot_data["metrics"]
    failed: list[str] = []
    try:
        await asyncio.wait_for(_select_one(deps), DB_CHECK_TIMEOUT)
        database = "ok"
    except Exception as exc:  # only the kind: the message may name hosts or users
        database = f"error: {type(exc).__name__}"
        failed.append("database")
    job_queue = application.job_queue
    state = job_queue.scheduler.state if job_queue is not None else None
    scheduler = {STATE_RUNNING: "running", STATE_PAUSED: "paused"}.get(state, "stopped")  # type: ignore[arg-type]
    if scheduler != "running":
        failed.append("scheduler")
    if webhook:
        updates = "webhook" if application.running else "stopped"
    else:
        polling = application.running and application.updater is not None and application.updater.running
        updates = "polling" if polling else "stopped"
    if updates == "stopped":
        failed.append("updates")
    report: dict[str, Any] = {
        "status": "ok" if not failed else "fail",
        "database": database,
        "scheduler": scheduler,
        "updates": updates,
        "updates_handled": metrics.updates_handled(),
        "last_poll": None,
    }
    finished = poll_finished_at(deps) if deps.last_poll is not None else None
    if finished is not None:
        report["last_poll"] = datetime.fromtimestamp(finished, UTC).isoformat(timespec="seconds")
        report["last_poll_age_s"] = round(time.time() - finished, 1)
    if failed:
        report["failed"] = failed
    return report


# --- life cycle -------------------------------------------------------------------------------------


async def start_health_server(application: App) -> None:
    """Polling mode: serve /healthz and /metrics on SMMBOT_LISTEN (if set), and the Mini App when
    SMMBOT_WEBAPP_URL is set (on SMMBOT_LISTEN, else the default address). Called from post_init."""
    settings: Settings = application.bot_data["deps"].settings
    if "web" in application.bot_data or (settings.listen_host_port is None and not settings.webapp_url):
        return  # webhook mode started its own server, or nothing to serve
    host, port = settings.listen_host_port or DEFAULT_LISTEN
    server = WebServer(application, host, port)
    await server.start()
    application.bot_data["web"] = server


async def stop_web_server(application: App) -> None:
    server = application.bot_data.pop("web", None)
    if server is not None:
        await server.stop()


async def _set_webhook(application: App, settings: Settings, secret: str) -> None:
    """setWebhook, retried a few times on network trouble (Telegram may be briefly unreachable)."""
    assert settings.webhook_url
    for attempt in range(5):
        try:
            await application.bot.set_webhook(
                settings.webhook_url,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
                drop_pending_updates=False,
            )
            log.info("Webhook set to %s", settings.webhook_url)
            return
        except RetryAfter as exc:
            wait = exc.retry_after
            await asyncio.sleep(wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait))
        except BadRequest:  # a NetworkError subclass, but retrying will not help
            raise
        except NetworkError as exc:  # includes TimedOut
            log.warning("setWebhook failed (%s); retrying", exc)
            await asyncio.sleep(min(2**attempt, 10))
    raise StartupError("setWebhook kept failing; is the Bot API reachable?")


async def run_webhook(application: App, settings: Settings, stop: asyncio.Event) -> None:
    """Webhook mode until `stop` is set: the steps of Application.run_polling, with our server in front.

    deleteWebhook is NOT called on the way out: in a rolling deploy the new instance has already set the
    webhook to itself (and Telegram keeps pending updates while no one answers), so deleting it would cut
    the new instance off or switch Telegram to "no webhook" until someone sets it again."""
    check_webhook_settings(settings)
    assert settings.webhook_url and settings.webhook_secret
    secret = settings.webhook_secret.get_secret_value()
    host, port = settings.listen_host_port or DEFAULT_LISTEN
    server = WebServer(
        application, host, port, webhook_path=webhook_path(settings.webhook_url), secret=secret
    )
    await server.start()  # first: a port in use fails before anything is asked of Telegram
    application.bot_data["web"] = server
    try:
        await application.initialize()
        try:
            if application.post_init:
                await application.post_init(application)
            await application.start()
            try:
                await _set_webhook(application, settings, secret)
            except TelegramError as exc:
                raise StartupError(f"setWebhook failed: {exc}") from None
            await stop.wait()
            log.info("Stopping: no new updates are taken; the queued ones are finished")
            await server.stop()
            if application.running:
                await application.stop()
                if application.post_stop:
                    await application.post_stop(application)
        finally:
            if application.running:  # a failure between start() and the wait
                await application.stop()
            await application.shutdown()
            if application.post_shutdown:
                await application.post_shutdown(application)
    finally:
        await stop_web_server(application)
