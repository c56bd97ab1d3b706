"""Wiring: builds the python-telegram-bot Application, registers handlers and jobs, runs it."""

from __future__ import annotations

import html
import logging
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults

import handlers
from bot.config import Settings
from bot.deps import Deps
from bot.i18n import translator
from bot.panel import close_shared_session
from bot.update_processor import PerChatUpdateProcessor
from storage import repo
from storage.db import migrate

log = logging.getLogger(__name__)


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure with its traceback; tell the user politely, never with the traceback."""
    error = context.error
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
    async with deps.sessions() as session:
        stale = await repo.orders.mark_stale_sending_as_unclear(session)
        await session.commit()
    if stale:
        log.warning("%d order(s) were being sent when the bot stopped; marked unclear", stale)
    await handlers.publish_commands(application.bot, deps.settings)
    handlers.start_jobs(application)


async def _post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    deps: Deps = application.bot_data["deps"]
    await close_shared_session()
    await deps.close()


def build_application(
    settings: Settings,
    deps: Deps | None = None,
    *,
    rate_limiter: bool = True,
    persistence_interval: float = 1.0,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The real Application; tests pass their own Deps and may turn off the rate limiter."""
    from bot.persistence import DatabasePersistence

    deps = deps or Deps.from_settings(settings)
    assert settings.telegram_bot_token is not None
    api = settings.telegram_api_url
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .defaults(Defaults(parse_mode="HTML", link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .persistence(DatabasePersistence(deps.sessions, update_interval=persistence_interval))
        .concurrent_updates(PerChatUpdateProcessor())
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .get_updates_read_timeout(40)
    )
    if rate_limiter:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    application = builder.build()
    application.bot_data["deps"] = deps
    handlers.register(application)
    application.add_error_handler(_on_error)
    return application


def run_bot(settings: Settings) -> None:
    """Migrate, then long-poll until interrupted (webhook mode comes with the production issue)."""
    import asyncio

    asyncio.run(migrate(settings.database_url))
    application = build_application(settings)
    log.info("Starting long polling against %s", settings.telegram_api_url)
    application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
