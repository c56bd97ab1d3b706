"""Panel clients and catalogs per linked account, shared by every handler and job of the process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from bot.catalog import Catalog
from bot.keyvault import KeyVault
from bot.panel import PanelClient

log = logging.getLogger(__name__)


class AccountLike(Protocol):
    id: int | None
    panel_url: str
    key_encrypted: str


class PanelHub:
    """Hands out one PanelClient per account (over the process-wide aiohttp session) and caches catalogs.

    A catalog is fetched at most once per `catalog_ttl` seconds per account, and concurrent requests for the
    same catalog share one fetch. At most `max_catalogs` are kept (the least recently used goes first), each
    with at most `max_services` services (panels with more are cut, with a warning in the log).
    `public_only(url)`: whether clients of that panel may reach public addresses only
    (Settings.panel_public_only).
    """

    def __init__(
        self,
        vault: KeyVault,
        *,
        catalog_ttl: float = 600.0,
        timeout: float = 20.0,
        max_catalogs: int = 50,
        max_services: int = 20_000,
        public_only: Callable[[str], bool] = lambda url: False,
    ) -> None:
        self._vault = vault
        self.catalog_ttl = catalog_ttl
        self._timeout = timeout
        self.max_catalogs = max(1, max_catalogs)
        self.max_services = max(1, max_services)
        self._public_only = public_only
        self._clients: dict[tuple[int, str], PanelClient] = {}
        self._catalogs: OrderedDict[int, Catalog] = OrderedDict()
        self._fetching: dict[int, asyncio.Task[Catalog]] = {}

    def _new_client(self, panel_url: str, key: str) -> PanelClient:
        return PanelClient(panel_url, key, timeout=self._timeout, public_only=self._public_only(panel_url))

    def client_for_key(self, panel_url: str, key: str) -> PanelClient:
        """A client for a key that is not stored yet (checking it while linking)."""
        return self._new_client(panel_url, key)

    def client(self, account: AccountLike) -> PanelClient:
        assert account.id is not None
        cache_key = (account.id, account.key_encrypted)
        client = self._clients.get(cache_key)
        if client is None:
            key = self._vault.decrypt(account.key_encrypted)
            client = self._new_client(account.panel_url, key)
            self._clients[cache_key] = client
        return client

    def clients(self) -> list[PanelClient]:
        """The clients of linked accounts made so far (their `stats` and `last_failure` feed /stats)."""
        return list(self._clients.values())

    def cached_catalog(self, account_id: int) -> Catalog | None:
        """The account's catalog if one is kept and younger than the TTL."""
        cached = self._catalogs.get(account_id)
        if cached is None:
            return None
        if time.monotonic() - cached.fetched_at >= self.catalog_ttl:
            del self._catalogs[account_id]  # expired: nothing keeps it in memory any more
            return None
        self._catalogs.move_to_end(account_id)
        return cached

    async def catalog(self, account: AccountLike, *, refresh: bool = False) -> Catalog:
        assert account.id is not None
        cached = self.cached_catalog(account.id)
        if cached and not refresh:
            return cached
        task = self._fetching.get(account.id)
        if task is None:
            task = asyncio.create_task(self._fetch(account))
            self._fetching[account.id] = task
        return await asyncio.shield(task)

    async def _fetch(self, account: AccountLike) -> Catalog:
        assert account.id is not None
        try:
            services = await self.client(account).services()
            if len(services) > self.max_services:
                log.warning(
                    "account %s: the panel lists %d services; keeping the first %d (SMMBOT_MAX_SERVICES)",
                    account.id,
                    len(services),
                    self.max_services,
                )
                services = services[: self.max_services]
            catalog = Catalog(services)
            self._catalogs[account.id] = catalog
            self._catalogs.move_to_end(account.id)
            while len(self._catalogs) > self.max_catalogs:
                self._catalogs.popitem(last=False)
            return catalog
        finally:
            self._fetching.pop(account.id, None)

    def forget(self, account_id: int) -> None:
        self._catalogs.pop(account_id, None)
        for key in [k for k in self._clients if k[0] == account_id]:
            del self._clients[key]
