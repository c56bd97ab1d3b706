"""The order wizard: bad input, the summary, Confirm exactly once, unclear outcomes, restarts, order again."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from storage.models import Order
from tests.e2e.conftest import BotEnv, Person, plain

LINK = "https://instagram.com/alice"


async def rows(env: BotEnv) -> list[Order]:
    async with env.deps.sessions() as session:
        return list((await session.scalars(select(Order).order_by(Order.id))).all())


async def wait_for_text(person: Person, snippet: str, timeout: float = 10) -> None:
    """For answers that come after a silence longer than the harness waits (a slow panel)."""
    for _ in range(int(timeout / 0.05)):
        if snippet in person.text:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{snippet!r} never came; last: {person.text!r}")


async def say_all(person: Person, texts: list[str]) -> list[str]:
    """Type several messages at once (the bot takes them in order); the texts of the bot's replies."""
    mark = person.tg.mark()
    before = len(person.tg.bot_messages(person.chat_id))
    for text in texts:
        person.tg.send_text(person.chat_id, person.user_id, text)
    await person.tg.wait_for_bot_message(person.chat_id, after=mark, timeout=10)
    await person.env.quiet(mark)
    return [m.get("text", "") for m in person.tg.bot_messages(person.chat_id)[before:]]


async def to_summary(person: Person, quantity: int = 100, link: str = LINK) -> str:
    """Service 1 (Default, drip-feed capable): link, quantity, no drip-feed -> the summary."""
    await say_all(person, ["/order 1", link, str(quantity)])
    await person.press("Skip (no drip-feed)")
    assert "Order summary" in person.text, person.text
    return person.text


async def test_bad_input_is_refused_with_the_reason(env: BotEnv) -> None:
    alice = await env.connected(101)
    bad_links = [
        "instagram.com/alice",
        "ftp://example.com/x",
        "https://localhost/x",
        "https://a.com/x y",
        "https://" + "a" * 500 + ".com",
    ]
    bad_numbers = ["abc", "12.5", "-3"]
    replies = await say_all(alice, ["/order 1", *bad_links, LINK, "10", "20000", *bad_numbers, "1,000", "1"])
    assert len(replies) == 1 + len(bad_links) + 1 + 2 + len(bad_numbers) + 2, replies
    links, rest = replies[1 : 1 + len(bad_links)], replies[1 + len(bad_links) :]
    assert all("not a valid link" in r for r in links), links
    assert "Send the quantity: a whole number from 50 to 10000" in rest[0]
    assert "The quantity must be between 50 and 10000" in rest[1] and "between 50 and 10000" in rest[2]
    assert all("send a whole number" in r.lower() for r in rest[3:6]), rest[3:6]
    assert "runs" in rest[6] and "between 2 and 1000" in rest[7]
    await alice.say("/cancel")
    assert alice.text == "Order cancelled."
    assert env.panel.count("add") == 0


async def test_unknown_service_no_account_and_search(env: BotEnv) -> None:
    bob = env.person(202)
    await bob.say("/order 1")
    assert "Link your panel account first" in bob.text and "Link a panel" in bob.buttons()[0]

    alice = await env.connected(101)
    await alice.say("/order 99999")
    assert "No service with id 99999 on your panel." in alice.text
    await alice.say("2")
    assert "Send the link" in alice.text
    await alice.press("Cancel")
    assert alice.text == "Order cancelled."

    await alice.say("/order")
    assert "Browse services" in alice.buttons()[0]
    await alice.say("Instagram Likes Package")
    assert any(label.startswith("2 · ") for label in alice.buttons())
    await alice.press("2 · ")
    assert "Send the link" in alice.text and "Instagram Likes Package" in alice.text


async def test_insufficient_funds_warns_then_is_rejected(env: BotEnv) -> None:
    alice = await env.connected(101, key="demo-key-poor")
    summary = plain(await to_summary(alice, quantity=1000))
    assert "⚠️ Not enough funds" in summary and "Balance: 0.05 USD → -0.85 USD" in summary
    await alice.press("Confirm")
    assert "Not enough funds on the panel balance" in alice.text
    assert "Rejected" in alice.text
    assert env.panel.count("add") == 1
    (order,) = await rows(env)
    assert order.placement == "rejected" and "Not enough funds" in (order.error or "")


async def test_confirm_pressed_twice_places_once(env: BotEnv) -> None:
    alice = await env.connected(101)
    await to_summary(alice)
    summary = alice.last
    data = next(d for label, d in env.tg.buttons(summary) if "Confirm" in label)
    await alice.press("Confirm")
    assert "Order placed" in alice.text
    assert env.tg.buttons(env.tg.bot_messages(alice.chat_id)[-2]) == []  # the summary lost its buttons
    await alice.press_data(data, message=summary)
    assert "Already confirmed" in alice.alerts()
    assert "Order #" in alice.text
    assert env.panel.count("add") == 1


async def test_two_presses_back_to_back_place_once(env: BotEnv) -> None:
    alice = await env.connected(101)
    await to_summary(alice)
    summary = alice.last
    data = next(d for label, d in env.tg.buttons(summary) if "Confirm" in label)
    mark = env.tg.mark()
    env.tg.press_button(alice.chat_id, summary["message_id"], data, alice.user_id)
    env.tg.press_button(alice.chat_id, summary["message_id"], data, alice.user_id)
    await env.tg.wait_for_bot_message(alice.chat_id, after=mark, timeout=10)
    await env.quiet(mark)
    assert env.panel.count("add") == 1
    assert {"Sending…", "Already confirmed"} <= set(alice.alerts())
    assert [o.placement for o in await rows(env)] == ["placed"]


async def test_panel_timeout_after_send_is_unclear_and_not_retried(env: BotEnv) -> None:
    env.deps.panels._timeout = 0.5  # before any client of the account is made
    env.panel.faults.hang_actions = {"add"}
    env.panel.faults.hang_seconds = 1.5
    alice = await env.connected(101)
    await to_summary(alice)
    await alice.press("Confirm")
    await wait_for_text(alice, "We could not tell")
    assert "We could not tell whether the panel took this order" in alice.text
    assert "check your panel's order list" in alice.text
    (order,) = await rows(env)
    assert order.placement == "unclear"
    await asyncio.sleep(1.2)  # the panel has answered late by now; nothing was sent again
    assert env.panel.count("add") == 1


async def test_cancel_midway_and_stale_buttons(env: BotEnv) -> None:
    alice = await env.connected(101)
    await alice.say("/order 1")
    await alice.say(LINK)
    await alice.say("/cancel")
    assert alice.text == "Order cancelled."
    await alice.say("/order 1")
    await alice.say(LINK)
    await alice.say("100")
    await alice.press("Cancel")
    assert alice.text == "Order cancelled."
    await alice.press_data("ord:skip")
    assert "This button is no longer active." in alice.alerts()
    assert env.panel.count("add") == 0


async def test_restart_mid_conversation_then_finish(env: BotEnv) -> None:
    alice = await env.connected(101)
    await alice.say("/order 1")
    await alice.say(LINK)
    await env.restart()
    await alice.say("250")
    assert "Drip-feed" in alice.text
    await env.restart()
    await alice.press("Skip (no drip-feed)")
    assert "Order summary" in alice.text
    await env.restart()
    await alice.press("Confirm")
    assert "Order placed" in alice.text
    order = env.panel.orders[max(env.panel.orders)]
    assert (order.link, order.quantity) == (LINK, 250)


async def test_edit_keeps_answers_and_voids_the_old_summary(env: BotEnv) -> None:
    alice = await env.connected(101)
    await to_summary(alice, quantity=100)
    old = alice.last
    old_data = next(d for label, d in env.tg.buttons(old) if "Confirm" in label)
    await alice.press("Edit")
    assert "Current: " + LINK in alice.text
    await alice.press("Keep current")
    assert "Current: 100" in alice.text
    await alice.say("300")
    await alice.press("Skip (no drip-feed)")
    assert "Quantity: 300" in alice.text and LINK in alice.text
    await alice.press_data(old_data, message=old)
    assert any("no longer valid" in a for a in alice.alerts())
    await alice.press("Confirm")
    assert env.panel.count("add") == 1
    assert env.panel.orders[max(env.panel.orders)].quantity == 300


async def test_order_again(env: BotEnv) -> None:
    alice = await env.connected(101)
    await to_summary(alice, quantity=120)
    await alice.press("Confirm")
    first = max(env.panel.orders)
    card = alice.last
    await alice.press("Order again", message=card)
    summary = plain(alice.text)
    assert "Order summary" in summary and "Quantity: 120" in summary and LINK in summary
    assert "Edit" in " ".join(alice.buttons())
    await alice.press("Confirm")  # the first order is still running on the same link
    assert "There is already an active order for this link; wait until it completes" in alice.text
    env.panel.force_status(first, "Completed")
    await alice.press("Order again", message=card)
    await alice.press("Confirm")
    assert "Order placed" in alice.text
    assert env.panel.count("add") == 3
    again = env.panel.orders[max(env.panel.orders)]
    assert (again.link, again.quantity, again.service_id) == (LINK, 120, 1)


async def test_group_prompts_force_a_reply_and_members_are_checked(env: BotEnv) -> None:
    admin, member = env.person(301), env.person(302)
    env.tg.add_group(-500, "Shop", admins=[301], members=[302])
    await env.link(-500)
    boss, other = env.in_group(admin, -500), env.in_group(member, -500)
    await other.say("/order 1")
    assert "Only the group's admins" in other.text
    await boss.say("/order 1")
    prompt = boss.last
    markup = env.tg.extras[(-500, prompt["message_id"])]["reply_markup"]
    assert markup == {"force_reply": True, "selective": True}
    await boss.say(LINK, reply_to=prompt["message_id"])
    assert "quantity" in boss.text
    await boss.say("100", reply_to=boss.last["message_id"])
    await boss.say("/skip")
    assert "Order summary" in boss.text
    await boss.press("Confirm")
    assert "Order placed" in boss.text and env.panel.count("add") == 1


async def test_conversation_deadline_ends_politely(env: BotEnv) -> None:
    alice = await env.connected(101)
    await alice.say("/order 1")
    assert await env.conversation(101, 101) == ("order", "1")
    assert await env.expire_conversations() == 1  # 30 minutes later, maybe after a restart
    await alice.say("https://instagram.com/p/late")  # the link the wizard asked for, too late
    texts = [m["text"] for m in env.tg.bot_messages(101)[-2:]]
    assert "The /order step expired" in texts[0]
    assert "not sure what you mean" in texts[1]
    assert await env.conversation(101, 101) == (None, None)
    assert env.panel.count("add") == 0
