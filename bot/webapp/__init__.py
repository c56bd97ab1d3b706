"""The Telegram Mini App: catalog, order form and orders dashboard, served by the bot's own aiohttp server
(bot/web.py) under the path of SMMBOT_WEBAPP_URL.

    auth.py          initData (Telegram's signature) -> the user
    access.py        which chat's accounts the user may reach (admins only in groups)
    request_context.py  what every API request goes through (auth, access, rate limits, JSON errors)
    api_catalog.py   /api/me, /api/catalog (compact, filtered in the page), /api/search, /api/service
    api_order.py     /api/quote, /api/draft, /api/confirm (ordering.place_order: exactly once)
    api_orders.py    /api/orders, /api/orders/<id>/<refresh|refill|cancel>, /api/spend.svg
    pages.py         the page, its static files and the security headers
The domain work is bot/order_form.py, bot/ordering.py and bot/order_requests.py; nothing here imports
handlers/.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, MenuButtonWebApp, WebAppInfo
from telegram.error import TelegramError

from bot.webapp.api_catalog import CatalogApi
from bot.webapp.api_order import OrderApi
from bot.webapp.api_orders import OrdersApi
from bot.webapp.pages import page_routes, security_middleware
from bot.webapp.request_context import App, Requests

log = logging.getLogger(__name__)


def webapp_path(url: str) -> str:
    """Where the app is served: the path of its public URL, without a trailing slash."""
    return urlsplit(url).path.rstrip("/")


def install(app: web.Application, application: App) -> str:
    """Add the Mini App's routes and headers to our aiohttp app; returns the path it is served at."""
    settings = application.bot_data["deps"].settings
    assert settings.webapp_url
    base = webapp_path(settings.webapp_url)
    requests = Requests(application)
    catalogs = CatalogApi(requests)
    app.middlewares.append(security_middleware(base))
    app.add_routes(page_routes(base, telegram_js=settings.webapp_url.startswith("https://")))
    app.add_routes(catalogs.routes(base))
    app.add_routes(OrderApi(requests, catalogs).routes(base))
    app.add_routes(OrdersApi(requests).routes(base))
    return base


MENU_TEXT = "📱 App"  # the default menu button is one for every language: short and neutral


async def publish_menu_button(bot: Bot, url: str) -> None:
    """Every private chat's menu button opens the app (the default, set once at start)."""
    try:
        await bot.set_chat_menu_button(menu_button=MenuButtonWebApp(MENU_TEXT, WebAppInfo(url)))
    except TelegramError as exc:  # the bot works without it; say why once
        log.warning("Could not set the Mini App menu button: %s", exc)
