"""What every API request of the Mini App goes through: who asks (initData), for which chat (access), in
which language, within which rate limits, and how failures are answered (JSON with a readable message)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram.ext import Application

from bot.deps import Deps
from bot.i18n import Translator, translator
from bot.webapp.access import AccessDenied, ChatAccess
from bot.webapp.auth import AuthError, WebAppUser, header_init_data, verify_init_data
from storage import repo
from storage.models import Account, Chat

log = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, Any, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


@dataclass
class Caller:
    """One authenticated request: the user, the chat it acts on, the chat's accounts, the words."""

    user: WebAppUser
    chat_id: int
    chat: Chat | None
    accounts: list[Account]
    _: Translator

    def account(self, wanted: Any) -> Account:
        """The account asked for (an id from the page) if it is one of the chat's; else the default."""
        if not self.accounts:
            raise ApiError(404, self._("No panel is linked to this chat yet."))
        if wanted in (None, "", "0", 0):
            return next((a for a in self.accounts if a.is_default), self.accounts[0])
        try:
            wanted_id = int(wanted)
        except (TypeError, ValueError):
            raise ApiError(400, "account must be a number") from None
        found = next((a for a in self.accounts if a.id == wanted_id), None)
        if found is None:
            raise ApiError(404, self._("This panel is not linked any more."))
        return found


def account_name(account: Account) -> str:
    return account.label or urlsplit(account.panel_url).netloc or account.panel_url


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode(),
        status=status,
        content_type="application/json",
    )


def int_param(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name} must be a number") from None


class Requests:
    """Shared by the API modules: one per running Application."""

    def __init__(self, application: App) -> None:
        self.application = application
        self.access = ChatAccess(application.bot)

    @property
    def deps(self) -> Deps:
        return self.application.bot_data["deps"]

    def user(self, request: web.Request) -> WebAppUser:
        settings = self.deps.settings
        assert settings.telegram_bot_token is not None
        raw = header_init_data(request.headers.get("Authorization"))
        try:
            return verify_init_data(
                raw, settings.telegram_bot_token.get_secret_value(), max_age=settings.webapp_auth_max_age
            )
        except AuthError as exc:
            log.info("Mini App request refused (%s) from %s", exc.reason, request.remote)
            raise ApiError(
                401, translator(None)("Open this page from the bot in Telegram."), reason=exc.reason
            ) from None

    async def caller(
        self, request: web.Request, *, write: bool = False, action: str = "read", chat: Any = None
    ) -> Caller:
        user = self.user(request)
        _ = translator(user.language_code)
        wait = self.deps.rate_limits.retry_after(user.id, action)
        if wait is not None:
            raise ApiError(
                429,
                _("Too many requests; try again in {seconds} s.", seconds=int(wait) + 1),
                retry_after=wait,
            )
        requested = int_param(chat if chat is not None else request.query.get("chat"), "chat")
        try:
            chat_id = await self.access.chat_for(user, requested, write=write)
        except AccessDenied as exc:
            raise ApiError(403, _("Only the group's admins may do this."), reason=exc.reason) from None
        async with self.deps.sessions() as session:
            chat_row = await repo.chats.get_chat(session, chat_id)
            accounts = await repo.accounts.list_accounts(session, chat_id)
        if chat_row is not None and chat_row.language:
            _ = translator(chat_row.language)
        return Caller(user, chat_id, chat_row, accounts, _)


def guarded(handler: Handler) -> Handler:
    """ApiError (and bad JSON) as a JSON answer with its status; anything else is logged and answered 500
    without details."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return json_response({"error": exc.message, **exc.extra}, exc.status)
        except json.JSONDecodeError:
            return json_response({"error": "the request body is not JSON"}, 400)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("Mini App request %s %s failed", request.method, request.path)
            return json_response({"error": "internal error"}, 500)

    return wrapper


async def body(request: web.Request) -> dict[str, Any]:
    data = await request.json()
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data
