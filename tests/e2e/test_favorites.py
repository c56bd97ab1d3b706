"""Starred services end to end: the Star/Unstar button of a card, favourites first in /order and on the first
page of /services, per account, who may star in a group, and unlinking forgets the stars."""

from __future__ import annotations

from storage import repo
from tests.e2e.conftest import BotEnv, Person

GROUP, OWNER, ADMIN, MEMBER = -1003, 400, 401, 402


async def stars(env: BotEnv, chat_id: int) -> list[tuple[int, int]]:
    async with env.deps.sessions() as s:
        return [(f.account_id, f.service_id) for f in await repo.favorites.list_favorites(s, chat_id)]


async def star(person: Person, service_id: int) -> None:
    await person.say(f"/services {service_id}")
    assert "⭐ Star" in person.buttons(), person.buttons()
    await person.press("⭐ Star")


async def test_star_unstar_and_favourites_first(env: BotEnv) -> None:
    alice = await env.connected(101)
    name = env.panel.service(5)["name"]
    await alice.say("/services 5")
    card = alice.last
    await alice.press("⭐ Star")
    assert "Starred" in alice.alerts()[-1]
    now = env.tg.find_message(101, card["message_id"])  # the same card, the button relabelled
    assert now is not None and alice.buttons(now) == ["🛒 Order", "☆ Unstar", "⬅️ Back"]
    assert now["text"] == card["text"]
    await star(alice, 12)
    account_id = (await stars(env, 101))[0][0]
    assert await stars(env, 101) == [(account_id, 5), (account_id, 12)]

    # /order without an id: the favourites above "Browse services"
    await alice.say("/order")
    labels = alice.buttons()
    assert (
        labels[0].startswith("⭐ 5 · ")
        and labels[1].startswith("⭐ 12 · ")
        and "Browse services" in labels[2]
    )
    assert "Favourites" in alice.text and name[:30] in alice.text
    await alice.press("⭐ 5 · ")
    assert "Send the" in alice.text and f"({5})" in alice.text
    await alice.say("/cancel")

    # /services: a Favourites section at the top of the first page only
    await alice.say("/services")
    assert alice.text.startswith("⭐ Favourites") and alice.buttons()[0].startswith("⭐ 5 · ")
    await alice.press("Next ▶️")
    assert "Favourites" not in alice.text and not alice.buttons()[0].startswith("⭐")
    await alice.press("◀️ Previous")
    assert alice.text.startswith("⭐ Favourites")
    await alice.press("⭐ 12 · ")
    assert "Service ID: 12" in alice.text and "☆ Unstar" in alice.buttons()
    await alice.press("☆ Unstar")
    assert "Unstarred" in alice.alerts()[-1] and "⭐ Star" in alice.buttons()
    await alice.press("Back")  # a card opened from the favourites goes back to the first page
    assert alice.text.startswith("⭐ Favourites") and not any(b.startswith("⭐ 12") for b in alice.buttons())
    assert await stars(env, 101) == [(account_id, 5)]

    await alice.press_data(f"fav:5:{account_id}", message=card)
    await alice.say("/order")
    assert "Browse services" in alice.buttons()[0] and "Favourites" not in alice.text


async def test_favourites_belong_to_an_account_and_go_with_it(env: BotEnv) -> None:
    alice = env.person(101)
    usd = await env.link(101)
    rub = await env.link(101, "demo-key-rub", currency="RUB")
    await alice.say("/services")
    await alice.press("🔀 ")  # the RUB account's catalog
    await alice.press_data(f"svc:s:7:f:0:a{rub}")
    assert "RUB" in alice.text and "⚖️ Compare across panels" in alice.buttons()
    await alice.press("⭐ Star")
    assert await stars(env, 101) == [(rub, 7)]

    await alice.say("/order")
    await alice.press("· USD")
    assert not any(b.startswith("⭐") for b in alice.buttons())
    await alice.say("/order")
    await alice.press("· RUB")
    assert alice.buttons()[0].startswith("⭐ 7 · ")
    await alice.press("⭐ 7 · ")
    assert "Send the" in alice.text and f"{env.panel.url.split('/')[2]} RUB" in alice.text
    await alice.say("/cancel")

    async with env.deps.sessions() as s:
        await repo.accounts.remove_account(s, rub, 101)
        await s.commit()
    assert await stars(env, 101) == []
    await alice.press_data(f"fav:7:{rub}")
    assert "This panel is not linked any more." in alice.alerts()[-1]
    assert usd


async def test_in_a_group_only_those_who_may_order_star(env: BotEnv) -> None:
    people = [env.person(ADMIN, first_name="Ada"), env.person(MEMBER, first_name="Max")]
    env.tg.add_group(GROUP, "Team", admins=[OWNER, ADMIN], members=[MEMBER])
    await env.link(GROUP)
    admin, member = (env.in_group(p, GROUP) for p in people)
    await member.say("/services 3")
    await member.press("⭐ Star")
    assert "Only those who may order here may star services." in member.alerts()[-1]
    assert await stars(env, GROUP) == []
    await admin.press("⭐ Star", message=member.last)
    assert "☆ Unstar" in admin.buttons(member.last)
    assert [sid for _a, sid in await stars(env, GROUP)] == [3]
    await member.say("/services")  # everyone sees the group's favourites
    assert member.text.startswith("⭐ Favourites")
