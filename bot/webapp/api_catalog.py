"""The Mini App's reads of who and what: /api/me, the catalog (compact, filtered in the page), the
server-side search (kept for comparison, see tests/bench/webapp.py) and one service with its order form."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.catalog import Catalog
from bot.formatting import format_money, plain_description
from bot.keyvault import KeyDecryptError
from bot.order_form import form_fields
from bot.panel import InvalidKey, PanelError, Service
from bot.webapp.catalog_data import CatalogDocuments, search_rows
from bot.webapp.request_context import (
    ApiError,
    Caller,
    Requests,
    account_name,
    body,
    guarded,
    int_param,
    json_response,
)
from bot.webapp.texts import page_texts
from storage import repo
from storage.models import Account

DESCRIPTION_MAX = 2000


def money_text(amount: Any) -> str | None:
    return None if amount is None else format_money(amount)


def service_json(service: Service) -> dict[str, Any]:
    """A service for the page; its description as plain text (panels write HTML fragments)."""
    return {
        "id": service.id,
        "name": service.name,
        "category": service.category,
        "type": service.type,
        "rate": money_text(service.rate) if service.rate is not None else None,
        "min": service.min,
        "max": service.max,
        "refill": service.refill,
        "cancel": service.cancel,
        "dripfeed": service.dripfeed,
        "description": plain_description(service.description or "", DESCRIPTION_MAX) or None,
        "average_time": service.average_time,
    }


class CatalogApi:
    def __init__(self, requests: Requests) -> None:
        self.requests = requests
        self.documents = CatalogDocuments()

    def routes(self, base: str) -> list[web.AbstractRouteDef]:
        return [
            web.get(f"{base}/api/me", guarded(self.me)),
            web.get(f"{base}/api/catalog", guarded(self.catalog)),
            web.get(f"{base}/api/search", guarded(self.search)),
            web.get(f"{base}/api/service", guarded(self.service)),
            web.post(f"{base}/api/favourite", guarded(self.favourite)),
        ]

    async def load_catalog(self, caller: Caller, account: Account) -> Catalog:
        _ = caller._
        try:
            return await self.requests.deps.panels.catalog(account)
        except (InvalidKey, KeyDecryptError):
            raise ApiError(
                502, _("The panel did not accept the API key. Link it again with /connect.")
            ) from None
        except PanelError:
            raise ApiError(
                502, _("The panel is not reachable right now. Please try again in a moment.")
            ) from None

    async def me(self, request: web.Request) -> web.Response:
        caller = await self.requests.caller(request)
        chat = caller.chat
        return json_response(
            {
                "user": {"id": caller.user.id, "first_name": caller.user.first_name},
                "chat": {
                    "id": caller.chat_id,
                    "kind": chat.kind if chat else "private",
                    "title": chat.title if chat else None,
                },
                "lang": caller._.lang,
                "texts": page_texts(caller._),
                "accounts": [
                    {
                        "id": a.id,
                        "name": account_name(a),
                        "currency": a.currency,
                        "balance": money_text(a.last_balance),
                        "default": a.is_default,
                    }
                    for a in caller.accounts
                ],
            }
        )

    async def catalog(self, request: web.Request) -> web.Response:
        caller = await self.requests.caller(request)
        account = caller.account(request.query.get("account"))
        catalog = await self.load_catalog(caller, account)
        async with self.requests.deps.sessions() as session:
            favs = await repo.favorites.list_favorites(session, caller.chat_id, account.id, limit=500)
        head = json.dumps(
            {"account": account.id, "currency": account.currency, "favs": [f.service_id for f in favs]},
            separators=(",", ":"),
        )
        assert account.id is not None
        document = self.documents.document(account.id, catalog)
        # the cached catalog document goes in as it is: no re-encoding of 10,000 rows per request
        response = web.Response(
            body=head[:-1].encode() + b',"catalog":' + document + b"}", content_type="application/json"
        )
        response.enable_compression()  # gzip when the client takes it: a fifth of the bytes for 10,000 rows
        return response

    async def search(self, request: web.Request) -> web.Response:
        caller = await self.requests.caller(request)
        account = caller.account(request.query.get("account"))
        catalog = await self.load_catalog(caller, account)
        return json_response(search_rows(catalog, request.query.get("q", "")[:200]))

    async def service(self, request: web.Request) -> web.Response:
        caller = await self.requests.caller(request)
        account = caller.account(request.query.get("account"))
        service_id = int_param(request.query.get("id"), "id")
        catalog = await self.load_catalog(caller, account)
        service = catalog.get(service_id or 0)
        if service is None:
            raise ApiError(404, caller._("No service with id {id} on your panel.", id=service_id))
        async with self.requests.deps.sessions() as session:
            favourite = await repo.favorites.is_favorite(session, caller.chat_id, account.id or 0, service.id)
        return json_response(
            {
                "account": account.id,
                "currency": account.currency,
                "balance": money_text(account.last_balance),
                "service": service_json(service),
                "favourite": favourite,
                "fields": form_fields(caller._, service),
            }
        )

    async def favourite(self, request: web.Request) -> web.Response:
        """Star or unstar a service of the account (the chat's favourites, shared with /services)."""
        data = await body(request)
        caller = await self.requests.caller(request, write=True, action="favourite", chat=data.get("chat"))
        account = caller.account(data.get("account"))
        service_id = int_param(data.get("service"), "service")
        catalog = await self.load_catalog(caller, account)
        if service_id is None or catalog.get(service_id) is None:
            raise ApiError(404, caller._("No service with id {id} on your panel.", id=service_id))
        assert account.id is not None
        async with self.requests.deps.sessions() as session:
            if data.get("on"):
                await repo.favorites.add_favorite(session, caller.chat_id, account.id, service_id)
            else:
                await repo.favorites.remove_favorite(session, caller.chat_id, account.id, service_id)
            await session.commit()
            starred = await repo.favorites.is_favorite(session, caller.chat_id, account.id, service_id)
        return json_response({"service": service_id, "favourite": starred})
