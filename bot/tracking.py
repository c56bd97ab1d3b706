"""Status tracking: one repeating job reads the status of every due order and refill from the panels and
queues a message per change. No Telegram here (bot/jobs.py schedules it; the delivery sends the outbox).

A cycle takes the due orders (placed, not final, next_poll_at passed, account linked; a chat that blocked the
bot is tracked quietly), groups them by account and asks multi-status in chunks of at most 100 ids: at most
PER_ACCOUNT requests in flight per account and `concurrency` over all accounts. Each chunk's answer is written
in ONE transaction: the new status/remains/start count/charge, the next poll time and, for a change the chat
should hear about, an outbox row with a dedupe key. So a stored change is queued exactly once, even across a
crash or a re-run: a cycle cut short leaves the rest of its orders due, and the next cycle finds them
unchanged in the database.

Messages: a status change (normalized: "Cancelled" == "Canceled"; a never-read status counts as Pending, what
the user saw at placement). A change of the remains alone is stored (it is progress: polling stays frequent,
the order is not "stuck") but not announced: an order in progress would otherwise send a message every cycle.
A newer message about an order replaces its older ones still unsent (they are marked failed "superseded").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import notices
from bot.panel import (
    InvalidKey,
    NotFound,
    OrderStatus,
    PanelUnavailable,
    RateLimited,
    RefillStatus,
    chunk_ids,
    normalize_status,
)
from storage import repo
from storage.models import Chat, Order, Placement, Refill
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.deps import Deps

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 60.0  # seconds; SMMBOT_POLL_INTERVAL's default, for callers without settings
MAX_BACKOFF = timedelta(minutes=15)  # an order unchanged for long is still looked at this often
NOT_FOUND_GRACE = timedelta(minutes=10)  # "Incorrect order ID" this soon after `add` is the panel's lag
STUCK_AFTER = timedelta(hours=12)  # no progress this long: one "looks stuck" message
CONCURRENCY = 16  # panel requests in flight over all accounts
PER_ACCOUNT = 4  # ... and per account (PanelClient's own bound is the same)
CHUNK_BUDGET = 45.0  # seconds for one multi-status request, the client's retries included
MAX_DUE = 20_000  # orders (and refills) taken per cycle; the rest wait for the next one
IN_BATCH = 5_000  # ids per IN (...) list (asyncpg takes at most 32767 parameters)


@dataclass
class CycleReport:
    due_orders: int = 0
    due_refills: int = 0
    accounts: int = 0
    requests: int = 0  # multi-status requests (chunks) sent, retries not counted
    changes: int = 0  # orders/refills whose status or remains changed
    notices: int = 0  # outbox rows queued
    failed_chunks: int = 0  # chunks without an answer (panel unavailable, rate limited, key refused)
    duration_s: float = 0.0


def _slack(interval: timedelta) -> timedelta:
    # The next cycle starts `interval` after this one: a tiny margin keeps a fresh order due then.
    return min(timedelta(seconds=2), interval / 10)


def backoff(now: datetime, last_change: datetime | None, interval: float = DEFAULT_INTERVAL) -> datetime:
    """Every cycle while fresh, then a quarter of the time without change, at most MAX_BACKOFF."""
    base = timedelta(seconds=interval)
    quiet = max(timedelta(0), now - (last_change or now))
    step = max(base, min(MAX_BACKOFF, quiet / 4))
    return now + step - _slack(base)


def next_poll_time(order: Order, now: datetime | None = None, interval: float = DEFAULT_INTERVAL) -> datetime:
    """When the tracker should look at this order again (from its last seen change, else its placement)."""
    now = now or utcnow()
    return backoff(now, order.progress_at or order.placed_at, interval)


def _later(now: datetime, interval: float, factor: int) -> datetime:
    base = timedelta(seconds=interval)
    return now + min(max(MAX_BACKOFF, base), base * factor)


@dataclass
class _Outgoing:
    chat_id: int
    key: str
    notice: notices.Notice
    replaces: list[str]  # LIKE patterns of the older unsent messages it supersedes


def _wants_messages(chat: Chat | None) -> bool:
    return chat is not None and chat.notifications_enabled and chat.active


class _Cycle:
    def __init__(self, deps: Deps, now: datetime, stuck_after: timedelta, concurrency: int) -> None:
        self.deps = deps
        self.now = now
        self.interval = deps.settings.poll_interval
        self.stuck_after = stuck_after
        self.report = CycleReport()
        self.chats: dict[int, Chat] = {}  # read once per cycle
        self.labels: dict[int, str] = {}  # account id -> label, named in notices when set
        self.requests = asyncio.Semaphore(concurrency)
        self.per_account: dict[int, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(PER_ACCOUNT))
        # SQLite has one writer: chunks queue for it here rather than in its busy timeout.
        sqlite = deps.engine.dialect.name == "sqlite"
        self.writers = asyncio.Semaphore(1 if sqlite else 4)

    # ------------------------------------------------------------------------------------------ plumbing

    async def ask(self, account_id: int, client: Any, method: str, ids: list[int]) -> dict[int, Any]:
        """One multi request under both concurrency bounds; a request that fails as a whole gives its error
        to each id (the client does that; a blown time budget is done the same way here)."""
        if client is None:  # the stored key cannot be used: nothing to ask with
            return dict.fromkeys(ids, InvalidKey("the stored key cannot be decrypted"))
        async with self.per_account[account_id], self.requests:
            self.report.requests += 1
            try:
                async with asyncio.timeout(CHUNK_BUDGET):
                    answers: dict[int, Any] = await getattr(client, method)(ids)
            except TimeoutError:
                answers = dict.fromkeys(ids, PanelUnavailable("no answer within the tracker's time budget"))
        if isinstance(answers.get(ids[0]), PanelUnavailable | RateLimited | InvalidKey):
            self.report.failed_chunks += 1
        return answers

    async def send(self, s: AsyncSession, outgoing: list[_Outgoing]) -> None:
        """Queue the chunk's messages (one INSERT), superseding older unsent ones about the same orders."""
        if not outgoing:
            return
        keys = [o.key for o in outgoing]
        patterns = [p for o in outgoing for p in o.replaces]
        await repo.outbox.supersede_pending(s, {o.chat_id for o in outgoing}, patterns, keep=keys)
        rows = [
            {"chat_id": o.chat_id, "text": o.notice.text, "buttons": o.notice.buttons, "dedupe_key": o.key}
            for o in outgoing
        ]
        self.report.notices += await repo.outbox.enqueue_many(s, rows)

    # ------------------------------------------------------------------------------------------ orders

    def older_notices(self, order: Order) -> list[str]:
        """LIKE patterns of the order's earlier messages a new one supersedes; none when it cannot have had
        any (never announced, never "gone", never quiet long enough to be "stuck"): saves a statement."""
        quiet_since = order.progress_at or order.placed_at or self.now
        if (
            order.last_notified_status is None
            and order.error is None
            and self.now - quiet_since < self.stuck_after
        ):
            return []
        return [f"order:{order.id}:%", f"stuck:{order.id}"]

    async def orders_chunk(self, account_id: int, client: Any, chunk: dict[int, list[Order]]) -> None:
        """Ask about one chunk (panel id -> our orders), decide in memory, write it all in one transaction.
        The orders are those read at the start of the cycle (seconds ago). A person's Refresh in between may
        be overwritten by this slightly older answer; the next cycle reads the panel again and corrects it."""
        answers = await self.ask(account_id, client, "statuses", list(chunk))
        results: list[tuple[Order, list[_Outgoing]]] = []
        for pid, orders in chunk.items():
            for order in orders:
                outgoing: list[_Outgoing] = []
                self.order_result(order, self.chats.get(order.chat_id), answers.get(pid), outgoing)
                results.append((order, outgoing))
        try:
            await self.write_orders(results)
        except Exception:
            # One order's row must not hold back the others of its chunk cycle after cycle: write them one
            # by one; the one that fails again stays as it was in the database (due, retried next cycle).
            log.exception(
                "tracking: writing a chunk of %d orders failed; writing them one by one", len(results)
            )
            for result in results:
                try:
                    await self.write_orders([result])
                except Exception:
                    log.exception("tracking: order %s could not be written", result[0].id)

    async def write_orders(self, results: list[tuple[Order, list[_Outgoing]]]) -> None:
        """The polled orders and their messages, in one transaction."""
        async with self.writers, self.deps.sessions() as s:
            await repo.polls.save_polls(s, [order for order, _ in results])
            await self.send(s, [o for _, outgoing in results for o in outgoing])
            await s.commit()

    def order_result(self, order: Order, chat: Chat | None, answer: Any, outgoing: list[_Outgoing]) -> None:
        now, interval = self.now, self.interval
        apply = repo.polls.apply_poll
        if isinstance(answer, OrderStatus):
            self.order_status(order, chat, answer, outgoing)
        elif isinstance(answer, NotFound):
            if now - (order.placed_at or now) < NOT_FOUND_GRACE:  # right after `add`: the panel lags
                apply(order, now, backoff(now, now, interval))
                return
            text = (answer.panel_message or answer.message).strip()
            first = order.error != text
            apply(order, now, now + MAX_BACKOFF, error=text)
            if first:
                self.report.changes += 1
                if _wants_messages(chat):
                    notice = notices.order_gone(chat, order, text, self.labels.get(order.account_id))
                    replaces = self.older_notices(order)
                    outgoing.append(_Outgoing(order.chat_id, f"order:{order.id}:gone", notice, replaces))
        elif isinstance(answer, PanelUnavailable):  # asked again next cycle: news soon after it is back
            apply(order, now, backoff(now, now, interval))
        elif isinstance(answer, RateLimited):
            apply(order, now, _later(now, interval, 2))
        elif isinstance(answer, InvalidKey):
            apply(order, now, _later(now, interval, 15))
        else:  # an odd answer for this id: as if unchanged
            apply(order, now, next_poll_time(order, now, interval))

    def order_status(
        self, order: Order, chat: Chat | None, answer: OrderStatus, outgoing: list[_Outgoing]
    ) -> None:
        now = self.now
        old = order.status
        old_norm, new_norm = (normalize_status(old) if old else None), answer.normalized
        remains_changed = answer.remains is not None and answer.remains != order.remains
        progressed = new_norm != old_norm or remains_changed
        last_change = now if progressed else (order.progress_at or order.placed_at or now)
        announce = (old_norm or "Pending") != new_norm and _wants_messages(chat)
        replaces = self.older_notices(order) if announce else []  # before apply_poll changes the order
        repo.polls.apply_poll(
            order,
            now,
            None if answer.is_final else backoff(now, last_change, self.interval),
            status=answer.status,
            remains=answer.remains,
            start_count=answer.start_count,
            charge=answer.charge,
            progressed=progressed,
            error=None,
            notified=announce,
        )
        if progressed:
            self.report.changes += 1
        if announce:
            key = f"order:{order.id}:{new_norm}:{order.remains}"
            outgoing.append(
                _Outgoing(
                    order.chat_id,
                    key,
                    notices.order_changed(chat, order, old, self.labels.get(order.account_id)),
                    replaces,
                )
            )
        elif not answer.is_final and now - last_change >= self.stuck_after and _wants_messages(chat):
            # offered again each time it is polled while stuck; its dedupe key makes it once
            notice = notices.order_stuck(chat, order, now - last_change, self.labels.get(order.account_id))
            outgoing.append(_Outgoing(order.chat_id, f"stuck:{order.id}", notice, []))

    # ------------------------------------------------------------------------------------------ refills

    async def refills_chunk(self, account_id: int, client: Any, chunk: dict[int, list[int]]) -> None:
        """Refills are few: read back in the write transaction and updated through the ORM."""
        answers = await self.ask(account_id, client, "refill_statuses", list(chunk))
        outgoing: list[_Outgoing] = []
        async with self.writers, self.deps.sessions() as s:
            for refill, order in await repo.refills.refills_by_ids(
                s, [i for ids in chunk.values() for i in ids]
            ):
                if refill.placement == Placement.placed and refill.panel_refill_id is not None:
                    chat = self.chats.get(refill.chat_id)
                    await self.refill_result(
                        s, refill, order, chat, answers.get(refill.panel_refill_id), outgoing
                    )
            await self.send(s, outgoing)
            await s.commit()

    async def refill_result(
        self,
        s: AsyncSession,
        refill: Refill,
        order: Order,
        chat: Chat | None,
        answer: Any,
        outgoing: list[_Outgoing],
    ) -> None:
        now, interval = self.now, self.interval
        if not isinstance(answer, RefillStatus):
            if isinstance(answer, PanelUnavailable):
                nxt = backoff(now, now, interval)
            else:
                nxt = _later(now, interval, 2 if isinstance(answer, RateLimited) else 15)
            await repo.refills.apply_refill_status(s, refill, None, nxt)
            return
        old = refill.status
        old_norm, new_norm = (normalize_status(old) if old else None), answer.normalized
        nxt = None if answer.is_final else backoff(now, refill.created_at, interval)
        await repo.refills.apply_refill_status(s, refill, answer.status, nxt)
        if new_norm != old_norm:
            self.report.changes += 1
        if (old_norm or "Pending") != new_norm and _wants_messages(chat):
            await repo.refills.mark_refill_notified(s, refill, refill.status)
            notice = notices.refill_changed(chat, refill, order, old)
            key = f"refill:{refill.id}:{new_norm}"
            outgoing.append(_Outgoing(refill.chat_id, key, notice, [f"refill:{refill.id}:%"]))


def _chunks(grouped: dict[int, list[Any]]) -> list[dict[int, list[Any]]]:
    """panel id -> rows, in chunks of at most 100 panel ids (one request each)."""
    return [{pid: grouped[pid] for pid in ids} for ids in chunk_ids(grouped)]


async def _load(
    s: AsyncSession, cycle: _Cycle, limit: int
) -> tuple[dict[int, Any], dict[int, Any], dict[int, Any]]:
    """Due orders and refills grouped by account (then panel id), and the accounts."""
    now = cycle.now
    due = await repo.orders.due_orders(s, now, limit)
    refills = await repo.refills.due_refills(s, now, limit)
    orders: dict[int, dict[int, list[Order]]] = defaultdict(lambda: defaultdict(list))
    for order in due:
        if order.panel_order_id:
            orders[order.account_id][order.panel_order_id].append(order)
    fills: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for refill, order in refills:
        if refill.panel_refill_id and refill.id:
            fills[order.account_id][refill.panel_refill_id].append(refill.id)
    ids = sorted(set(orders) | set(fills))
    accounts = {}
    chat_ids = sorted({o.chat_id for o in due} | {r.chat_id for r, _ in refills})
    for i in range(0, max(len(ids), len(chat_ids)), IN_BATCH):  # IN lists of bounded size
        accounts.update(await repo.accounts.accounts_by_ids(s, ids[i : i + IN_BATCH]))
        cycle.chats.update(await repo.chats.chats_by_ids(s, chat_ids[i : i + IN_BATCH]))
    # refills of unlinked accounts cannot be asked about (due_orders leaves such orders out already)
    for refill, order in refills:
        account = accounts.get(order.account_id)
        if account is None or account.removed_at is not None:
            fills.pop(order.account_id, None)
            await repo.refills.apply_refill_status(s, refill, None, now + MAX_BACKOFF)
    cycle.report.due_orders, cycle.report.due_refills = len(due), len(refills)
    return orders, fills, accounts


async def poll_cycle(
    deps: Deps,
    now: datetime | None = None,
    *,
    stuck_after: timedelta = STUCK_AFTER,
    concurrency: int = CONCURRENCY,
    limit: int = MAX_DUE,
) -> CycleReport:
    """One tracking cycle over every due order and refill. Panel trouble is never raised: it postpones
    the orders concerned. `now` lets tests move time (the simulator's clock must move with it)."""
    started = time.perf_counter()
    cycle = _Cycle(deps, now or utcnow(), stuck_after, concurrency)
    report = cycle.report
    async with deps.sessions() as s:
        orders, fills, accounts = await _load(s, cycle, limit)
        await s.commit()
    cycle.labels = {aid: a.label for aid, a in accounts.items() if a.label}
    report.accounts = len(set(orders) | set(fills))

    async def guarded(coro: Any, account_id: int) -> None:
        try:
            await coro
        except Exception:  # one account's bad luck (or our bug) must not stop the others
            log.exception("tracking: account %s failed in this cycle", account_id)

    async with asyncio.TaskGroup() as tasks:
        for account_id in sorted(set(orders) | set(fills)):
            client = None
            with contextlib.suppress(Exception):  # e.g. a key that no longer decrypts: postponed
                client = deps.panels.client(accounts[account_id])
            for chunk in _chunks(orders.get(account_id, {})):
                tasks.create_task(guarded(cycle.orders_chunk(account_id, client, chunk), account_id))
            for chunk in _chunks(fills.get(account_id, {})):
                tasks.create_task(guarded(cycle.refills_chunk(account_id, client, chunk), account_id))
    report.duration_s = round(time.perf_counter() - started, 3)
    if report.due_orders or report.due_refills:
        log.info("tracking cycle: %s", report)
    return report


__all__ = [
    "MAX_BACKOFF",
    "NOT_FOUND_GRACE",
    "STUCK_AFTER",
    "CycleReport",
    "backoff",
    "next_poll_time",
    "poll_cycle",
]
