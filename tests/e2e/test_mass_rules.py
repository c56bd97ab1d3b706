"""/mass for any input, and who may press a batch's buttons, end to end through the Bot API emulator."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from storage import repo
from storage.models import Chat, Order, Placement
from tests.e2e.conftest import BotEnv, plain
from tests.e2e.test_mass import LINK, rows, wait_for

GROUP = -700
ADMIN, BUILDER, OTHER = 701, 702, 703


async def team(env: BotEnv):
    admin, builder, other = env.person(ADMIN), env.person(BUILDER), env.person(OTHER)
    env.tg.add_group(GROUP, "Shop", admins=[ADMIN], members=[BUILDER, OTHER])
    await env.link(GROUP)
    async with env.deps.sessions() as session:
        chat = await session.get(Chat, GROUP)
        assert chat is not None
        chat.members_may_order = True
        await session.commit()
    return env.in_group(admin, GROUP), env.in_group(builder, GROUP), env.in_group(other, GROUP)


async def test_only_the_builder_or_an_admin_may_confirm_or_cancel_a_batch(env: BotEnv) -> None:
    admin, builder, other = await team(env)
    await builder.say(f"/mass 1|{LINK}/a|100\n1|{LINK}/b|200")
    summary = builder.last
    assert "to order: 2" in plain(builder.text)
    someone_else = "This is someone else's order in progress: only they or an admin may confirm it."
    await other.press("Confirm 2 orders", message=summary)
    assert other.alerts()[-1] == someone_else
    await other.press("Cancel", message=summary)
    assert other.alerts()[-1] == someone_else
    assert [o.placement for o in await rows(env)] == ["drafted", "drafted"] and env.panel.count("add") == 0
    # admin rights are asked afresh: promoted a moment ago, the other member may now confirm it
    env.tg.set_admin(GROUP, OTHER, True)
    await other.press("Confirm 2 orders", message=summary)
    await wait_for(other, "Mass order: done")
    assert env.panel.count("add") == 2
    batch_id = (await rows(env))[0].confirm_token[:10]
    await admin.press_data(f"mass:ok:{batch_id}", message=summary)  # the buttons are gone; an old press
    assert admin.alerts()[-1] == "Already confirmed" and env.panel.count("add") == 2


async def test_the_builder_may_cancel_and_an_admin_may_cancel_a_members_batch(env: BotEnv) -> None:
    admin, builder, _ = await team(env)
    await builder.say(f"/mass 1|{LINK}/a|100")
    await builder.press("Cancel", message=builder.last)
    assert builder.text == "Mass order cancelled." and await rows(env) == []
    await builder.say(f"/mass 1|{LINK}/b|100")
    await admin.press("Cancel", message=builder.last)
    assert "Mass order cancelled." in admin.text and await rows(env) == []
    assert env.panel.count("add") == 0


async def test_a_batch_button_cannot_reach_a_single_order_draft(env: BotEnv) -> None:
    """Confirm/Cancel of a batch name a whole batch id in its own namespace: a made-up `mass:ok:` with the
    start of a single order's token finds nothing (before, the first 10 characters matched it)."""
    alice = await env.connected(101)
    async with env.deps.sessions() as session:
        account = (await repo.accounts.list_accounts(session, alice.chat_id))[0]
        draft = await repo.orders.create_draft(
            session,
            chat_id=alice.chat_id,
            account_id=account.id,
            placed_by=alice.user_id,
            service_id=1,
            price=Decimal("0.09"),
            link=f"{LINK}/single",
            quantity=100,
        )
        await session.commit()
        token = draft.confirm_token
    await alice.say(f"/mass 1|{LINK}/a|100")
    summary = alice.last
    for data in (f"mass:ok:{token[:10]}", f"mass:ok:{token}", f"mass:x:{token[:10]}", "mass:ok:~"):
        await alice.press_data(data, message=summary)
    assert env.panel.count("add") == 0
    async with env.deps.sessions() as session:
        single = await session.scalar(select(Order).where(Order.confirm_token == token))
        assert single is not None and single.placement == Placement.drafted
    assert "This summary is no longer valid" in alice.alerts()[-1]


async def test_odd_quantities_and_fields_get_a_verdict_each(env: BotEnv) -> None:
    alice = await env.connected(101)
    lines = [
        f"1|{LINK}/a|²",
        f"1|{LINK}/b|{'9' * 1500}",
        f"1|{LINK}/c|{2**63}",
        f"1|{LINK}/d|-100",
        f"1|{LINK}/e|1e3",
        f"1|{LINK}/f|١٠٠",
        f"1|{LINK}/{'x' * 600}|100",
        f"<b>&amp;|{LINK}/g|100",
    ]
    await alice.say("/mass\n" + "\n".join(lines))
    summary = plain(alice.text)
    assert "Sorry" not in summary and "went wrong" not in summary
    assert "Lines: 8 · to order: 1 · with problems: 7" in summary
    assert "line 1: quantity “²” uses digit signs such as ² or ①; write it with plain digits" in summary
    assert f"line 2: quantity “{'9' * 39}…” is too large" in summary
    assert f"line 3: quantity “{2**63}” is too large" in summary
    assert "line 4: quantity “-100” is not a whole number" in summary
    assert "line 5: quantity “1e3” is not a whole number" in summary
    assert "line 7: “https://instagram.com/p/mass/xxx" in summary and "is not a valid link" in summary
    assert "line 8: “<b>&amp;” is not a service id" in summary
    await alice.press("Confirm 1 order")
    await wait_for(alice, "Mass order: done")
    placed = [o for o in await rows(env) if o.placement == Placement.placed]
    assert [(o.link, o.quantity) for o in placed] == [(f"{LINK}/f", 100)]


async def test_ten_thousand_lines_in_a_file(env: BotEnv) -> None:
    alice = await env.connected(101)
    data = "\n".join(f"1|https://t.co/{i}|100" for i in range(10_000)).encode()
    assert len(data) < 256 * 1024
    await alice.send_file("orders.txt", data, caption="/mass")
    summary = plain(alice.text)
    assert "Lines: 10000 · to order: 500 · with problems: 1" in summary
    assert (
        "line 501: not read, nor any line after it up to line 10000: at most 500 orders at once; "
        "send them with another /mass"
    ) in summary
    assert len(await rows(env)) == 500
