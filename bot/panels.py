"""Panel clients and catalogs per linked account, shared by every handler and job of the process."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from bot.catalog import Catalog
from bot.keyvault import KeyVault
from bot.panel import PanelClient


class AccountLike(Protocol):
    id: int | None
    panel_url: str
    key_encrypted: str


class PanelHub:
    """Hands out one PanelClient per account (over the process-wide aiohttp session) and caches catalogs.

    A catalog is fetched at most once per `catalog_ttl` seconds per account, and concurrent requests for the
    same catalog share one fetch.
    """

    def __init__(self, vault: KeyVault, *, catalog_ttl: float = 600.0, timeout: float = 20.0) -> None:
        self._vault = vault
        self._catalog_ttl = catalog_ttl
        self._timeout = timeout
        self._clients: dict[tuple[int, str], PanelClient] = {}
        self._catalogs: dict[int, Catalog] = {}
        self._fetching: dict[int, asyncio.Task[Catalog]] = {}

    def client_for_key(self, panel_url: str, key: str) -> PanelClient:
        """A client for a key that is not stored yet (checking it while linking)."""
        return PanelClient(panel_url, key, timeout=self._timeout)

    def client(self, account: AccountLike) -> PanelClient:
        assert account.id is not None
        cache_key = (account.id, account.key_encrypted)
        client = self._clients.get(cache_key)
        if client is None:
            key = self._vault.decrypt(account.key_encrypted)
            client = PanelClient(account.panel_url, key, timeout=self._timeout)
            self._clients[cache_key] = client
        return client

    def clients(self) -> list[PanelClient]:
        """The clients of linked accounts made so far (their `stats` and `last_failure` feed /stats)."""
        return list(self._clients.values())

    def cached_catalog(self, account_id: int) -> Catalog | None:
        return self._catalogs.get(account_id)

    async def catalog(self, account: AccountLike, *, refresh: bool = False) -> Catalog:
        assert account.id is not None
        cached = self._catalogs.get(account.id)
        if cached and not refresh and time.monotonic() - cached.fetched_at < self._catalog_ttl:
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
            catalog = Catalog(services)
            self._catalogs[account.id] = catalog
            return catalog
        finally:
            self._fetching.pop(account.id, None)

    def forget(self, account_id: int) -> None:
        self._catalogs.pop(account_id, None)
        for key in [k for k in self._clients if k[0] == account_id]:
            del self._clients[key]
