"""The tracking cycle: what is stored, what is queued (once), how often panels are asked."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.sandbox.panel import PanelSimulator, SimClock
from bot.tracking import MAX_BACKOFF, STUCK_AFTER
from tests.push import PushEnv, callbacks, make_env


@pytest.fixture
async def push(db_url: str, tmp_path: Path) -> AsyncIterator[PushEnv]:
    async for env in make_env(db_url, tmp_path):
        yield env


async def test_status_change_queues_one_notice(push: PushEnv) -> None:
    account, key = await push.account(101)
    (order,) = await push.place(account, key, service_name="Likes <b>&</b>")
    push.advance(5)
    push.sim.force_status(order.panel_order_id, "In progress", remains=80)  # type: ignore[arg-type]

    report = await push.cycle()
    assert (report.due_orders, report.accounts, report.requests, report.changes, report.notices) == (
        1,
        1,
        1,
        1,
        1,
    )
    stored = await push.order(order.id)
    assert (stored.status, stored.remains, stored.last_notified_status) == ("In progress", 80, "In progress")
    (message,) = await push.outbox(101)
    assert message.dedupe_key == f"order:{order.id}:In progress:80"
    assert f"Order #{order.panel_order_id}: Pending → <b>In progress</b>" in message.text
    assert "Likes &lt;b&gt;&amp;&lt;/b&gt;" in message.text and "Remains: 80" in message.text
    assert callbacks(message) == [f"o:show:{order.id}"]

    push.advance(60)  # nothing changed at the panel: no message
    report = await push.cycle()
    assert (report.requests, report.changes, report.notices) == (1, 0, 0)
    assert len(await push.outbox(101)) == 1

    push.sim.force_status(order.panel_order_id, "Completed", remains=0)  # type: ignore[arg-type]
    push.advance(60)
    await push.cycle()
    done = (await push.outbox(101))[-1]
    assert "In progress → <b>Completed</b>" in done.text
    assert callbacks(done) == [f"o:show:{order.id}", f"o:fill:{order.id}"]  # refill allowed once completed


async def test_only_the_latest_of_unsent_notices_remains(push: PushEnv) -> None:
    account, key = await push.account(102)
    (order,) = await push.place(account, key)
    pid = order.panel_order_id
    assert pid is not None
    for status, remains in (("In progress", 90), ("Processing", 60), ("Completed", 0)):
        push.advance(60)
        push.sim.force_status(pid, status, remains=remains)
        await push.cycle()
    messages = await push.outbox(102)
    assert len(messages) == 3
    (latest,) = await push.unsent(102)
    assert (
        latest.dedupe_key == f"order:{order.id}:Completed:0"
        and "Processing → <b>Completed</b>" in latest.text
    )
    assert all(m.last_error == "superseded" for m in messages[:2])


async def test_remains_progress_is_stored_not_announced(push: PushEnv) -> None:
    account, key = await push.account(103)
    (order,) = await push.place(account, key)
    pid = order.panel_order_id
    assert pid is not None
    push.advance(60)
    push.sim.force_status(pid, "In progress", remains=90)
    await push.cycle()
    push.advance(60)
    push.sim.force_status(pid, "In progress", remains=40)
    report = await push.cycle()
    assert (report.changes, report.notices) == (1, 0)
    stored = await push.order(order.id)
    assert stored.remains == 40 and stored.progress_at == push.now()
    assert len(await push.outbox(103)) == 1


async def test_final_status_stops_polling(push: PushEnv) -> None:
    account, key = await push.account(104)
    (order,) = await push.place(account, key)
    push.advance(60)
    push.sim.force_status(order.panel_order_id, "Canceled", remains=100)  # type: ignore[arg-type]
    await push.cycle()
    assert (await push.order(order.id)).next_poll_at is None
    before = push.sim.count("status")
    push.advance(3600)
    report = await push.cycle()
    assert report.due_orders == 0 and push.sim.count("status") == before


async def test_incorrect_order_id_right_after_placing_is_not_final(push: PushEnv) -> None:
    account, key = await push.account(105)
    (order,) = await push.place(account, key)  # the simulator says "Incorrect order ID" for 2 s after add
    await push.cycle()
    stored = await push.order(order.id)
    assert stored.status is None and stored.error is None
    assert stored.next_poll_at is not None and stored.next_poll_at <= push.now() + timedelta(seconds=60)
    assert await push.outbox(105) == []
    push.advance(60)
    push.sim.force_status(order.panel_order_id, "Pending", remains=100)  # type: ignore[arg-type]
    await push.cycle()
    assert (await push.order(order.id)).status == "Pending"
    assert await push.outbox(105) == []  # Pending is what the user saw at placement


async def test_order_the_panel_forgot_is_shown_once_then_backs_off(push: PushEnv) -> None:
    account, key = await push.account(106)
    (order,) = await push.place(account, key, panel_ids=[999_999])
    for _ in range(3):  # within the grace period: retried every cycle, nothing said
        await push.cycle()
        push.advance(180)
    assert await push.outbox(106) == []
    push.advance(60)  # now 10 min after placing
    await push.cycle()
    (message,) = await push.outbox(106)
    assert message.dedupe_key == f"order:{order.id}:gone" and "no longer knows this order" in message.text
    stored = await push.order(order.id)
    assert stored.error == "Incorrect order ID" and stored.next_poll_at == push.now() + MAX_BACKOFF
    push.advance(MAX_BACKOFF.total_seconds())
    await push.cycle()
    assert len(await push.outbox(106)) == 1


async def test_requests_per_cycle_are_chunks_of_100_per_account(push: PushEnv) -> None:
    a, key_a = await push.account(107)
    b, key_b = await push.account(108)
    await push.place(a, key_a, 250)
    await push.place(b, key_b, 30)
    push.advance(60)
    before = push.sim.count("status")
    report = await push.cycle()
    expected = math.ceil(250 / 100) + math.ceil(30 / 100)
    assert push.sim.count("status") - before == expected == report.requests == 4
    assert (report.due_orders, report.accounts) == (280, 2)


async def test_unchanged_orders_back_off(push: PushEnv) -> None:
    account, key = await push.account(109)
    (order,) = await push.place(account, key)
    pid = order.panel_order_id
    assert pid is not None
    push.advance(30)
    push.sim.force_status(pid, "In progress", remains=70)
    await push.cycle()  # a change: polled again next cycle
    changed_at = push.now()
    assert (await push.order(order.id)).next_poll_at == changed_at + timedelta(seconds=58)
    steps = []
    for _ in range(8):
        due = (await push.order(order.id)).next_poll_at
        assert due is not None
        push.advance((due - push.now()).total_seconds())
        await push.cycle()
        nxt = (await push.order(order.id)).next_poll_at
        assert nxt is not None
        steps.append(nxt - push.now())
    assert steps == sorted(steps) and steps[0] < steps[-1]  # growing with the time without change
    assert steps[-1] <= MAX_BACKOFF
    push.advance(3 * 3600)
    await push.cycle()
    slack = timedelta(seconds=2)  # a due time a little early keeps it in the cycle that comes then
    assert (await push.order(order.id)).next_poll_at == push.now() + MAX_BACKOFF - slack


async def test_notifications_off_stores_without_message(push: PushEnv) -> None:
    account, key = await push.account(110, notifications=False)
    (order,) = await push.place(account, key)
    push.advance(60)
    push.sim.force_status(order.panel_order_id, "Completed", remains=0)  # type: ignore[arg-type]
    report = await push.cycle()
    assert (report.changes, report.notices) == (1, 0)
    stored = await push.order(order.id)
    assert stored.status == "Completed" and stored.next_poll_at is None
    assert await push.outbox(110) == []


async def test_refill_status_change_queues_one_notice(push: PushEnv) -> None:
    account, key = await push.account(111, language="tr")
    (order,) = await push.place(account, key)
    pid = order.panel_order_id
    assert pid is not None
    push.sim.force_status(pid, "Completed", remains=0)
    push.advance(60)
    await push.cycle()
    answer = push.sim.process({"key": key, "action": "refill", "order": str(pid)})
    refill = await push.refill(order, int(answer["refill"]))
    start = len(await push.outbox(111))

    push.advance(60)
    push.sim.force_refill_status(refill.panel_refill_id, "Completed")  # type: ignore[arg-type]
    report = await push.cycle()
    assert report.due_refills == 1 and report.notices == 1
    messages = (await push.outbox(111))[start:]
    assert [m.dedupe_key for m in messages] == [f"refill:{refill.id}:Completed"]
    assert f"#{refill.panel_refill_id}" in messages[0].text and callbacks(messages[0]) == [
        f"o:show:{order.id}"
    ]
    push.advance(600)
    report = await push.cycle()
    assert report.due_refills == 0 and len(await push.outbox(111)) == start + 1


async def test_stuck_order_is_announced_once(push: PushEnv) -> None:
    account, key = await push.account(112)
    (order,) = await push.place(account, key)
    pid = order.panel_order_id
    assert pid is not None
    push.advance(60)
    push.sim.force_status(pid, "In progress", remains=50)
    await push.cycle()
    quiet = STUCK_AFTER - timedelta(minutes=1)
    push.advance(quiet.total_seconds())
    await push.cycle()
    assert len(await push.outbox(112)) == 1  # the "In progress" notice only
    push.advance(MAX_BACKOFF.total_seconds())
    await push.cycle()
    stuck = (await push.outbox(112))[-1]
    assert (
        stuck.dedupe_key == f"stuck:{order.id}" and "looks stuck" in stuck.text and "12 hours" in stuck.text
    )
    assert callbacks(stuck) == [f"o:ref:{order.id}", f"o:cxl:{order.id}"]
    push.advance(MAX_BACKOFF.total_seconds())
    await push.cycle()
    assert len(await push.outbox(112)) == 2
    # shorter thresholds for tests are a parameter of the cycle
    (other,) = await push.place(account, key, cancel_allowed=False)
    push.advance(60)
    push.sim.force_status(other.panel_order_id, "Pending", remains=100)  # type: ignore[arg-type]
    await push.cycle()
    push.advance(3600)
    await push.cycle(stuck_after=timedelta(minutes=30))
    last = (await push.outbox(112))[-1]
    assert last.dedupe_key == f"stuck:{other.id}" and callbacks(last) == [f"o:ref:{other.id}"]


async def test_rerun_and_crash_never_queue_twice(push: PushEnv) -> None:
    """A cycle cancelled between the panel's answer and the commit stores nothing; the next one stores the
    change and queues it exactly once. Account A answers at once, account B (another panel) hangs."""
    slow = PanelSimulator(services=30, clock=SimClock(push.sim.clock.now(), frozen=True))
    await slow.start()
    try:
        a, key_a = await push.account(113)
        b, key_b = await push.account(114, sim=slow)
        (fast_order,) = await push.place(a, key_a)
        (slow_order,) = await push.place(b, key_b, sim=slow)
        push.advance(60)
        slow.clock.advance(60)
        push.sim.force_status(fast_order.panel_order_id, "Completed", remains=0)  # type: ignore[arg-type]
        slow.force_status(slow_order.panel_order_id, "Completed", remains=0)  # type: ignore[arg-type]
        slow.faults.hang_actions = {"status"}  # B's panel reads the status, its answer never comes

        cycle = asyncio.create_task(push.cycle())
        for _ in range(200):
            if slow.count("status") and len(await push.outbox(113)) == 1:
                break
            await asyncio.sleep(0.02)
        cycle.cancel()
        try:
            await cycle
        except asyncio.CancelledError:
            pass
        assert len(await push.outbox(113)) == 1
        assert await push.outbox(114) == [] and (await push.order(slow_order.id)).status is None

        slow.faults.hang_actions = set()
        for _ in range(2):  # the re-run, then a run with nothing new
            push.advance(60)
            await push.cycle()
        assert (await push.order(slow_order.id)).status == "Completed"
        assert [m.dedupe_key for m in await push.outbox()] == [
            f"order:{fast_order.id}:Completed:0",
            f"order:{slow_order.id}:Completed:0",
        ]
    finally:
        await slow.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the client's retries take seconds
async def test_unreachable_panel_postpones_its_orders_only(push: PushEnv) -> None:
    dead = PanelSimulator(services=30, clock=SimClock(push.sim.clock.now(), frozen=True))
    await dead.start()
    a, key_a = await push.account(115)
    b, key_b = await push.account(116, sim=dead)
    (ok,) = await push.place(a, key_a)
    (lost,) = await push.place(b, key_b, sim=dead)
    await dead.stop()  # connection refused from now on
    push.advance(60)
    push.sim.force_status(ok.panel_order_id, "Completed", remains=0)  # type: ignore[arg-type]
    report = await push.cycle()
    assert (report.accounts, report.failed_chunks, report.notices) == (2, 1, 1)
    stored = await push.order(lost.id)
    assert stored.status is None and stored.progress_at is None
    # asked again at the next cycle (60 s less a margin): news soon after the panel is back
    assert stored.next_poll_at == push.now() + timedelta(seconds=58)
    assert (await push.order(ok.id)).status == "Completed"


async def test_schedule_registers_one_job_per_kind(tmp_path: Path) -> None:
    from telegram.ext import ApplicationBuilder

    from bot.config import load_settings
    from bot.jobs import BALANCE_JOB, HOUSEKEEPING_JOB, LEADERSHIP_JOB, TRACKING_JOB, schedule

    application = ApplicationBuilder().token("1:TEST").build()
    settings = load_settings(
        SMMBOT_DATA_DIR=str(tmp_path), SMMBOT_POLL_INTERVAL="30", SMMBOT_BALANCE_INTERVAL="300"
    )
    application.bot_data["deps"] = SimpleNamespace(settings=settings)
    schedule(application)
    assert application.job_queue is not None
    jobs = {job.name: job.job for job in application.job_queue.jobs()}
    assert set(jobs) == {TRACKING_JOB, BALANCE_JOB, LEADERSHIP_JOB, HOUSEKEEPING_JOB}
    for name, seconds in ((TRACKING_JOB, 30), (BALANCE_JOB, 300)):
        job = jobs[name]
        assert job.trigger.interval.total_seconds() == seconds
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, seconds)
