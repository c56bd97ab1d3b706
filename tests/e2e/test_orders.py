"""The chat's orders end to end: the list, the card, refresh, /status, refill, cancel, group rights."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from bot.panel import PanelClient
from bot.panels import PanelHub
from storage import repo
from storage.models import Order, Placement, Refill
from tests.e2e.conftest import KEY, BotEnv, Person, plain

REFILL_AND_CANCEL = 1  # Default, refill and cancel
PLAIN = 18  # Default, neither refill nor cancel
_links = itertools.count(1)


def link() -> str:
    return f"https://instagram.com/p/post{next(_links)}"


async def place_order_directly(
    env: BotEnv, chat_id: int, service_id: int, link: str, quantity: int, **draft: Any
) -> int:
    """A placed order without the order wizard: a stored draft, `add` on the simulator, mark_placed."""
    svc = env.panel.service(service_id)
    values: dict[str, Any] = {
        "service_name": svc["name"],
        "service_type": svc["type"],
        "refill_allowed": svc["refill"],
        "cancel_allowed": svc["cancel"],
        "currency": "USD",
        **draft,
    }
    async with env.deps.sessions() as s:
        account = await repo.accounts.get_default_account(s, chat_id)
        assert account is not None and account.id is not None
        order = await repo.orders.create_draft(
            s,
            chat_id=chat_id,
            account_id=account.id,
            placed_by=abs(chat_id),
            service_id=service_id,
            price=Decimal(svc["rate"]) * quantity / 1000,
            link=link,
            quantity=quantity,
            **values,
        )
        await s.commit()
        order_id = order.id
        assert order_id is not None
        assert await repo.orders.claim_draft_for_sending(s, order.confirm_token) is not None
    added = await PanelClient(env.panel.url, KEY).add(service_id, link=link, quantity=quantity)
    async with env.deps.sessions() as s:
        assert await repo.orders.mark_placed(s, order_id, added.order_id, added.charge, added.currency)
        await s.commit()
    return order_id


async def stored(env: BotEnv, order_id: int) -> Order:
    async with env.deps.sessions() as s:
        order = await s.get(Order, order_id)
        assert order is not None
        return order


async def panel_id(env: BotEnv, order_id: int) -> int:
    pid = (await stored(env, order_id)).panel_order_id
    assert pid is not None
    return pid


async def refills_of(env: BotEnv, order_id: int) -> list[Refill]:
    async with env.deps.sessions() as s:
        return await repo.refills.refills_for_order(s, order_id)


async def click(person: Person, label: str) -> None:
    """Press and wait for the answer of the button (the panel call may leave the bot idle for a while)."""
    mark = person.tg.mark()
    await person.press(label)
    await person.tg.wait_for_call("answerCallbackQuery", after=mark, timeout=15)
    await person.env.quiet()


async def open_card(person: Person, order_id: int) -> None:
    await person.say("/orders")
    pid = await panel_id(person.env, order_id)
    await click(person, f"#{pid}")


async def test_orders_empty(env: BotEnv) -> None:
    alice = await env.connected()
    await alice.say("/orders")
    assert "No orders yet" in alice.text
    assert any("New order" in b for b in alice.buttons())
    assert ("🛒 New order", "m:order") in env.tg.buttons(alice.last)


async def test_orders_pages_newest_first_with_marks(env: BotEnv) -> None:
    alice = await env.connected()
    ids = [await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 100) for _ in range(20)]
    async with env.deps.sessions() as s:
        account = await repo.accounts.get_default_account(s, alice.chat_id)
        assert account is not None and account.id is not None
        made = []
        for _ in range(3):
            draft = await repo.orders.create_draft(
                s,
                chat_id=alice.chat_id,
                account_id=account.id,
                placed_by=alice.user_id,
                service_id=PLAIN,
                price=Decimal("0.1"),
                service_name="Views <b>&</b>",
                quantity=100,
            )
            made.append(draft)
        await s.commit()
        unclear, rejected, _draft = made
        for order, mark in ((unclear, repo.orders.mark_unclear), (rejected, repo.orders.mark_rejected)):
            assert await repo.orders.claim_draft_for_sending(s, order.confirm_token)
            assert order.id is not None
            await mark(s, order.id, "nope")
        await s.commit()
    env.panel.clock.advance(5)  # past the moment when a new order is still unknown to `status`
    env.panel.force_status(await panel_id(env, ids[-1]), "Completed")
    await alice.say(f"/status {await panel_id(env, ids[-1])}")

    await alice.say("/orders")
    text = alice.text
    assert "page 1 of 3, 22 in all" in text  # the draft is not listed
    lines = [ln for ln in text.splitlines() if " · " in ln and "in all" not in ln]
    assert len(lines) == 8
    assert lines[0].startswith("⛔") and "Views <b>&</b>" in lines[0]  # rejected, newest; name escaped
    assert lines[1].startswith("❓")  # unclear
    assert lines[2].startswith("✅") and "Completed" in lines[2]
    assert lines[3].startswith("🕓")
    pids = [await panel_id(env, i) for i in reversed(ids)]
    assert [f"#{p}" in ln for p, ln in zip(pids[:6], lines[2:], strict=True)] == [True] * 6
    assert len([b for b in alice.buttons() if b.startswith(("✅", "🕓", "❓", "⛔"))]) == 8
    assert not any("Newer" in b for b in alice.buttons())

    await click(alice, "Older")
    assert "page 2 of 3" in alice.text and f"#{pids[6]}" in alice.text and f"#{pids[13]}" in alice.text
    await click(alice, "Older")
    assert "page 3 of 3" in alice.text and f"#{pids[19]}" in alice.text
    assert not any("Older" in b for b in alice.buttons()) and any("Newer" in b for b in alice.buttons())
    assert len(env.tg.bot_messages(alice.chat_id)) == 2  # /status, then the list edited in place


async def test_card_and_refresh_follow_the_panel(env: BotEnv) -> None:
    alice = await env.connected()
    order_id = await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 1000)
    pid = await panel_id(env, order_id)
    await open_card(alice, order_id)
    assert f"Order #{pid}" in alice.text and "Quantity: 1000" in alice.text
    assert any("Refresh" in b for b in alice.buttons()) and any("Cancel order" in b for b in alice.buttons())
    assert not any("Refill" in b for b in alice.buttons())

    env.panel.clock.advance(60)  # past pending: In progress, partly delivered
    await click(alice, "Refresh")
    sim = env.panel.orders[pid]
    order = await stored(env, order_id)
    assert order.status == "In progress" and order.remains is not None
    assert 0 < sim.remains <= order.remains < 1000  # the simulator's clock runs on meanwhile
    assert order.start_count == sim.start_count and order.next_poll_at is not None
    assert "In progress" in alice.text and f"Remains: {order.remains}" in alice.text

    env.panel.clock.advance(3600)
    await click(alice, "Refresh")
    order = await stored(env, order_id)
    assert order.status == "Completed" and order.remains == 0 and order.next_poll_at is None
    assert "Completed" in alice.text and "Remains: 0" in alice.text
    assert any("Refill" in b for b in alice.buttons()) and not any(
        "Cancel order" in b for b in alice.buttons()
    )

    async with env.deps.sessions() as s:
        account = await repo.accounts.get_default_account(s, alice.chat_id)
    assert account is not None
    env.deps.panels.client(account).read_retries = 0  # fail at once instead of after backing off
    env.panel.faults.fail_actions["status"] = "502"
    env.panel.force_status(pid, "Partial", 5)
    await click(alice, "Refresh")
    assert "The panel is unreachable; showing the last known status (as of" in alice.alerts()[-1]
    assert "Completed" in alice.text and "unreachable" in alice.text
    assert (await stored(env, order_id)).status == "Completed"


async def test_status_many_ids_in_one_call(env: BotEnv) -> None:
    alice = await env.connected()
    mine = [await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 5000) for _ in range(2)]
    foreign = (await PanelClient(env.panel.url, KEY).add(PLAIN, link=link(), quantity=100)).order_id
    env.panel.clock.advance(60)
    pids = [await panel_id(env, i) for i in mine]
    env.panel.force_status(pids[1], "Completed")
    before = env.panel.count("status")
    await alice.say(f"/status {pids[0]}, {pids[1]} {foreign} 999999 abc")
    assert env.panel.count("status") == before + 1
    text = alice.text
    lines = text.splitlines()
    assert lines[0].startswith("⏳") and f"{pids[0]} In progress" in lines[0]
    assert lines[1].startswith("✅") and "remains 0" in lines[1] and "charge 4.50 USD" in lines[1]
    assert str(foreign) in lines[2] and "not placed through this bot" in lines[2]
    assert "not placed through this bot" not in lines[0]
    assert "999999 not found" in lines[3]
    assert "Ignored" in lines[4] and "abc" in lines[4]
    assert (await stored(env, mine[0])).status == "In progress"
    assert (await stored(env, mine[1])).status == "Completed"

    before = env.panel.count("status")
    await alice.say("/status " + " ".join(str(100000 + i) for i in range(150)))
    assert "At most 100 ids" in alice.text and env.panel.count("status") == before
    await alice.say("/status")
    assert "Usage: /status" in alice.text
    await alice.say("/status " + ",".join(str(200000 + i) for i in range(100)))
    assert env.panel.count("status") == before + 1
    replies = " ".join(m["text"] for m in alice.tg.bot_messages(alice.chat_id)[-2:])
    assert "200000 not found" in replies and "200099 not found" in replies


async def test_refill_of_a_completed_order(env: BotEnv) -> None:
    alice = await env.connected()
    order_id = await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 100)
    pid = await panel_id(env, order_id)
    env.panel.clock.advance(60)
    env.panel.force_status(pid, "Completed")
    await open_card(alice, order_id)
    await click(alice, "Refresh")
    await click(alice, "Refill")
    assert env.panel.count("refill") == 1
    [refill] = await refills_of(env, order_id)
    assert refill.placement == Placement.placed and refill.panel_refill_id == 1
    assert "Refill #1: Pending" in alice.text and "requested at the panel" in alice.text
    assert "Refill #1 requested" in alice.alerts()[-1]

    await alice.say(f"/refill {pid}")  # the first one is still being worked on: not sent again
    assert "already in progress" in alice.text and env.panel.count("refill") == 1

    env.panel.clock.advance(1000)
    await click(alice, "Refresh")
    sim_status = env.panel.refills[1].status
    assert f"Refill #1: {sim_status}" in alice.text
    assert (await refills_of(env, order_id))[0].status == sim_status


async def test_refill_refused_by_the_panel(env: BotEnv) -> None:
    alice = await env.connected()
    # The catalog said refill when it was ordered; the panel has turned it off since.
    order_id = await place_order_directly(env, alice.chat_id, PLAIN, link(), 100, refill_allowed=True)
    pid = await panel_id(env, order_id)
    env.panel.clock.advance(60)
    env.panel.force_status(pid, "Completed")
    await open_card(alice, order_id)
    await click(alice, "Refresh")
    await click(alice, "Refill")
    assert "The panel refused the refill: Refill is disabled for this service" in alice.alerts()[-1]
    assert "Refill is disabled for this service" in alice.text
    [refill] = await refills_of(env, order_id)
    assert refill.placement == Placement.rejected

    # Our stored status says Completed, the panel disagrees.
    second = await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 100)
    pid2 = await panel_id(env, second)
    env.panel.clock.advance(60)
    env.panel.force_status(pid2, "Completed")
    await alice.say(f"/status {pid2}")
    env.panel.force_status(pid2, "In progress")
    await alice.say(f"/refill {pid2}")
    assert "The panel refused the refill: The order is not completed" in alice.text

    await alice.say("/refill 424242")
    assert "I don't know order 424242 in this chat" in alice.text
    await alice.say("/refill")
    assert "Usage: /refill" in alice.text


async def test_refill_without_answer_is_unclear_and_not_retried(env: BotEnv) -> None:
    alice = await env.connected()
    env.deps.panels = PanelHub(env.deps.vault, timeout=1.0)
    order_id = await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 100)
    pid = await panel_id(env, order_id)
    env.panel.clock.advance(60)
    env.panel.force_status(pid, "Completed")
    await alice.say(f"/status {pid}")
    env.panel.faults.hang_actions = {"refill"}
    await alice.say(f"/refill {pid}")
    assert "could not tell whether the panel took the refill request; check the panel" in plain(alice.text)
    assert env.panel.count("refill") == 1 and len(env.panel.refills) == 1  # it did reach the panel
    [refill] = await refills_of(env, order_id)
    assert refill.placement == Placement.unclear


async def test_cancel_with_confirmation(env: BotEnv) -> None:
    alice = await env.connected()
    order_id = await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 1000)
    pid = await panel_id(env, order_id)
    env.panel.clock.advance(40)
    balance = env.panel.balance_of(KEY)
    await open_card(alice, order_id)
    await click(alice, "Cancel order")
    assert f"Cancel order #{pid} at the panel?" in alice.text and env.panel.count("cancel") == 0
    await click(alice, "No")
    assert f"Order #{pid}" in alice.text and env.panel.count("cancel") == 0
    await click(alice, "Cancel order")
    await click(alice, "Yes, cancel it")
    assert env.panel.count("cancel") == 1
    sim = env.panel.orders[pid]
    assert sim.status == "Canceled" and sim.refunded > 0
    assert env.panel.balance_of(KEY) == balance + sim.refunded
    assert "Canceled" in alice.text and "Cancellation requested" in alice.text
    assert not any("Cancel order" in b for b in alice.buttons())
    assert (await stored(env, order_id)).status == "Canceled"


async def test_cancel_refused_where_the_service_has_none(env: BotEnv) -> None:
    alice = await env.connected()
    order_id = await place_order_directly(env, alice.chat_id, PLAIN, link(), 100)
    await open_card(alice, order_id)
    assert not any("Cancel" in b for b in alice.buttons())
    await alice.press_data(f"o:cxl:{order_id}")
    await alice.press_data(f"o:cxy:{order_id}")
    assert all("does not allow cancelling" in a for a in alice.alerts()[-2:])
    assert env.panel.count("cancel") == 0


async def test_group_member_without_rights_cannot_refill(env: BotEnv) -> None:
    admin, member = env.person(201), env.person(202, first_name="Bob")
    group = env.tg.add_group(-1001, "Team", admins=[201], members=[202])
    await env.link(group)
    order_id = await place_order_directly(env, group, REFILL_AND_CANCEL, link(), 100)
    pid = await panel_id(env, order_id)
    env.panel.clock.advance(60)
    env.panel.force_status(pid, "Completed")
    bob = env.in_group(member, group)
    await open_card(bob, order_id)
    await click(bob, "Refresh")  # everyone may look
    assert "Completed" in bob.text
    await click(bob, "Refill")
    assert "Only the group's admins may do this." in bob.alerts()[-1]
    await bob.say(f"/refill {pid}")
    assert "Only the group's admins may do this." in bob.text
    await bob.press_data(f"o:cxl:{order_id}")
    assert "Only the group's admins" in bob.alerts()[-1]
    assert env.panel.count("refill") == 0 and env.panel.count("cancel") == 0

    boss = env.in_group(admin, group)
    await click(boss, "Refill")
    assert env.panel.count("refill") == 1
    assert "Refill #1: Pending" in boss.message_with_button("Refresh")["text"]


async def test_stale_or_foreign_order_in_a_button(env: BotEnv) -> None:
    alice, bob = await env.connected(101), await env.connected(102)
    bobs = await place_order_directly(env, bob.chat_id, REFILL_AND_CANCEL, link(), 100)
    await alice.say("/orders")
    for data in ("o:show:99999", f"o:ref:{bobs}", f"o:fill:{bobs}", "o:cxy:x", "o:list:77"):
        await alice.press_data(data)
    answers = alice.alerts()
    assert len([a for a in answers if "not in this chat's list" in a]) == 4
    assert "No orders yet" in alice.text  # a stale page shows the nearest one
    assert env.panel.count("refill") == 0 and env.panel.count("cancel") == 0
