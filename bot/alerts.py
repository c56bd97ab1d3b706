"""Low-balance alerts: a repeating job reads the balance of every account whose chat set a threshold, and a
check right after an order was placed. No Telegram here: the alert is an outbox row.

Hysteresis per chat (chat.balance_alert_sent): one alert when a balance is under the threshold, none while
it stays there, and the flag is cleared only once every known balance of the chat is back at or above the
threshold, so the next drop alerts again. The flag flips with a conditional UPDATE in the same transaction as
the outbox row: two checks at once (the job and an order) alert once. The chat's "notifications" switch is
about order messages; the balance alert has its own switch (clearing the threshold).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import notices
from bot.panel import Balance
from storage import repo
from storage.models import Account, Chat

if TYPE_CHECKING:
    from bot.deps import Deps

log = logging.getLogger(__name__)

CONCURRENCY = 16  # balance requests in flight over all accounts
READ_BUDGET = 30.0  # seconds for one balance read, the client's retries included


@dataclass
class BalanceReport:
    accounts: int = 0
    checked: int = 0  # balances read
    failed: int = 0  # accounts whose panel did not answer (their last known balance counts)
    alerts: int = 0  # alerts queued
    resets: int = 0  # chats back above their threshold (armed again)
    duration_s: float = 0.0


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


async def evaluate_chat(session: AsyncSession, chat_id: int, report: BalanceReport) -> bool:
    """Compare the chat's known balances with its threshold; queue an alert or re-arm it. True if alerted.
    Call it after recording the balances, in the same transaction."""
    chat = await session.get(Chat, chat_id, populate_existing=True)
    if chat is None or chat.low_balance_threshold is None or not chat.active:
        return False
    threshold = chat.low_balance_threshold
    known = [a for a in await repo.accounts.list_accounts(session, chat_id) if a.last_balance is not None]
    if not known:
        return False
    low = [a for a in known if a.last_balance is not None and a.last_balance < threshold]
    if not low:
        if await repo.chats.set_balance_alert_sent(session, chat_id, False):
            report.resets += 1
        return False
    if not await repo.chats.set_balance_alert_sent(session, chat_id, True):
        return False  # alerted before, and not back above the threshold since
    hosts = {a.id or 0: _host(a.panel_url) for a in low} if len(known) > 1 else None
    notice = notices.low_balance(chat, low, hosts)
    # The flag makes it once per crossing; the key only names the kind of message (unique per alert).
    key = f"balance:{chat_id}:{secrets.token_hex(6)}"
    await repo.outbox.enqueue(session, chat_id, notice.text, notice.buttons, dedupe_key=key)
    report.alerts += 1
    return True


async def balance_cycle(
    deps: Deps, now: datetime | None = None, *, concurrency: int = CONCURRENCY
) -> BalanceReport:
    """Read the balance of every account with an alert threshold (in parallel, bounded) and evaluate each
    chat in a transaction of its own. Panel trouble is logged and leaves that account's last balance.
    `now` is taken like poll_cycle's, for one calling convention; no decision here depends on the time."""
    started = time.perf_counter()
    report = BalanceReport()
    async with deps.sessions() as s:
        pairs = await repo.accounts.accounts_with_alerts(s)
    report.accounts = len(pairs)
    limit = asyncio.Semaphore(concurrency)

    async def read(account: Account) -> Balance | None:
        async with limit:
            try:
                async with asyncio.timeout(READ_BUDGET):
                    return await deps.panels.client(account).balance()
            except Exception as exc:  # panel errors, timeouts, a key that no longer decrypts
                log.info("balance of account %s unavailable: %s", account.id, exc)
                return None

    balances = await asyncio.gather(*(read(account) for account, _ in pairs))
    by_chat: dict[int, list[tuple[Account, Balance | None]]] = defaultdict(list)
    for (account, chat), balance in zip(pairs, balances, strict=True):
        by_chat[chat.id].append((account, balance))
    for chat_id, read_back in by_chat.items():
        async with deps.sessions() as s:
            for account, balance in read_back:
                if balance is None:
                    report.failed += 1
                    continue
                report.checked += 1
                assert account.id is not None
                await repo.accounts.record_balance(s, account.id, balance.amount, balance.currency)
            await evaluate_chat(s, chat_id, report)
            await s.commit()
    report.duration_s = round(time.perf_counter() - started, 3)
    if pairs:
        log.info("balance cycle: %s", report)
    return report


async def check_balance_after_order(
    deps: Deps | async_sessionmaker[AsyncSession],
    account_id: int,
    balance: Balance,
) -> bool:
    """Record the balance read right after an order and alert if it is now under the chat's threshold.
    Best effort (the order's result matters more): failures are logged. True when an alert was queued."""
    sessions: Any = deps if isinstance(deps, async_sessionmaker) else deps.sessions
    try:
        async with sessions() as s:
            account = await repo.accounts.record_balance(s, account_id, balance.amount, balance.currency)
            if account is None:
                return False
            alerted = await evaluate_chat(s, account.chat_id, BalanceReport())
            await s.commit()
            return alerted
    except Exception:
        log.warning("low-balance check after an order failed (account %s)", account_id, exc_info=True)
        return False


__all__ = ["BalanceReport", "balance_cycle", "check_balance_after_order", "evaluate_chat"]
