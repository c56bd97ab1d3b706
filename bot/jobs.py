"""The repeating jobs, on python-telegram-bot's JobQueue (APScheduler 3): one job per kind of work, never one
per order. Jobs are not persisted: the work lives in our tables and each run reads it from there.

`max_instances=1` and `coalesce=True`: a cycle that runs longer than its interval is not started twice, and
missed runs collapse into one. Each run's report is kept in bot_data (not persisted) for /stats.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.alerts import balance_cycle
from bot.delivery import wake
from bot.tracking import poll_cycle
from storage import repo
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.deps import Deps

log = logging.getLogger(__name__)

TRACKING_JOB = "tracking"
BALANCE_JOB = "balance"
LEADERSHIP_JOB = "leadership"
HOUSEKEEPING_JOB = "housekeeping"
HOUSEKEEPING_INTERVAL = 3600.0
DRAFTS_KEPT = timedelta(days=1)  # a summary nobody confirmed (conversations time out after 30 minutes)
# Sent notices are kept long enough that a re-run of any cycle finds their dedupe keys.
OUTBOX_KEPT = timedelta(days=30)
CONVERSATIONS_KEPT = timedelta(days=7)  # a conversation row untouched this long: notes and dead flows go
LEADERSHIP_INTERVAL = 15.0
# A sender finishes (placed, rejected or unclear) within the panel client's timeout; a row still `sending`
# long after that lost its process. Time-based because another instance may be sending the newer ones.
STALE_SENDING = timedelta(minutes=2)


def job_kwargs(interval: float) -> dict[str, Any]:
    # A run late by up to one interval still runs (once, thanks to coalesce); later than that it is skipped.
    return {"max_instances": 1, "coalesce": True, "misfire_grace_time": max(1, int(interval))}


async def _leadership(context: Any) -> None:
    deps: Deps = context.application.bot_data["deps"]
    await deps.leader.check()


async def sweep_stale_sending(deps: Deps) -> int:
    async with deps.sessions() as session:
        count = await repo.orders.mark_stale_sending_as_unclear(
            session, "the bot stopped while sending", older_than=utcnow() - STALE_SENDING
        )
        await session.commit()
    if count:
        log.warning("%d order(s)/refill(s) were left sending by a stopped process; marked unclear", count)
    return count


async def _tracking(context: Any) -> None:
    deps: Deps = context.application.bot_data["deps"]
    if not deps.leader.is_leader:  # another instance runs the background work
        return
    try:
        await sweep_stale_sending(deps)
        context.application.bot_data["tracking_report"] = report = await poll_cycle(deps)
        deps.record_poll(report)
    except Exception:  # logged here: the application's error handler speaks of updates
        log.exception("tracking cycle failed")
    wake(context.application)


async def housekeeping(deps: Deps) -> tuple[int, int]:
    """Forget what nobody will look at again: unconfirmed drafts, notices sent long ago, conversations
    left long ago (returns the first two counts)."""
    now = utcnow()
    async with deps.sessions() as session:
        drafts = await repo.orders.purge_drafts(session, now - DRAFTS_KEPT)
        sent = await repo.outbox.purge_sent(session, now - OUTBOX_KEPT)
        conversations = await repo.conversations.purge_conversations(session, now - CONVERSATIONS_KEPT)
        await session.commit()
    if conversations:
        log.info("housekeeping: %d idle conversation row(s) removed", conversations)
    if drafts or sent:
        log.info("housekeeping: %d stale draft(s), %d old notice(s) removed", drafts, sent)
    return drafts, sent


async def _housekeeping(context: Any) -> None:
    deps: Deps = context.application.bot_data["deps"]
    if not deps.leader.is_leader:
        return
    try:
        await housekeeping(deps)
    except Exception:
        log.exception("housekeeping failed")


async def _balance(context: Any) -> None:
    deps: Deps = context.application.bot_data["deps"]
    if not deps.leader.is_leader:
        return
    try:
        context.application.bot_data["balance_report"] = await balance_cycle(deps)
    except Exception:
        log.exception("balance cycle failed")
    wake(context.application)


def schedule(application: Any) -> None:
    """Register the repeating jobs (called from the application's post_init). The first run of each comes
    one interval after the start."""
    queue = application.job_queue
    if queue is None:
        log.warning("no JobQueue (install python-telegram-bot[job-queue]): no tracking, no balance alerts")
        return
    settings = application.bot_data["deps"].settings
    for name, callback, interval in (
        (TRACKING_JOB, _tracking, settings.poll_interval),
        (BALANCE_JOB, _balance, settings.balance_interval),
    ):
        queue.run_repeating(
            callback, interval=interval, first=interval, name=name, job_kwargs=job_kwargs(interval)
        )
    queue.run_repeating(
        _housekeeping,
        interval=HOUSEKEEPING_INTERVAL,
        first=60,
        name=HOUSEKEEPING_JOB,
        job_kwargs=job_kwargs(HOUSEKEEPING_INTERVAL),
    )
    queue.run_repeating(
        _leadership,
        interval=LEADERSHIP_INTERVAL,
        first=LEADERSHIP_INTERVAL,
        name=LEADERSHIP_JOB,
        job_kwargs=job_kwargs(LEADERSHIP_INTERVAL),
    )


__all__ = [
    "BALANCE_JOB",
    "HOUSEKEEPING_JOB",
    "LEADERSHIP_JOB",
    "TRACKING_JOB",
    "housekeeping",
    "job_kwargs",
    "schedule",
    "sweep_stale_sending",
]
