"""Wiring: builds the python-telegram-bot Application, registers handlers and jobs, runs it."""

from __future__ import annotations

import gc
import html
import logging
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults

import handlers
from bot import web, webapp
from bot.config import Settings
from bot.conversation import ConversationStore
from bot.delivery import schedule_delivery
from bot.deps import Deps
from bot.i18n import translator
from bot.jobs import schedule, sweep_stale_sending
from bot.metrics import Metrics
from bot.panel import close_shared_session
from bot.send_rate import SendRateLimiter
from bot.update_processor import PerChatUpdateProcessor
from storage.db import migrate

log = logging.getLogger(__name__)

# updates handled at once (different chats); on PostgreSQL also the size of the chat-lock pool
MAX_CONCURRENT_UPDATES = 32


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure with its traceback; tell the user politely, never with the traceback."""
    error = context.error
    if isinstance(error, Conflict):  # from getUpdates (run_polling forwards polling errors here)
        metrics: Metrics = context.application.bot_data["metrics"]
        if metrics.conflict_should_log():  # PTB retries with a growing pause; say so once a minute at most
            log.warning(
                "Another instance is polling with this token (or a webhook is set): %s. Still retrying; "
                "stop the other instance.",
                error,
            )
        return
    if isinstance(error, (RetryAfter, TimedOut, NetworkError)) and not isinstance(error, BadRequest):
        log.warning("Telegram network trouble: %s", error)
        return
    log.error("Unhandled error while handling an update", exc_info=error)
    if not isinstance(update, Update) or isinstance(error, Forbidden):
        return
    user = update.effective_user
    _ = translator(user.language_code if user else None)
    text = _("Sorry, something went wrong on our side. Please try again in a moment.")
    try:
        if update.callback_query:
            await update.callback_query.answer(text, show_alert=True)
        elif update.effective_message:
            await update.effective_message.reply_text(html.escape(text))
    except Exception:  # the apology itself failed; the log has the cause already
        log.debug("Could not send the error notice", exc_info=True)


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    deps: Deps = application.bot_data["deps"]
    if await deps.leader.check():
        await sweep_stale_sending(deps)
    await handlers.publish_commands(application.bot, deps.settings)
    schedule(application)
    schedule_delivery(application)
    if deps.settings.webapp_url:
        await webapp.publish_menu_button(application.bot, deps.settings.webapp_url)
    try:
        await web.start_health_server(application)  # polling mode with SMMBOT_LISTEN
    except web.StartupError as exc:
        application.bot_data["startup_error"] = str(exc)
        application.stop_running()  # run_polling returns; run_bot reports the error


async def _post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    deps: Deps = application.bot_data["deps"]
    await web.stop_web_server(application)
    await close_shared_session()
    await deps.close()


def build_application(
    settings: Settings,
    deps: Deps | None = None,
    *,
    rate_limiter: bool = True,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The real Application; tests pass their own Deps and may turn off the rate limiter.

    No python-telegram-bot persistence: conversations live in the database (bot/conversation.py), loaded
    and written by the update processor around each update."""
    deps = deps or Deps.from_settings(settings)
    metrics = Metrics()
    metrics.deps = deps
    assert settings.telegram_bot_token is not None
    api = settings.telegram_api_url
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .defaults(Defaults(parse_mode="HTML", link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .concurrent_updates(
            PerChatUpdateProcessor(
                MAX_CONCURRENT_UPDATES,
                observer=metrics.observe_update,
                store=ConversationStore(deps.engine, max_concurrent=MAX_CONCURRENT_UPDATES),
            )
        )
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .get_updates_read_timeout(40)
    )
    if rate_limiter:
        builder = builder.rate_limiter(SendRateLimiter(max_retries=3))  # see bot/send_rate.py
    application = builder.build()
    application.bot_data["deps"] = deps
    application.bot_data["metrics"] = metrics
    metrics.watch_jobs(application)
    handlers.register(application)
    application.add_error_handler(_on_error)
    return application


async def start_in_loop(
    application: Application[Any, Any, Any, Any, Any, Any], *, polling: bool = True, poll_timeout: int = 1
) -> None:
    """The start steps of Application.run_polling, in its order, inside an event loop that is already
    running (the demo and the tests). `polling=False`: updates are handed to
    `application.update_queue` by the caller (as a webhook would)."""
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    await application.start()
    if polling:
        assert application.updater is not None
        await application.updater.start_polling(
            poll_interval=0, timeout=poll_timeout, allowed_updates=Update.ALL_TYPES
        )


async def stop_in_loop(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The stop steps of Application.run_polling, in its order; each only if its part is running."""
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
        if application.post_stop:
            await application.post_stop(application)
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)


def freeze_startup_heap() -> None:
    """Leave what start-up built (modules, SQLAlchemy's metadata, the handlers, the catalogs of texts) out of
    the garbage collector's full collections: they live as long as the process, and walking them made each
    full collection cost tens of milliseconds of a busy bot's CPU (tests/bench/updates.py). Called once by
    run_bot, not by build_application: tests build many Applications in one process."""
    gc.collect()
    gc.freeze()


def run_bot(settings: Settings) -> None:
    """Migrate, then run until SIGINT/SIGTERM: webhook mode when SMMBOT_WEBHOOK_URL is set, else long
    polling (plus /healthz and /metrics when SMMBOT_LISTEN is set)."""
    import asyncio
    import signal

    if settings.webhook_url:
        try:
            web.check_webhook_settings(settings)
        except web.StartupError as exc:
            raise SystemExit(f"smmbot: {exc}") from None
    asyncio.run(migrate(settings.database_url))
    application = build_application(settings)
    freeze_startup_heap()
    if not settings.webhook_url:
        log.info("Starting long polling against %s", settings.telegram_api_url)
        application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
        if "startup_error" in application.bot_data:
            raise SystemExit(f"smmbot: {application.bot_data['startup_error']}")
        return

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await web.run_webhook(application, settings, stop)

    log.info("Starting in webhook mode at %s", settings.webhook_url)
    try:
        asyncio.run(serve())
    except web.StartupError as exc:
        raise SystemExit(f"smmbot: {exc}") from None
