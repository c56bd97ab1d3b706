"""Delivery: the outbox, pushed to Telegram within its flood limits, in order per chat, each message once.

One background task (`Deliverer.start`) looks for chats whose oldest pending outbox row is due and runs one
worker per such chat; workers of different chats run in parallel, a chat's rows go strictly one after the
other (the next row is not sent before the previous one is sent or given up: a row waiting for a retry holds
back the chat's later rows). Pacing is ours, with aiolimiter: `overall_rate` messages/s overall,
`per_chat_interval` seconds between two messages of a chat, `group_per_minute` in a group. The limiters allow
no burst (leaky buckets of capacity about 1): Telegram counts in sliding windows, and a bucket that allows a
burst of 30 would allow 60 in some second.

Outcomes of one attempt:
- accepted: the row is marked sent at once (its own commit);
- RetryAfter: the row waits `retry_after` (that chat only; when several chats get one within seconds it is a
  global flood and every send pauses); a wait, not a failed attempt;
- Forbidden (blocked, kicked) or "chat not found": the chat is marked inactive and all its pending rows fail,
  after exactly one attempt; rows later queued for an inactive chat fail without an attempt;
- ChatMigrated: the chat and its pending rows move to the supergroup's id, the row is sent there;
- BadRequest (bad HTML, too long ...): that row fails with the error stored and logged; the chat goes on;
- NetworkError, TimedOut, 5xx, other Telegram errors: retried with exponential backoff capped at
  `backoff_max` (60 s) with jitter, given up after `max_attempts` (about a day of tries at the cap). As soon
  as a send succeeds again after such errors, the rows waiting out a backoff are made due at once (at most
  every `expedite_every` seconds): a chat's later rows wait behind its head, which must not sleep on after
  Telegram is back. So once Telegram recovers, pending notices go out within one backoff step: 60 s.

Nothing twice: a row marked sent is never sent again. The one window is between Telegram accepting a message
and our commit: the send and that commit run shielded from cancellation, so stopping the bot (even cancelling
the task) finishes them; only a crash of the process (or of the database) inside those few milliseconds can
send one message again after a restart (at least once, at that edge). The same holds for a send that times
out after Telegram got it: it is retried. Nothing lost: an unsent row stays in the table and is sent after a
restart. One Deliverer per database (one bot process), which a bot's single getUpdates consumer implies.

Why a Bot of its own (see `schedule_delivery`) rather than the Application's: the Application's
AIORateLimiter(max_retries=3) answers a RetryAfter by sleeping inside the call and holding back every request
of the bot meanwhile (replies to people too), and its retries cannot be turned off per call (it reads
`rate_limit_args or max_retries`, so 0 means the default). Our pacing already keeps within the limits, and a
RetryAfter here only postpones one chat's row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import warnings
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from storage import repo
from storage.models import Outbox
from storage.types import utcnow

__all__ = ["Deliverer", "schedule_delivery", "wake"]

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Intervals are stretched a little: requests reach Telegram with some jitter, and a message a hair early
# against a sliding window is a 429.
MARGIN = 1.05
# The overall limiter holds 1.3 tokens rather than 1, so that a token handed out late (timers and a busy event
# loop run a little behind) is made up by the next one; in any second that still allows at most
# 1.3 + 30 / 1.05 = 29.9 messages, so never a burst that Telegram's sliding window would count as too many.
CATCH_UP = 0.3


class Outcome(Enum):
    SENT = "sent"
    FAILED = "failed"  # this row given up; the chat goes on
    WAIT = "wait"  # this row postponed; the chat waits behind it
    GONE = "gone"  # the chat is unreachable: all its rows given up
    MOVED = "moved"  # the chat has a new id: its rows moved there


def keyboard(rows: list[list[dict[str, str]]] | None) -> InlineKeyboardMarkup | None:
    """The outbox's button rows ([[{"text", "callback_data" | "url"}]]) as an inline keyboard."""
    if not rows:
        return None
    make = InlineKeyboardButton
    return InlineKeyboardMarkup(
        [[make(b["text"], b.get("url"), b.get("callback_data")) for b in r] for r in rows]
    )


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # an int unless PTB_TIMEDELTA is set
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Deliverer:
    def __init__(
        self,
        bot: Bot,
        sessions: async_sessionmaker[AsyncSession],
        *,
        overall_rate: float = 30.0,
        per_chat_interval: float = 1.0,
        group_per_minute: float = 20.0,
        concurrency: int = 16,
        poll_interval: float = 1.0,
        batch: int = 100,
        max_workers: int = 500,
        backoff_base: float = 2.0,
        backoff_max: float = 60.0,
        max_attempts: int = 1500,
        expedite_every: float = 10.0,
        flood_chats: int = 3,
        owns_bot: bool = False,
        limiter_cache: int = 10_000,
        leads: Callable[[], bool] | None = None,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.per_chat_interval = per_chat_interval * MARGIN
        self.group_interval = max(per_chat_interval, 60.0 / group_per_minute) * MARGIN
        self.poll_interval = poll_interval
        self.batch = batch  # chats started per read of the outbox
        self.max_workers = max_workers  # chats under way at most (plenty to keep the overall rate busy)
        self._saturated = False  # the last read hit its limit: more chats may be due beyond it
        self.backoff_base, self.backoff_max, self.max_attempts = backoff_base, backoff_max, max_attempts
        self.flood_chats = flood_chats
        self.expedite_every = expedite_every
        # a row was postponed after an error since the last expedite; True at first: rows may be backing off
        # from errors that the previous process (killed, restarted) met
        self._troubled = True
        self._expedited_at = -expedite_every
        self.owns_bot = owns_bot  # initialise it on start, shut it down on stop
        self.leads = leads  # e.g. bot.leader.Leadership's is_leader: a standby instance sends nothing
        self.stats: Counter[str] = Counter()
        self._overall = AsyncLimiter(1 + CATCH_UP, (1 + CATCH_UP) * MARGIN / overall_rate)
        self._slots = asyncio.Semaphore(concurrency)  # requests in flight
        # Our writes one at a time: on SQLite, many tasks waiting for the write lock in their threads make a
        # convoy (and "database is locked" after the busy timeout); at 30 commits/s nothing is lost.
        self._db_lock = asyncio.Lock()
        self._limiters: OrderedDict[int, AsyncLimiter] = OrderedDict()
        self._limiter_cache = limiter_cache
        self._workers: dict[int, asyncio.Task[tuple[int, int]]] = {}
        self._current: dict[int, int] = {}  # chat -> the row its worker is on (or was last)
        self._epoch = 0  # counts finished workers
        # chat -> (epoch its last worker finished at, the last row it handled), recent ones only
        self._finished: dict[int, tuple[int, int]] = {}
        self._reads: list[int] = []  # epochs at which the reads of due heads under way started
        self._inflight: set[asyncio.Task[Outcome]] = set()
        self._flood: deque[tuple[float, int]] = deque()  # (when, chat) of recent RetryAfters
        self._paused_until = 0.0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # --- life cycle ---
    def start(self) -> None:
        """Run in the background until `stop` (needs a running event loop)."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox-delivery")

    def wake(self) -> None:
        """Rows were queued: look now rather than at the next poll."""
        self._wakeup.set()

    async def stop(self, timeout: float = 15.0) -> None:
        """Stop looking for rows; sends already under way finish and are recorded (up to `timeout`)."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:  # let a read under way finish rather than cancel it inside the driver
            await asyncio.wait({self._task}, timeout=timeout)
        tasks = [t for t in (self._task, *self._workers.values()) if t is not None]
        for task in tasks:  # workers mostly wait for their turn
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=timeout)
        self._task = None
        if self.owns_bot:
            await self.bot.shutdown()

    async def drain_once(self) -> int:
        """Send everything due now (chats in parallel, each in order, paced) and return how many were sent.
        Rows that end up waiting (RetryAfter, network trouble) are left for later."""
        sent = 0
        while True:
            heads, _ = await self._read_heads(with_next=False)
            if not heads:
                return sent
            results = await asyncio.gather(*(self._spawn(*head) for head in heads))
            sent += sum(s for s, _ in results)
            if not any(handled for _, handled in results):
                return sent

    async def _run(self) -> None:
        while self.owns_bot and not self._stopping:
            try:
                await self.bot.initialize()
                break
            except Exception as exc:  # Telegram unreachable at start: the rows wait in the table
                log.warning("Outbox delivery: cannot reach Telegram yet (%s)", exc)
                await asyncio.sleep(self.poll_interval)
        while not self._stopping:
            self._wakeup.clear()
            delay = self.poll_interval
            try:
                delay = await self._dispatch()
            except Exception:
                log.exception("Outbox delivery: could not read the outbox")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), delay)

    async def _dispatch(self) -> float:
        """Start a worker for chats with a due row; return how long to sleep."""
        if self.leads is not None and not self.leads():
            return self.poll_interval
        heads, next_at = await self._read_heads(with_next=True)
        for head in heads:
            self._spawn(*head)
        if self._saturated:  # read on soon, or when half of the workers are done (see _spawn)
            return 0.05 if len(self._workers) < self.max_workers else self.poll_interval
        if next_at is None:
            return self.poll_interval
        return min(self.poll_interval, max(0.01, (next_at - utcnow()).total_seconds()))

    async def _read_heads(self, with_next: bool) -> tuple[list[Any], datetime | None]:
        """The due heads of chats without a worker, and when the next waiting row is due.

        A read that ran while a chat's worker finished may show a row that worker has just sent (the read's
        snapshot predates the commit): a head not newer than the last row that worker handled is left out.
        Rows queued for a chat while its worker is under way are read by that worker when it knew of more
        rows, else by the next read after it is done (a poll, or a `wake()`)."""
        room = self.max_workers - len(self._workers)
        if room <= 0:
            return [], None
        start = self._epoch
        self._reads.append(start)
        busy = list(self._workers) if len(self._workers) <= 900 else []  # else filtered below
        try:
            now = utcnow()
            async with self.sessions() as session:
                heads = await repo.outbox.due_heads(session, now, min(self.batch, room), busy)
                self._saturated = len(heads) >= min(self.batch, room)
                next_at = await repo.outbox.next_due_at(session, now) if with_next else None
        finally:
            self._reads.remove(start)
        fresh = []
        for head in heads:
            chat_id, row_id = head[0].chat_id, head[0].id or 0
            finished_at, last_row = self._finished.get(chat_id, (-1, 0))
            if chat_id not in self._workers and (finished_at <= start or row_id > last_row):
                fresh.append(head)
        oldest = min(self._reads, default=self._epoch)
        self._finished = {c: f for c, f in self._finished.items() if f[0] > oldest}
        return fresh, next_at

    def _spawn(self, head: Outbox, active: bool, pending: int) -> asyncio.Task[tuple[int, int]]:
        chat_id = head.chat_id
        task = asyncio.get_running_loop().create_task(self._work(chat_id, head, active, pending > 1))
        self._workers[chat_id] = task

        def done(_: asyncio.Task[tuple[int, int]]) -> None:
            if self._workers.get(chat_id) is task:
                del self._workers[chat_id]
            self._epoch += 1
            self._finished[chat_id] = (self._epoch, self._current.pop(chat_id, 0))
            if self._saturated and len(self._workers) <= self.max_workers // 2:
                self._saturated = False
                self.wake()

        task.add_done_callback(done)
        return task

    # --- one chat ---
    async def _head(self, chat_id: int) -> tuple[Outbox | None, bool, bool]:
        """The chat's oldest pending row, whether the chat is active, whether more rows follow."""
        async with self.sessions() as session:
            rows, active = await repo.outbox.pending_for_chat(session, chat_id, 2)
        return (rows[0] if rows else None), active, len(rows) > 1

    async def _work(self, chat_id: int, head: Outbox, active: bool, more: bool) -> tuple[int, int]:
        """Send the chat's rows in order while they are due. Returns (sent, handled).

        `more`: the chat had other rows pending when last read; when it had not, the chat is done after this
        row without reading again (one read less per message; see `_read_heads` for rows queued meanwhile)."""
        row: Outbox | None = head
        sent = handled = 0
        paced = False
        try:
            while row is not None and not self._stopping:
                self._current[chat_id] = row.id  # type: ignore[assignment]
                if not active:
                    handled += await self._write(repo.outbox.fail_pending_for_chat, chat_id, "chat inactive")
                    break
                if row.not_before > utcnow():
                    self.wake()  # the dispatcher sleeps until it is due
                    break
                if not paced:
                    paced = True
                    if await self._pace_chat(chat_id):  # waited: the row may be superseded meanwhile
                        row, active, more = await self._head(chat_id)
                        continue
                outcome = await self._attempt(row)
                paced = False
                handled += 1
                sent += outcome is Outcome.SENT
                if outcome not in (Outcome.SENT, Outcome.FAILED):
                    self.wake()
                    break
                row, active, more = await self._head(chat_id) if more else (None, active, False)
        except Exception:
            log.exception("Outbox delivery to chat %s failed; retrying at the next poll", chat_id)
        return sent, handled

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        limiter = self._limiters.get(chat_id)
        if limiter is None:
            interval = self.group_interval if chat_id < 0 else self.per_chat_interval
            limiter = self._limiters[chat_id] = AsyncLimiter(1, interval)
            # The least recently used limiter went idle long ago (at 30 messages/s, cache/30 seconds).
            while len(self._limiters) > self._limiter_cache:
                self._limiters.popitem(last=False)
        else:
            self._limiters.move_to_end(chat_id)
        return limiter

    async def _pace_chat(self, chat_id: int) -> bool:
        """Wait for the chat's turn; True when that took a noticeable time."""
        started = time.monotonic()
        await self._chat_limiter(chat_id).acquire()
        return time.monotonic() - started > 0.05

    # --- one attempt ---
    async def _attempt(self, row: Outbox) -> Outcome:
        try:
            markup = keyboard(row.buttons)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.error("Outbox row %s has unusable buttons: %r", row.id, exc)
            await self._write(repo.outbox.mark_failed, row.id, f"bad buttons: {exc!r}")
            return Outcome.FAILED
        loop = asyncio.get_running_loop()
        # A slot first, then the overall token: the request leaves right after the token (no queue between
        # them that would bunch requests up against Telegram's sliding window).
        await self._slots.acquire()
        try:
            await self._overall.acquire()
            # A global flood (see _note_flood); the pause may be extended while we sleep.
            while (pause := self._paused_until - loop.time()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(pause)
        except BaseException:
            self._slots.release()
            raise
        # Shielded: once the request may have left, its outcome is recorded even if we are being cancelled.
        task = loop.create_task(self._send_and_record(row, markup))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        task.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(task)

    async def _send_and_record(self, row: Outbox, markup: InlineKeyboardMarkup | None) -> Outcome:
        assert row.id is not None
        chat_id = row.chat_id
        try:
            await self.bot.send_message(
                chat_id,
                row.text,
                parse_mode=row.parse_mode,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
            )
        except RetryAfter as exc:
            wait = _seconds(exc)
            self.stats["rate_limited"] += 1
            self._note_flood(chat_id, wait)
            log.info("Outbox: chat %s is rate limited for %.1fs", chat_id, wait)
            await self._postpone(row, wait + 0.05, str(exc), attempt=False)
            return Outcome.WAIT
        except ChatMigrated as exc:
            await self._migrate(chat_id, exc.new_chat_id)
            return Outcome.MOVED
        except Forbidden as exc:
            await self._chat_gone(row, str(exc))
            return Outcome.GONE
        except BadRequest as exc:
            if "chat not found" in exc.message.lower():
                await self._chat_gone(row, str(exc))
                return Outcome.GONE
            log.warning("Outbox row %s to chat %s refused by Telegram: %s", row.id, chat_id, exc.message)
            self.stats["failed"] += 1
            await self._write(repo.outbox.mark_failed, row.id, exc.message)
            return Outcome.FAILED
        except (NetworkError, TelegramError) as exc:  # TimedOut, 5xx, connection trouble ...
            return await self._backoff(row, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug of ours or of a library: do not retry it forever
            log.exception("Outbox row %s to chat %s could not be sent", row.id, chat_id)
            self.stats["failed"] += 1
            await self._write(repo.outbox.mark_failed, row.id, repr(exc)[:500])
            return Outcome.FAILED
        await self._write(repo.outbox.mark_sent, row.id)  # at once: the window for a resend is this commit
        self.stats["sent"] += 1
        if self._troubled:
            await self._expedite()
        return Outcome.SENT

    # --- recording ---
    async def _write(self, fn: Any, *args: Any) -> Any:
        """One repository call in its own transaction."""
        async with self._db_lock, self.sessions() as session:
            result = await fn(session, *args)
            await session.commit()
        return result

    async def _postpone(self, row: Outbox, seconds: float, error: str, *, attempt: bool = True) -> None:
        self.stats["postponed"] += 1
        not_before = utcnow() + timedelta(seconds=seconds)
        async with self._db_lock, self.sessions() as session:
            await repo.outbox.postpone(session, row.id, not_before, error[:500], attempt=attempt)  # type: ignore[arg-type]
            await session.commit()

    async def _expedite(self) -> None:
        """Telegram accepted a message after errors: the rows backing off from them are due now."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._expedited_at < self.expedite_every:
            return
        self._troubled = False
        self._expedited_at = loop.time()
        count = await self._write(repo.outbox.retry_backoffs_now, utcnow())
        if count:
            self.stats["expedited"] += count
            log.info("Outbox: Telegram answers again; %d rows waiting after errors are due now", count)
            self.wake()

    async def _backoff(self, row: Outbox, error: str) -> Outcome:
        attempts = row.attempts + 1
        if attempts >= self.max_attempts:
            log.warning("Outbox row %s given up after %d attempts: %s", row.id, attempts, error)
            self.stats["failed"] += 1
            await self._write(repo.outbox.mark_failed, row.id, error[:500])
            return Outcome.FAILED
        # jitter below the cap: rows that failed together do not come back together, and never after 60 s
        delay = min(self.backoff_max, self.backoff_base * 2 ** (attempts - 1)) * random.uniform(0.7, 1.0)
        log.info("Outbox row %s to chat %s: %s; retrying in %.1fs", row.id, row.chat_id, error, delay)
        self._troubled = True
        await self._postpone(row, delay, repo.outbox.BACKOFF_PREFIX + error)
        return Outcome.WAIT

    async def _chat_gone(self, row: Outbox, error: str) -> None:
        log.info("Outbox: chat %s is unreachable (%s); marked inactive", row.chat_id, error)
        self.stats["forbidden"] += 1
        async with self._db_lock, self.sessions() as session:
            await repo.outbox.mark_failed(session, row.id, error)  # type: ignore[arg-type]
            await repo.chats.set_chat_active(session, row.chat_id, False)
            dropped = await repo.outbox.fail_pending_for_chat(session, row.chat_id, error)
            await session.commit()
        self.stats["failed"] += 1 + dropped

    async def _migrate(self, old_id: int, new_id: int) -> None:
        log.info("Outbox: chat %s became supergroup %s; its messages follow", old_id, new_id)
        self.stats["migrated"] += 1
        async with self._db_lock, self.sessions() as session:
            await repo.chats.migrate_chat_id(session, old_id, new_id)
            await repo.outbox.move_to_chat(session, old_id, new_id)  # also when the chat had no row
            await session.commit()

    def _note_flood(self, chat_id: int, wait: float) -> None:
        """Several chats told to wait within seconds: the limit is the bot's, not theirs; pause everything."""
        now = asyncio.get_running_loop().time()
        self._flood.append((now, chat_id))
        while self._flood and now - self._flood[0][0] > 10:
            self._flood.popleft()
        chats = len({chat for _, chat in self._flood})
        if chats >= self.flood_chats:
            self._paused_until = max(self._paused_until, now + wait)
            log.warning("Outbox: RetryAfter in %d chats; pausing all sends for %.1fs", chats, wait)


def wake(application: Any) -> None:
    """Tell the application's Deliverer that rows were queued (a no-op when there is none)."""
    deliverer = application.bot_data.get("deliverer")
    if deliverer is not None:
        deliverer.wake()


def schedule_delivery(application: Any) -> None:
    """Give the Application a Deliverer (`bot_data["deliverer"]`), running from the application's start to
    its post_stop. Call it while building the Application or from post_init; a second call does nothing.

    The Deliverer has a Bot of its own (same token and server, its own connection pool, no AIORateLimiter:
    see the module's docstring) and leaves 5 of Telegram's 30 messages/s to the replies of the handlers.
    """
    if "deliverer" in application.bot_data:
        return
    deps = application.bot_data["deps"]
    api = deps.settings.telegram_api_url
    bot = Bot(
        application.bot.token,
        base_url=f"{api}/bot",
        base_file_url=f"{api}/file/bot",
        request=HTTPXRequest(connection_pool_size=20),  # > the Deliverer's 16 requests in flight
    )
    leader = deps.leader  # only the instance that runs the background jobs sends (bot/leader.py)
    deliverer = Deliverer(
        bot, deps.sessions, overall_rate=25.0, owns_bot=True, leads=lambda: leader.is_leader
    )
    application.bot_data["deliverer"] = deliverer

    async def begin(_context: Any) -> None:
        deliverer.start()

    # The JobQueue starts with the application (after post_init), whichever of the two places called us.
    if application.job_queue is None:
        raise RuntimeError("outbox delivery needs python-telegram-bot[job-queue]")
    application.job_queue.run_once(begin, 0, name="outbox-delivery")
    previous_stop = application.post_stop

    async def post_stop(app: Any) -> None:
        await deliverer.stop()
        if previous_stop is not None:
            await previous_stop(app)

    application.post_stop = post_stop
