"""An order of every service type, walked step by step through the wizard, confirmed, and checked on the
panel's side: exactly one `add`, with the fields as typed, and the summary's price equal to the charge."""

from __future__ import annotations

from typing import Any

import pytest

from bot.panel import SERVICE_TYPE_FIELDS
from handlers.common import money
from tests.e2e.conftest import BotEnv, Person, plain


def lines(prefix: str, n: int) -> str:
    return "\n".join(f"{prefix}{i}" for i in range(1, n + 1))


def answers(svc: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, what the person types or presses) in the order the wizard must ask; "[Label]" = a button."""
    lo, link = svc["min"], "https://instagram.com/p/abc"
    n_lines = max(lo, 5)
    table: dict[str, list[tuple[str, str]]] = {
        "Default": [("link", link), ("quantity", str(lo)), ("runs", "[Skip (no drip-feed)]")],
        "Package": [("link", link)],
        "SEO": [
            ("link", "https://example.com/shop"),
            ("quantity", str(lo)),
            ("keywords", "buy shoes\ncheap shoes"),
        ],
        "Custom Comments": [("link", link), ("comments", lines("Nice post ", n_lines))],
        "Custom Comments Package": [("link", link), ("comments", lines("Great video ", n_lines))],
        "Mentions": [("link", link), ("quantity", str(lo)), ("usernames", "alice\nbob_1\n@carol.x")],
        "Mentions with Hashtags": [
            ("link", link),
            ("quantity", str(lo)),
            ("usernames", "alice\nbob"),
            ("hashtags", "#summer\n#sun"),
        ],
        "Mentions Custom List": [("link", link), ("usernames", lines("user_", n_lines))],
        "Mentions Hashtag": [("link", link), ("quantity", str(lo)), ("hashtag", "#summer")],
        "Mentions User Followers": [("link", link), ("quantity", str(lo)), ("username", "@famous")],
        "Mentions Media Likers": [
            ("link", link),
            ("quantity", str(lo)),
            ("media", "https://instagram.com/p/xyz"),
        ],
        "Comment Likes": [("link", link), ("quantity", str(lo)), ("username", "commenter")],
        "Comment Replies": [
            ("link", link),
            ("username", "commenter"),
            ("comments", lines("Reply ", n_lines)),
        ],
        "Poll": [("link", "https://t.me/channel/5"), ("quantity", str(lo)), ("answer_number", "2")],
        "Invites from Groups": [
            ("link", "https://t.me/mygroup"),
            ("quantity", str(lo)),
            ("groups", "https://t.me/a\nhttps://t.me/b"),
        ],
        "Subscriptions": [
            ("username", "@blogger"),
            ("min", str(lo)),
            ("max", str(lo * 2)),
            ("delay", "[30]"),
            ("posts", "3"),
            ("old_posts", "[Skip]"),
            ("expiry", "31/12/2099"),
        ],
        "Web Traffic": [
            ("link", "https://example.com"),
            ("quantity", str(lo)),
            ("runs", "[Skip (no drip-feed)]"),
            ("country", "US"),
        ],
    }
    return table[svc["type"]]


async def walk(person: Person, steps: list[tuple[str, str]]) -> None:
    """Type the answers as a fast typist would (all at once: the bot takes them in order); "[Label]" waits
    for the prompt and presses its button."""
    batch: list[str] = []

    async def flush() -> None:
        if batch:
            mark = person.tg.mark()
            for text in batch:
                person.tg.send_text(person.chat_id, person.user_id, text)
            batch.clear()
            await person.tg.wait_for_bot_message(person.chat_id, after=mark, timeout=10)
            await person.env.quiet(mark)

    for _field, answer in steps:
        if answer.startswith("["):
            await flush()
            await person.press(answer[1:-1])
        else:
            batch.append(answer)
    await flush()


def expected_quantity(svc: dict[str, Any], typed: dict[str, str]) -> int:
    if svc["type"] == "Package":
        return 1
    if svc["type"] == "Subscriptions":
        return int(typed["max"]) * int(typed.get("posts", "1"))
    for field in ("comments", "usernames"):
        if field in typed and "quantity" not in typed:
            return len(typed[field].splitlines())
    return int(typed["quantity"])


@pytest.mark.parametrize("service_type", list(SERVICE_TYPE_FIELDS))
async def test_order_each_type(env: BotEnv, service_type: str) -> None:
    svc = env.panel.first_service_of_type(service_type)
    alice = await env.connected(101)
    await alice.say(f"/order {svc['service']}")
    steps = answers(svc)
    await walk(alice, steps)
    summary = alice.text
    assert "Order summary" in summary and "Confirm" in alice.buttons()[0], summary
    typed = {f: a for f, a in steps if not a.startswith("[")}
    quantity = expected_quantity(svc, typed)
    assert f"Price: {money(env.panel.charge_for(svc['service'], quantity), 'USD')}" in summary

    await alice.press("Confirm")
    assert env.panel.count("add") == 1
    order = env.panel.orders[max(env.panel.orders)]
    assert order.service_id == svc["service"]
    assert order.quantity == quantity
    assert "Order placed" in alice.text and f"#{order.id}" in alice.text
    for field, answer in typed.items():
        if field == "quantity":
            continue
        stored = order.link if field == "link" else order.fields[field]
        assert stored == answer, (field, stored, answer)
    if service_type == "Subscriptions":
        assert order.fields["delay"] == "30" and "old_posts" not in order.fields
    sent = next(params for action, params in env.panel.requests if action == "add")
    takes_quantity = "quantity" in SERVICE_TYPE_FIELDS[service_type].required
    assert ("quantity" in sent) == takes_quantity, sent


async def test_drip_feed_runs_and_interval(env: BotEnv) -> None:
    alice = await env.connected(101)
    await alice.say("/order 1")
    await walk(alice, [("link", "https://instagram.com/alice"), ("quantity", "100"), ("runs", "5")])
    assert "interval between runs" in alice.text
    await alice.say("30")
    summary = plain(alice.text)
    assert "Drip-feed: 5 runs × every 30 min (total 500)" in summary
    assert f"Price: {money(env.panel.charge_for(1, 100, runs=5), 'USD')}" in summary
    assert "Balance: 100.00 USD → 99.55 USD" in summary
    await alice.press("Confirm")
    order = env.panel.orders[max(env.panel.orders)]
    assert (order.quantity, order.runs, order.interval) == (100, 5, 30)
    assert order.fields["runs"] == "5" and order.fields["interval"] == "30"
    assert env.panel.count("add") == 1
