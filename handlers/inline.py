"""Inline mode: `@bot <words>` in any chat lists the services of the panel linked in the user's PRIVATE chat.

Choosing a result posts the service card with an "Order" button: a deep link into the private chat
(`/start svc_<id>`, handled by handlers/start.py), where the order wizard runs. Nothing here writes.

Results are ranked by Catalog.find (the id, then words in the name, then in the category), which remembers
recent searches: paging through a query (`offset` = index of the first result) does not search again, and
only the page answered is rendered. The inline mode has to be switched on with @BotFather (/setinline).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, InlineQueryHandler
from telegram.helpers import create_deep_linked_url

from bot.catalog import Catalog
from bot.formatting import fit_html, label
from bot.i18n import Translator, translator
from bot.keyvault import KeyDecryptError
from bot.panel import InvalidKey, PanelError, Service
from bot.rate_limits import wait_seconds
from handlers.cards import service_card
from handlers.common import Context, deps, money
from handlers.limits import wait_text
from storage import repo
from storage.models import Account

log = logging.getLogger(__name__)

PAGE = 50  # Telegram's maximum of results per answer
CACHE_SECONDS = 30
# Telegram drops an inline query that is not answered within about 10 s: a slow first catalog fetch gets an
# "unreachable" answer now and goes on in the background (PanelHub shields it); the next query finds it.
FETCH_TIMEOUT = 8.0
CONNECT_PAYLOAD = "connect"  # handlers/connect.py: /start connect
RETRY_PAYLOAD = "inline"  # any other payload: /start shows the welcome with the linked panel


async def _answer(
    query: InlineQuery,
    results: list[InlineQueryResultArticle],
    *,
    next_offset: str = "",
    button: InlineQueryResultsButton | None = None,
    cache_time: int = CACHE_SECONDS,
) -> None:
    try:
        # next_offset None, not "": with Defaults set, python-telegram-bot 22.8 sends an empty string
        # parameter as "[]" (ExtBot._insert_defaults takes "" for an empty list of poll options), and
        # Telegram would then ask for the page at offset "[]" again and again.
        await query.answer(
            results, cache_time=cache_time, is_personal=True, next_offset=next_offset or None, button=button
        )
    except TelegramError as exc:  # the query expired meanwhile (the user typed on): nothing to tell anyone
        log.info("inline query not answered: %s", exc)


def _offset(raw: str) -> int:
    return int(raw) if raw.isdecimal() and len(raw) < 9 else 0


def _card(_: Translator, service: Service, currency: str | None) -> str:
    """service_card (which shortens what a panel wrote), fitted to Telegram's limit as Telegram counts it."""
    return fit_html(service_card(_, service, currency))


def _result(
    _: Translator, service: Service, currency: str | None, order_url: str
) -> InlineQueryResultArticle:
    # Title and description are plain text (not HTML): no escaping there.
    rate = money(service.rate)
    per_1000 = f"{rate} {currency}" if currency and service.rate is not None else rate
    description = _(
        "#{id} · {rate} per 1000 · min {min} · max {max}",
        id=service.id,
        rate=per_1000,
        min=service.min if service.min is not None else "—",
        max=service.max if service.max is not None else "—",
    )
    return InlineQueryResultArticle(
        id=str(service.id),
        title=label(service.name, 200),
        description=description,
        input_message_content=InputTextMessageContent(
            _card(_, service, currency),
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(_("🛒 Order"), url=order_url)]]),
    )


def page_of(catalog: Catalog, text: str, offset: int) -> tuple[list[Service], str]:
    """The services to answer from `offset` on, and the next offset ("" when this is the last page)."""
    found = catalog.find(text) if text.strip() else catalog.services
    end = offset + PAGE
    # result ids must be unique in an answer, even if a panel lists an id twice
    page = list({s.id: s for s in found[offset:end]}.values())
    return page, str(end) if end < len(found) else ""


async def _catalog(query: InlineQuery, _: Translator, account: Account, context: Context) -> Catalog | None:
    """The account's catalog; on failure answer with a button into the private chat and give None."""
    hub = deps(context).panels
    if account.id is not None and hub.cached_catalog(account.id) is None:
        retry_after = deps(context).rate_limits.retry_after(query.from_user.id, "catalog_fetch")
        if retry_after is not None:  # typing fast with no catalog cached: one fetch per few seconds
            text = wait_text(_, "catalog_fetch", wait_seconds(retry_after))
            button = InlineQueryResultsButton(text, start_parameter=RETRY_PAYLOAD)
            await _answer(query, [], button=button, cache_time=0)
            return None
    try:
        return await asyncio.wait_for(deps(context).panels.catalog(account), FETCH_TIMEOUT)
    except (InvalidKey, KeyDecryptError) as exc:
        log.info("inline query: the linked key of account %s fails: %s", account.id, exc)
        text, payload = _("Your panel key no longer works: link it again"), CONNECT_PAYLOAD
    except (PanelError, TimeoutError) as exc:
        log.info("inline query: the panel of account %s failed: %r", account.id, exc)
        text, payload = _("Panel unreachable, try again"), RETRY_PAYLOAD
    button = InlineQueryResultsButton(text, start_parameter=payload)
    await _answer(query, [], button=button, cache_time=0)
    return None


async def on_inline_query(update: Update, context: Context) -> None:
    query = update.inline_query
    assert query is not None
    user = query.from_user
    async with deps(context).sessions() as session:
        chat = await repo.chats.get_chat(session, user.id)
        account = await repo.accounts.get_default_account(session, user.id)
    _ = translator((chat.language if chat else None) or user.language_code)
    if account is None:
        button = InlineQueryResultsButton(_("🔗 Link your panel"), start_parameter=CONNECT_PAYLOAD)
        await _answer(query, [], button=button, cache_time=0)
        return
    catalog = await _catalog(query, _, account, context)
    if catalog is None:
        return
    offset = _offset(query.offset)
    services, next_offset = page_of(catalog, query.query[:256], offset)
    order_urls = {s.id: create_deep_linked_url(context.bot.username, f"svc_{s.id}") for s in services}
    results = [_result(_, s, account.currency, order_urls[s.id]) for s in services]
    await _answer(query, results, next_offset=next_offset)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(InlineQueryHandler(on_inline_query))
