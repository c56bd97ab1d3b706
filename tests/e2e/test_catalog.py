"""Browsing and searching the catalog: /services [text] and the svc:* buttons (300 and 10,000 services)."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.i18n import translator
from bot.sandbox.panel_catalog import generate_catalog
from handlers.catalog import (
    SERVICES_PER_PAGE,
    render_card,
    render_categories,
    render_category,
    render_results,
)
from tests.e2e.conftest import BotEnv, Person, plain

MESSAGE_METHODS = ("sendMessage", "editMessageText", "editMessageReplyMarkup")
CHECKED = (*MESSAGE_METHODS, "answerCallbackQuery", "sendChatAction")


def data_of(person: Person, label: str, message: dict | None = None) -> str:
    """The callback data of the (first) button whose label contains `label`."""
    for text, data in person.tg.buttons(message or person.last):
        if label.lower() in text.lower():
            return data
    raise AssertionError(f"no button {label!r} in {person.buttons(message)}")


def all_data(person: Person, message: dict | None = None) -> list[str]:
    return [data for _, data in person.tg.buttons(message or person.last)]


def markups_sent(env: BotEnv, since: int = 0) -> list[dict[str, Any]]:
    """Every inline keyboard the bot sent or edited in, since request index `since`."""
    found = []
    for name, params in env.tg.requests[since:]:
        if name in ("sendMessage", "editMessageText", "editMessageReplyMarkup") and params.get(
            "reply_markup"
        ):
            markup = params["reply_markup"]
            found.append(json.loads(markup) if isinstance(markup, str) else markup)
    return found


def assert_within_limits(env: BotEnv, since: int = 0) -> int:
    """Telegram's limits on everything the bot sent: ≤ 64-byte callback data, ≤ 100 buttons, short labels;
    no failed Bot API call and no apology from the error handler. Returns the number of keyboards seen."""
    markups = markups_sent(env, since)
    for markup in markups:
        buttons = [b for row in markup["inline_keyboard"] for b in row]
        assert 0 < len(buttons) <= 100
        for button in buttons:
            assert len(button["callback_data"].encode()) <= 64, button
            assert 0 < len(button["text"]) <= 48, button
    failed = [
        (env.tg.requests[i][0], answer)
        for i, answer in enumerate(env.tg.responses)
        if i >= since and env.tg.requests[i][0] in CHECKED and answer is not None and not answer.get("ok")
    ]
    # "message is not modified" is expected (the same page pressed again) and ignored by the bot
    failed = [f for f in failed if "not modified" not in f[1].get("description", "")]
    assert not failed, failed
    for name, params in env.tg.requests[since:]:
        assert "went wrong" not in str(params.get("text", "")), params
    return len(markups)


def expected_matches(env: BotEnv, *terms: str) -> list[dict]:
    """Services whose name or category has every term (ASCII terms: a plain substring test suffices)."""
    return [
        s
        for s in env.panel.catalog
        if all(t in s["name"].casefold() or t in s["category"].casefold() for t in terms)
    ]


async def test_categories_page_and_pagination(big_env: BotEnv) -> None:
    env = big_env
    alice = await env.connected()
    since = env.tg.mark()
    first = await alice.say("/services")
    assert first is not None
    text = plain(alice.text)
    categories = list(dict.fromkeys(s["category"] for s in env.panel.catalog))
    assert f"10000 in {len(categories)} categories" in text
    assert "Page 1 of 3" in text
    assert "/services tiktok views" in text  # the search hint
    labels = alice.buttons()
    assert labels[0] == f"{categories[0]} ({sum(s['category'] == categories[0] for s in env.panel.catalog)})"
    assert all_data(alice)[:10] == [f"svc:cat:{i}:0" for i in range(10)]
    assert "Next ▶️" in labels and not any("Previous" in label for label in labels)
    assert len(env.tg.calls("sendChatAction")) == 1  # typing while the catalog is fetched

    await alice.press("Next")
    assert alice.last["message_id"] == first["message_id"]  # edited in place
    assert "Page 2 of 3" in alice.text
    assert all_data(alice)[:10] == [f"svc:cat:{i}:0" for i in range(10, 20)]
    await alice.press("Next")
    assert "Page 3 of 3" in alice.text
    assert all_data(alice)[:5] == [f"svc:cat:{i}:0" for i in range(20, 25)]
    assert not any("Next" in label for label in alice.buttons())
    await alice.press("Previous")
    await alice.press("Previous")
    assert "Page 1 of 3" in alice.text
    assert len(env.tg.bot_messages(alice.chat_id)) == 1
    assert env.panel.count("services") == 1  # cached: pages do not fetch again
    assert len(env.tg.calls("answerCallbackQuery")) == 4
    assert_within_limits(env, since)


async def test_category_services_card_and_back(env: BotEnv) -> None:
    alice = await env.connected()
    await alice.say("/services")
    category = env.panel.catalog[0]["category"]  # "Instagram Followers"
    in_category = [s for s in env.panel.catalog if s["category"] == category]
    await alice.press(category)
    text = alice.text
    assert text.startswith(f"📂 {category}")
    assert f"{len(in_category)} services · page 1 of" in text
    # id, name, rate per 1000 and min–max of each service on the page
    assert "1 Instagram Followers [Real | Refill 30D] ♻️" in text
    assert "0.90 USD per 1000 · 50–10000" in text
    for s in in_category[:10]:
        assert f"{s['service']} " in text and f"{s['min']}–{s['max']}" in text
    assert all_data(alice)[:2] == ["svc:s:1:c:0:0", f"svc:s:{in_category[1]['service']}:c:0:0"]

    await alice.press("1 · Instagram Followers")
    card = alice.text
    for line in [
        "Instagram Followers [Real | Refill 30D] ♻️",
        "Service ID: 1",
        "Category: Instagram Followers",
        "Type: Default",
        "Rate per 1000: 0.90 USD",
        "Min: 50 · Max: 10000",
        "Refill: yes · Cancel: yes · Drip-feed: yes",
        "Start: 0-1 hour",  # the description
    ]:
        assert line in card, line
    assert data_of(alice, "Order") == "ord:new:1"
    assert "🛒 Order" in alice.buttons()
    await alice.press("Back")
    assert alice.text == text  # the same category page again

    # a card of a service without refill/cancel/drip-feed, on the category's second page
    await alice.press("Next")
    assert "page 2 of" in alice.text
    eleventh = in_category[10]
    await alice.press_data(f"svc:s:{eleventh['service']}:c:0:1")
    assert f"Service ID: {eleventh['service']}" in alice.text
    await alice.press("Back")
    assert "page 2 of" in alice.text

    package = env.panel.service(2)  # "Package", no flags
    await alice.say("/services 2")
    card = alice.text
    assert "Type: Package" in card and "Refill: no · Cancel: no · Drip-feed: no" in card
    assert f"Min: {package['min']} · Max: {package['max']}" in card
    assert_within_limits(env)


async def test_search_by_words_and_pages(big_env: BotEnv) -> None:
    env = big_env
    alice = await env.connected()
    since = env.tg.mark()
    expected = expected_matches(env, "tiktok", "views")
    assert len(expected) > 20
    await alice.say("/services TikTok views")
    text = plain(alice.text)
    assert f"{len(expected)} services match “TikTok views”" in text
    pages = -(-len(expected) // 10)
    assert f"Page 1 of {pages}" in text
    # the names that have both words come first, in the panel's order
    by_name = [s for s in expected if "tiktok" in s["name"].casefold() and "views" in s["name"].casefold()]
    assert all_data(alice)[0] == f"svc:s:{by_name[0]['service']}:q:0"

    await alice.press("Next")
    assert f"Page 2 of {pages}" in alice.text
    second_page = all_data(alice)
    assert second_page[0].endswith(":q:1")
    await alice.press_data(second_page[0])
    assert "Service ID:" in alice.text
    await alice.press("Back")
    assert f"Page 2 of {pages}" in alice.text and all_data(alice) == second_page
    await alice.press("Previous")
    assert f"Page 1 of {pages}" in alice.text

    # another search in the same chat: each results message keeps its own text
    older = alice.last
    await alice.say("/services telegram members")
    assert "match “telegram members”" in alice.text
    await alice.press("Next", message=older)
    assert "match “TikTok views”" in env.tg.find_message(alice.chat_id, older["message_id"])["text"]
    assert env.panel.count("services") == 1
    assert_within_limits(env, since)


async def test_search_by_id_and_nothing_found(big_env: BotEnv) -> None:
    env = big_env
    alice = await env.connected()
    service = env.panel.service(5000)
    await alice.say("/services 5000")
    assert f"Service ID: {service['service']}" in alice.text
    assert data_of(alice, "Order") == "ord:new:5000"
    # Back leads to the category page that lists the service
    categories = list(dict.fromkeys(s["category"] for s in env.panel.catalog))
    ci = categories.index(service["category"])
    position = [s["service"] for s in env.panel.catalog if s["category"] == service["category"]].index(5000)
    assert data_of(alice, "Back") == f"svc:cat:{ci}:{position // 10}"
    await alice.press("Back")
    assert "5000 " in alice.text and f"page {position // 10 + 1} of" in alice.text

    await alice.say("/services #77")
    assert "Service ID: 77" in alice.text

    await alice.say("/services qwertyuiop zzz")
    assert "Nothing matches “qwertyuiop zzz”." in alice.text
    assert "service id" in alice.text  # the hint
    assert all_data(alice) == ["svc:cats:0"]
    await alice.press("Categories")
    assert "10000 in" in plain(alice.text)

    await alice.say("/services 99999999")  # no such id, and no name has those digits
    assert "Nothing matches" in alice.text
    assert_within_limits(env)


async def test_html_special_characters_are_escaped(env: BotEnv) -> None:
    alice = await env.connected()
    special = next(s for s in env.panel.catalog if "<Cheap & Fast>" in s["name"])
    await alice.say(f"/services {special['service']}")
    assert special["name"] in alice.text  # shown as written: escaped in the HTML we sent
    sent = env.tg.calls("sendMessage")[-1]["text"]
    assert "&lt;Cheap &amp; Fast&gt;" in sent
    await alice.press("Back")  # its category page lists it
    assert special["name"] in alice.text
    label = next(lbl for lbl in alice.buttons() if lbl.startswith(f"{special['service']} · "))
    assert len(label) <= 40
    await alice.say("/services <cheap & fast>")
    assert "match “<cheap & fast>”" in alice.text
    assert "&lt;cheap &amp; fast&gt;" in env.tg.calls("sendMessage")[-1]["text"]
    assert_within_limits(env)


async def test_limits_while_walking_the_big_catalog(big_env: BotEnv) -> None:
    env = big_env
    alice = await env.connected()
    since = env.tg.mark()
    await alice.say("/services")
    categories = list(dict.fromkeys(s["category"] for s in env.panel.catalog))
    opened = 0
    for page in range(3):
        await alice.press_data(f"svc:cats:{page}")
        for data in [d for d in all_data(alice) if d.startswith("svc:cat:")][page::4]:
            await alice.press_data(data)  # pressed on the same message: force=True allows any button
            opened += 1
            match = re.search(r"page 1 of (\d+)", alice.text)
            assert match
            last = int(match.group(1)) - 1
            if opened in (2, 5):  # the last page of some, and a card
                await alice.press_data(f"{data.rsplit(':', 1)[0]}:{last}")
                assert f"page {last + 1} of {last + 1}" in alice.text
                await alice.press_data(next(d for d in all_data(alice) if d.startswith("svc:s:")))
                assert "Service ID:" in alice.text
    assert opened >= 6
    # the widest search, paged
    await alice.say("/services instagram")
    assert "Page 1 of" in alice.text
    await alice.press_data("svc:q:5")
    assert "Page 6 of" in alice.text
    assert assert_within_limits(env, since) > 12
    lengths = [len(p["text"]) for n, p in env.tg.requests[since:] if n in ("sendMessage", "editMessageText")]
    assert max(lengths) <= 4096

    # Every page of every category, and every page of that search, rendered as the bot renders them
    # (the catalog the bot fetched; Telegram's round trip would make this walk take minutes).
    account = await alice_account(env, alice)
    catalog = env.deps.panels.cached_catalog(account)
    assert catalog is not None and len(catalog.categories) == len(categories)
    _ = translator("en")
    rendered = [render_categories(_, catalog, p) for p in range(3)]
    for ci, name in enumerate(catalog.categories):
        pages = -(-len(catalog.by_category[name]) // SERVICES_PER_PAGE)
        for page in range(pages):
            shown = render_category(_, catalog, ci, page, "USD")
            assert shown is not None
            rendered.append(shown)
            for data in [d for row in shown[1] for _label, d in row if d.startswith("svc:s:")]:
                service = catalog.get(int(data.split(":")[2]))
                assert service is not None
                rendered.append(render_card(_, service, "USD", data))
    results = catalog.find("instagram")
    for page in range(-(-len(results) // SERVICES_PER_PAGE)):
        rendered.append(render_results(_, "instagram", results, page, "USD"))
    assert len(rendered) > 10_000
    for text, rows in rendered:
        assert len(text) <= 4096
        buttons = [b for row in rows for b in row]
        assert 0 < len(buttons) <= 100
        assert all(len(data.encode()) <= 64 and 0 < len(label) <= 40 for label, data in buttons)


async def alice_account(env: BotEnv, person: Person) -> int:
    from storage import repo

    async with env.deps.sessions() as session:
        accounts = await repo.accounts.list_accounts(session, person.chat_id)
    assert accounts and accounts[0].id is not None
    return accounts[0].id


async def test_refresh_and_stale_buttons(env: BotEnv) -> None:
    alice = await env.connected()
    await alice.say("/services")
    await alice.press("Refresh")
    assert env.panel.count("services") == 2
    assert "300 in" in plain(alice.text)
    # buttons that no longer match the catalog (a category or service that is gone)
    await alice.press_data("svc:cat:999:0")
    assert "The catalog has changed" in alice.text
    await alice.press_data("svc:s:987654:c:0:0")
    assert "The catalog has changed" in alice.text
    await alice.press_data("svc:q:1")  # search results of a search nobody remembers
    assert "This search is no longer remembered" in alice.text
    await alice.press_data("svc:cats:77")  # a page past the end shows the last one
    assert "Page 3 of 3" in plain(alice.text)
    assert_within_limits(env)


async def test_no_account_asks_to_connect(env: BotEnv) -> None:
    bob = env.person(202, first_name="Bob")
    await bob.say("/services")
    assert "Link your panel first" in bob.text
    assert data_of(bob, "Connect panel") == "acc:connect"
    await bob.say("/services likes")
    assert "Link your panel first" in bob.text
    assert env.panel.count("services") == 0


async def test_panel_unreachable_then_retry(env: BotEnv) -> None:
    env.panel.faults.fail_actions["services"] = "502"  # before the first fetch: nothing is cached yet
    alice = await env.connected()
    await alice.say("/services likes")
    assert "The panel is unreachable right now, try again in a minute." in alice.text
    assert data_of(alice, "Try again") == "svc:q:0"
    assert env.panel.count("services") >= 2  # the client retried first
    env.panel.faults.fail_actions.clear()
    await alice.press("Try again")
    expected = expected_matches(env, "likes")
    assert f"{len(expected)} services match “likes”" in alice.text
    assert_within_limits(env)


async def test_group_members_browse_and_page_each_others_results(env: BotEnv) -> None:
    alice = env.in_group(env.person(101), -500)
    bob = env.in_group(env.person(102, first_name="Bob"), -500)
    env.tg.add_group(-500, "Shop", admins=[101], members=[102])
    await env.link(-500)
    await alice.say("/services instagram likes")
    assert "match “instagram likes”" in alice.text
    await bob.press("Next")  # Bob pages through Alice's results (no admin needed to read)
    assert "match “instagram likes”" in bob.text and "Page 2 of" in bob.text
    await bob.say("/services")
    assert "300 in" in plain(bob.text)
    assert_within_limits(env)


def test_generator_still_has_special_names() -> None:
    """The escaping test relies on the simulator's catalog having names with '<' and '&'."""
    assert any("<" in s["name"] and "&" in s["name"] for s in generate_catalog(300, 1))
