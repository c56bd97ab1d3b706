"""Panel accounts: linking and unlinking API keys to chats, the panel URL policy, reading balances.
The keys are encrypted at rest by bot/keyvault.py."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.deps import Deps
from bot.panel import AddressNotAllowed, Balance, display_url
from storage import repo
from storage.models import Account
from storage.repo.accounts import AccountExistsError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------- linking and unlinking
# Domain functions over the process's Deps (settings, sessions, vault, panels); no Telegram here.


class PanelNotAllowed(ValueError):
    """The panel URL is not among SMMBOT_ALLOWED_PANELS (or is not an http(s) URL at all), or, with `*`,
    not a public https panel (plain http, `user:pass@`, a private address, a name resolving to one)."""


class PanelNotPublic(PanelNotAllowed):
    """The panel's host resolves to no public internet address (checked when linking, by connecting)."""


class TooManyAccounts(ValueError):
    """The chat has SMMBOT_MAX_ACCOUNTS_PER_CHAT accounts linked already."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a chat may link at most {limit} panel accounts")
        self.limit = limit


def panel_display_host(url: str) -> str:
    """host[:port] of a panel URL, never with a `user:pass@` part (panels linked before it was refused)."""
    return urlsplit(display_url(url)).netloc or display_url(url)


async def accounts_left(deps: Deps, chat_id: int) -> int:
    """How many more accounts the chat may link (0: it is at SMMBOT_MAX_ACCOUNTS_PER_CHAT)."""
    async with deps.sessions() as session:
        linked = len(await repo.accounts.list_accounts(session, chat_id))
    return max(0, deps.settings.max_accounts_per_chat - linked)


def normalize_panel_url(url: str) -> str:
    return url.strip().rstrip("/")


def is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)


def check_panel_url(deps: Deps, url: str) -> str:
    """The normalized URL if chats may link it; PanelNotAllowed otherwise."""
    url = normalize_panel_url(url)
    if not is_http_url(url) or not deps.settings.panel_allowed(url):
        raise PanelNotAllowed(url)
    return url


async def _linked_twin(
    session: AsyncSession, chat_id: int, panel_url: str, fingerprint: str
) -> Account | None:
    for account in await repo.accounts.list_accounts(session, chat_id):
        if account.panel_url == panel_url and account.key_fingerprint == fingerprint:
            return account
    return None


async def link_account(
    deps: Deps, chat_id: int, panel_url: str, key: str, *, chat_kind: str | None = None
) -> tuple[Account, Balance]:
    """Check `key` with the panel's `balance`, then store it encrypted for the chat.

    Raises PanelNotAllowed (also when the host resolves to a non-public address and only public ones are
    allowed); AccountExistsError (already linked, found before asking the panel); TooManyAccounts; and the
    panel's errors as they come (InvalidKey, PanelUnavailable, RateLimited, other PanelError).
    """
    url = check_panel_url(deps, panel_url)
    key = key.strip()
    fingerprint = deps.vault.fingerprint(key)
    async with deps.sessions() as session:
        twin = await _linked_twin(session, chat_id, url, fingerprint)
        linked = len(await repo.accounts.list_accounts(session, chat_id))
    if twin is not None:
        raise AccountExistsError(twin)
    if linked >= deps.settings.max_accounts_per_chat:
        raise TooManyAccounts(deps.settings.max_accounts_per_chat)
    client = deps.panels.client_for_key(url, key)
    client.read_retries = min(client.read_retries, 1)  # a person is waiting: one retry, then say so
    try:
        balance = await client.balance()  # resolves the host now: a name pointing inside is refused here
    except AddressNotAllowed:
        raise PanelNotPublic(url) from None
    finally:
        await client.close()
    async with deps.sessions() as session:
        if await repo.chats.get_chat(session, chat_id) is None:
            kind = chat_kind or ("private" if chat_id > 0 else "group")
            await repo.chats.get_or_create_chat(session, chat_id, kind=kind)
        account = await repo.accounts.add_account(
            session, chat_id, url, deps.vault.encrypt(key), fingerprint, currency=balance.currency
        )
        assert account.id is not None
        await repo.accounts.record_balance(session, account.id, balance.amount, balance.currency)
        await session.commit()
    log.info("chat %s linked account %s on %s", chat_id, account.id, display_url(client.url))
    return account, balance


async def unlink_account(deps: Deps, chat_id: int, account_id: int) -> bool:
    """Unlink one of the chat's accounts; False when it is not a linked account of that chat."""
    async with deps.sessions() as session:
        removed = await repo.accounts.remove_account(session, account_id, chat_id)
        await session.commit()
    if removed:
        deps.panels.forget(account_id)
        log.info("chat %s unlinked account %s", chat_id, account_id)
    return removed


async def read_balance(deps: Deps, account: Account) -> Balance:
    """The account's balance fresh from the panel, recorded on its row (and on `account`). Panel errors
    propagate."""
    assert account.id is not None
    balance = await deps.panels.client(account).balance()
    async with deps.sessions() as session:
        stored = await repo.accounts.record_balance(session, account.id, balance.amount, balance.currency)
        await session.commit()
    if stored is not None:
        account.last_balance = stored.last_balance
        account.currency = stored.currency
        account.balance_checked_at = stored.balance_checked_at
    return balance
