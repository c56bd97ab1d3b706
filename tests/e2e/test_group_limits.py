"""Who sees what of a group's panel, and one cancel / one refill request per order, end to end.

- /status in a group: members get the orders placed in that group only (nothing else is asked of the
  panel); admins (asked afresh with getChatMember) any id of the group's account.
- A second "Yes, cancel" (a double press, a press on an old confirmation) never sends a second `cancel`.
- Two refill requests of one order at once send one `refill`.
"""

from __future__ import annotations

import asyncio

from bot import order_requests as actions
from bot.order_requests import Kind
from bot.panel import PanelClient
from tests.e2e.conftest import KEY, BotEnv
from tests.e2e.test_orders import (
    PLAIN,
    REFILL_AND_CANCEL,
    click,
    link,
    open_card,
    panel_id,
    place_order_directly,
    refills_of,
    stored,
)

GROUP = -1001


async def test_group_status_members_see_the_groups_orders_admins_any(env: BotEnv) -> None:
    ada, max_ = env.person(201, first_name="Ada"), env.person(202, first_name="Max")
    env.tg.add_group(GROUP, "Team", admins=[200, 201], members=[202])  # 200 the creator
    await env.link(GROUP)
    admin, member = env.in_group(ada, GROUP), env.in_group(max_, GROUP)
    ours = await panel_id(env, await place_order_directly(env, GROUP, PLAIN, link(), 100))
    # an order of the same panel account placed elsewhere (on the panel's site, say)
    elsewhere = (await PanelClient(env.panel.url, KEY).add(PLAIN, link=link(), quantity=100)).order_id
    env.panel.clock.advance(60)  # past the moments where a new order is not found yet

    before = env.panel.count("status")
    await member.say(f"/status {ours} {elsewhere}")
    lines = member.text.splitlines()
    assert str(ours) in lines[0] and "not an order of this group" not in lines[0]
    assert str(elsewhere) in lines[1] and "not an order of this group" in lines[1]
    assert env.panel.count("status") == before + 1
    assert env.panel.requests[-1][1].get("orders", env.panel.requests[-1][1].get("order")) == str(ours)

    await member.say(f"/status {elsewhere}")  # nothing of the group's: the panel is not asked at all
    assert "orders placed in this group only" in member.text
    assert env.panel.count("status") == before + 1

    await admin.say(f"/status {elsewhere}")
    assert "not placed through this bot" in admin.text and "not an order of this group" not in admin.text
    env.tg.set_admin(GROUP, 201, False)  # demoted: the very next command is judged afresh
    await admin.say(f"/status {elsewhere}")
    assert "orders placed in this group only" in admin.text

    await max_.say(f"/status {elsewhere}")  # in a private chat with no panel of its own: nothing to see
    assert str(elsewhere) not in max_.text or "No panel" in max_.text


async def test_a_second_yes_cancel_sends_nothing(env: BotEnv) -> None:
    alice = await env.connected()
    order_id = await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 1000)
    env.panel.clock.advance(40)
    await open_card(alice, order_id)
    await click(alice, "Cancel order")
    confirmation = alice.last
    # the panel takes the cancel, but the status read after it fails: the order still looks cancellable
    env.panel.faults.fail_actions["status"] = "502"
    await click(alice, "Yes, cancel it")
    assert env.panel.count("cancel") == 1
    assert (await stored(env, order_id)).cancel_requested_at is not None
    assert not any("Cancel order" in b for b in alice.buttons())
    # a press on the old confirmation, and the cancel button of an old card
    await alice.press_data(f"o:cxy:{order_id}", message=confirmation)
    assert "Cancel already requested" in alice.alerts()[-1]
    await alice.press_data(f"o:cxl:{order_id}", message=confirmation)
    assert "Cancel already requested" in alice.alerts()[-1]
    assert env.panel.count("cancel") == 1


async def test_double_cancel_at_once_sends_one(env: BotEnv) -> None:
    alice = await env.connected()
    order_id = await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 1000)
    env.panel.clock.advance(40)
    deps = env.deps
    results = await asyncio.gather(
        *(actions.cancel(deps.sessions, deps.panels, order_id, alice.chat_id) for _ in range(2))
    )
    assert sorted(r.kind for r in results) == sorted([Kind.ok, Kind.cancel_requested])
    assert env.panel.count("cancel") == 1


async def test_a_cancel_not_sent_may_be_asked_again(env: BotEnv) -> None:
    alice = await env.connected()
    order_id = await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 1000)
    env.panel.clock.advance(40)
    deps = env.deps
    env.panel.faults.fail_actions["cancel"] = "429"  # refused before processing: nothing cancelled
    first = await actions.cancel(deps.sessions, deps.panels, order_id, alice.chat_id)
    assert first.kind in (Kind.unreachable, Kind.rejected)
    assert (await stored(env, order_id)).cancel_requested_at is None
    del env.panel.faults.fail_actions["cancel"]
    second = await actions.cancel(deps.sessions, deps.panels, order_id, alice.chat_id)
    assert second.kind == Kind.ok


async def test_double_refill_at_once_sends_one(env: BotEnv) -> None:
    alice = await env.connected()
    order_id = await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 100)
    pid = await panel_id(env, order_id)
    env.panel.clock.advance(60)
    env.panel.force_status(pid, "Completed")
    deps = env.deps
    async with deps.sessions() as s:  # stored as Completed, so no status read comes first
        from storage.models import Order

        order = await s.get(Order, order_id)
        assert order is not None
        order.status = "Completed"
        await s.commit()
    results = await asyncio.gather(
        *(actions.request_refill(deps.sessions, deps.panels, order_id, alice.chat_id, 101) for _ in range(2))
    )
    assert sorted(r.kind for r in results) == sorted([Kind.ok, Kind.refill_open])
    assert env.panel.count("refill") == 1 and len(await refills_of(env, order_id)) == 1
