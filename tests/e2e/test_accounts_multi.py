"""Several panel accounts in one chat, end to end: linking a second one (and naming it), /accounts (default,
rename, unlink, group rights), /balance of both, the order wizard's account question, the orders list's
names and filters, the catalog per account, and comparing a service across two panels."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from storage import repo
from storage.models import Account, Order
from tests.e2e.conftest import KEY, BotEnv, Person, make_env, plain

LINK = "https://instagram.com/multi"
GROUP, OWNER, ADMIN, MEMBER = -1002, 300, 301, 302  # the owner (creator) cannot be demoted


@pytest.fixture
async def env(tmp_path: Path, sqlite_url: str) -> AsyncIterator[BotEnv]:
    """A second panel (another simulator, seed 2) is allowed too: env.extras[0]."""
    async for e in make_env(tmp_path, sqlite_url, extra_panels=1):
        yield e


def host(env: BotEnv, index: int = -1) -> str:
    url = env.panel.url if index < 0 else env.extras[index].url
    return url.split("/")[2]


def data_of(person: Person, label: str) -> str:
    for text, data in person.tg.buttons(person.last):
        if label in text:
            return data
    raise AssertionError(f"no button {label!r} in {person.buttons()}")


async def accounts_of(env: BotEnv, chat_id: int) -> list[Account]:
    async with env.deps.sessions() as s:
        return await repo.accounts.list_accounts(s, chat_id)


async def stored_order(
    env: BotEnv, chat_id: int, account_id: int, *, placement: str = "placed", status: str | None = None
) -> int:
    """An order row in a given state, straight in the database (the list only reads rows)."""
    async with env.deps.sessions() as s:
        order = await repo.orders.create_draft(
            s,
            chat_id=chat_id,
            account_id=account_id,
            placed_by=chat_id,
            service_id=1,
            price=Decimal("0.09"),
            service_name=f"Service of account {account_id} {status or placement}",
            quantity=100,
            link=LINK,
        )
        await s.commit()
        assert order.id is not None
        await repo.orders.claim_draft_for_sending(s, order.confirm_token)
        if placement == "placed":
            await repo.orders.mark_placed(s, order.id, 900_000 + order.id)
            if status:
                placed = await repo.orders.get_order(s, order.id)
                assert placed is not None
                await repo.orders.apply_status(s, placed, status, 0, 0, None, None)
        elif placement == "rejected":
            await repo.orders.mark_rejected(s, order.id, "Incorrect link")
        await s.commit()
        return order.id


async def test_second_key_is_named_and_accounts_menu_manages_them(env: BotEnv) -> None:
    alice = await env.connected(101)
    await alice.say("/connect")
    assert "This chat has 1 linked panel already" in alice.text
    await alice.say("demo-key-rub")
    assert "✅ Panel linked" in alice.text and "Send a short name for this one" in alice.text
    assert f"keep “{host(env)} RUB”" in alice.text  # the default label tells it apart from the first key
    await alice.say("Rubles")
    assert "The panel is called Rubles." in alice.text
    usd, rub = sorted(await accounts_of(env, 101), key=lambda a: a.id or 0)
    assert (usd.label, rub.label, usd.is_default) == (host(env), "Rubles", True)

    await alice.say("/accounts")
    assert "Linked panels" in alice.text and "Rubles" in alice.text and "Currency: RUB" in alice.text
    assert alice.buttons()[:2] == [f"⭐ {host(env)} · USD", "Rubles · RUB"]
    await alice.press("Rubles · RUB")
    await alice.press("Make default")
    assert "Default panel: Rubles" in alice.alerts()[-1] and "This is the default panel" in alice.text
    assert (await accounts_of(env, 101))[0].label == "Rubles"

    await alice.press("Rename")
    assert "Send the new name of Rubles" in alice.text
    await alice.say("x" * 40)
    assert "1 to 32 characters" in alice.text
    await alice.say("Main RUB")
    assert "Renamed to Main RUB" in alice.text and "⭐ Main RUB · RUB" in alice.buttons()

    await alice.press("Main RUB")
    await alice.press("Unlink")
    assert "Unlink Main RUB from this chat?" in plain(alice.text)
    await alice.press("Yes, unlink")
    assert "Main RUB" not in alice.text and alice.buttons()[0] == f"⭐ {host(env)} · USD"
    assert [a.id for a in await accounts_of(env, 101)] == [usd.id]


async def test_accounts_in_a_group_only_admins_change_them(env: BotEnv) -> None:
    people = [env.person(ADMIN, first_name="Ada"), env.person(MEMBER, first_name="Max")]
    env.tg.add_group(GROUP, "Team", admins=[OWNER, ADMIN], members=[MEMBER])
    await env.link(GROUP)
    await env.link(GROUP, "demo-key-rub", currency="RUB")
    admin, member = (env.in_group(p, GROUP) for p in people)

    await member.say("/accounts")  # anyone may look
    rub = f"{host(env)} RUB · RUB"
    assert rub in member.buttons()
    await member.press(rub)
    for action in ("Make default", "Rename", "Unlink"):
        await member.press(action)
        assert "Only the group's admins may do this." in member.alerts()[-1]
    assert (await accounts_of(env, GROUP))[0].currency == "USD"

    await admin.press("Make default")
    assert (await accounts_of(env, GROUP))[0].currency == "RUB"
    await admin.press("Rename")
    assert "Reply to this message" in admin.text
    await admin.say("Team rubles", reply_to=admin.last["message_id"])
    assert "Renamed to Team rubles" in admin.text
    env.tg.set_admin(GROUP, ADMIN, False)  # demoted: stopped at the next press
    await admin.press("Team rubles")
    await admin.press("Unlink")
    assert "Only the group's admins may do this." in admin.alerts()[-1]
    assert len(await accounts_of(env, GROUP)) == 2


async def test_balance_order_question_orders_list_names_and_filters(env: BotEnv) -> None:
    alice = env.person(101)
    usd = await env.link(101, KEY)
    rub = await env.link(101, "demo-key-rub", currency="RUB")

    await alice.say("/balance")
    text = plain(alice.text)
    assert "100.00 USD" in text and "50000.00 RUB" in text
    assert f"⭐ {host(env)} · {host(env)}" in text and f"{host(env)} RUB · {host(env)}" in text

    # /order asks which account, the default marked first; the choice is remembered for the next /order
    await alice.say("/order")
    assert "Which panel should take this order?" in alice.text
    assert alice.buttons()[:2] == [f"✅ {host(env)} · USD", f"{host(env)} RUB · RUB"]
    await alice.press("RUB · RUB")
    assert f"Panel: {host(env)} RUB" in alice.text and "Send the ID of the service" in alice.text
    await alice.say("1")
    await alice.say(LINK)
    await alice.say("1000")
    await alice.press("Skip (no drip-feed)")
    summary = plain(alice.text)
    assert f"Panel: {host(env)} RUB" in summary and "RUB" in summary.split("Price:")[1]
    await alice.press("Confirm")
    assert "Order placed" in alice.text and f"Panel: {host(env)} RUB" in alice.text
    (placed,) = env.panel.orders.values()
    assert placed.key == "demo-key-rub"

    await alice.say("/order 1")
    assert "Order “1”: which panel should take it?" in alice.text
    assert alice.buttons()[0] == f"✅ {host(env)} RUB · RUB"
    await alice.press(f"{host(env)} · USD")
    assert "Send the link" in alice.text
    await alice.say("/cancel")

    # the list names each order's account and filters by state and by account
    done = await stored_order(env, 101, usd, status="Completed")
    await stored_order(env, 101, usd, placement="rejected")
    await stored_order(env, 101, rub, status="Partial")
    await alice.say("/orders")
    assert "4 in all" in alice.text and f"· {host(env)} RUB" in alice.text
    for label in ("All", "Active", "Completed", "Problems", "All panels", f"{host(env)} RUB"):
        assert any(b.endswith(label) for b in alice.buttons()), (label, alice.buttons())
    await alice.press("Completed")
    assert "Orders · Completed" in alice.text and "1 in all" in alice.text
    assert data_of(alice, "Completed") == "o:list:0:c:0" and f"#{900_000 + done}" in alice.text
    await alice.press("Problems")
    assert "2 in all" in alice.text and "Rejected" in alice.text and "Partial" in alice.text
    await alice.press(f"{host(env)} RUB")
    assert f"Orders · Problems · {host(env)} RUB" in alice.text and "1 in all" in alice.text
    await alice.press("Active")
    assert "1 in all" in alice.text and f"#{placed.id}" in alice.text  # the order placed above
    await alice.press("• Active")
    await alice.press("All")
    assert "2 in all" in alice.text
    await alice.press_data(f"o:list:0:c:{rub}")
    assert "No orders match this filter." in alice.text and "All" in alice.buttons()
    await alice.press_data("o:list:0")  # the old form still works: everything
    assert "4 in all" in alice.text
    await alice.press(f"#{placed.id}")
    assert f"Panel: {host(env)} RUB" in alice.text


async def test_catalog_per_account_and_compare_across_panels(env: BotEnv) -> None:
    alice = env.person(101)
    await env.link(101, KEY)
    other = env.extras[0]
    second = await env.link(101, KEY, panel_url=other.url)
    # panel 2 sells service 1's kind under another name, cheaper; a name too different is no match
    first = env.panel.service(1)
    cheap = other.service(1)
    cheap.update(name="🔥 Instagram Followers [HQ] [Max 50K]", rate=Decimal("0.55"))
    unlike = next(s for s in other.catalog if s["type"] == "Default" and s["service"] > 30)
    unlike.update(name="Instagram Followers Premium Worldwide Fast", rate=Decimal("0.01"))

    await alice.say("/services")
    assert f"Panel: {host(env)}" in alice.text and f"🔀 {host(env, 0)} · USD" in alice.buttons()
    await alice.press(f"🔀 {host(env, 0)}")
    assert f"Panel: {host(env, 0)}" in alice.text
    scoped = [d for label, d in env.tg.buttons(alice.last) if d.startswith("svc:") and "🔀" not in label]
    assert scoped and all(d.endswith(f":a{second}") for d in scoped)

    await alice.say("/services 1")
    assert first["name"] in alice.text and "⚖️ Compare across panels" in alice.buttons()
    await alice.press("Compare across panels")
    text = alice.text
    assert "across your panels" in text and "🔥 Instagram Followers [HQ] [Max 50K]" in text
    assert "Premium Worldwide" not in text  # 2 words of 5 in common
    rates = [Decimal(r) for r in re.findall(r"^\d+\. ([\d.]+) USD", text, re.M)]
    assert rates == sorted(rates) and len(rates) >= 3 and rates[0] == Decimal("0.55")
    own = next(line for line in text.splitlines() if line.endswith("◀"))
    assert "0.90 USD" in own and host(env) in own
    assert "Google SEO" not in text  # another type is never a match
    order = f"ord:new:1:{second}"
    assert order in [d for _l, d in env.tg.buttons(alice.last)]
    await alice.press_data(order)
    assert f"Panel: {host(env, 0)}" in alice.text and "Send the link" in alice.text
    await alice.say(LINK)
    await alice.say("1000")
    await alice.press("Skip (no drip-feed)")
    assert "0.55 USD" in plain(alice.text)
    await alice.press("Confirm")
    assert "Order placed" in alice.text
    assert (other.count("add"), env.panel.count("add")) == (1, 0)

    await alice.say("/compare instagram followers")
    text = alice.text
    rates = [Decimal(r) for r in re.findall(r"^\d+\. ([\d.]+) USD", text, re.M)]
    assert rates == sorted(rates) and len(rates) == 10 and "matches shown" in text
    assert host(env) in text or host(env, 0) in text
    assert all(d.startswith("ord:new:") for _l, d in env.tg.buttons(alice.last))


async def test_compare_without_matches_and_unlinked_account(env: BotEnv) -> None:
    alice = env.person(101)
    await env.link(101, KEY)
    rub = await env.link(101, "demo-key-rub", currency="RUB")
    await alice.say("/compare")
    assert "Send /compare with a few words" in alice.text
    await alice.say("/compare zzzqqq")
    assert "Nothing matches “zzzqqq” on your panels." in alice.text
    await alice.say("/compare Instagram Likes Package")
    text = alice.text
    assert "USD" in text and "RUB" in text and "Rates in different currencies are not converted" in text
    async with env.deps.sessions() as s:
        await repo.accounts.remove_account(s, rub, 101)
        await s.commit()
    await alice.press_data(f"cmp:1:{rub}")
    assert "This panel is not linked any more." in alice.text
    await alice.press_data(f"ord:new:1:{rub}")  # the account is gone; the only one left takes over
    assert "Send the link" in alice.text
    async with env.deps.sessions() as s:
        assert (await s.scalars(select(Order))).all() == []


async def test_a_groups_second_panel_is_named_in_the_private_chat(env: BotEnv) -> None:
    env.tg.add_group(GROUP, "Team", admins=[OWNER, ADMIN], members=[MEMBER])
    await env.link(GROUP)
    admin = env.person(ADMIN, first_name="Ada")
    await admin.say(f"/start connect_g{abs(GROUP)}")
    assert "This chat has 1 linked panel already" in admin.text
    await admin.say("demo-key-rub")
    assert "Panel linked" in admin.text and "For the group" in admin.text
    assert "Send a short name" in admin.text
    env.tg.set_admin(GROUP, ADMIN, False)  # demoted before naming it: the name is refused
    await admin.say("Team RUB")
    assert "Only the group's admins may link a panel for it." in admin.text
    assert [a.label for a in await accounts_of(env, GROUP)] == [host(env), f"{host(env)} RUB"]
    env.tg.set_admin(GROUP, ADMIN, True)
    await admin.say(f"/start connect_g{abs(GROUP)}")
    await admin.say("demo-key-poor")
    await admin.press("Keep this name")
    assert f"The panel is called {host(env)} USD." in admin.text  # the host alone is taken
    assert len(await accounts_of(env, GROUP)) == 3 and await accounts_of(env, ADMIN) == []
