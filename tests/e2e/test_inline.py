"""Inline mode: `@bot words` lists the services of the panel linked in the user's private chat."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.sandbox.botapi_text import parse_html
from storage import repo
from tests.e2e.conftest import BotEnv


async def ask(env: BotEnv, user_id: int, text: str, offset: str = "", chat_type: str = "private") -> dict:
    """Send an inline query as the user; return the bot's answer (answerInlineQuery's parameters)."""
    mark = env.tg.mark()
    query = env.tg.send_inline_query(user_id, text, offset=offset, chat_type=chat_type)
    await env.tg.wait_for_call("answerInlineQuery", after=mark, timeout=10)
    await env.quiet(mark)
    answer = env.tg.inline_answers[-1]
    assert answer["inline_query_id"] == query["id"]
    return answer


async def all_pages(env: BotEnv, user_id: int, text: str) -> list[dict]:
    results: list[dict] = []
    offset = ""
    while True:
        answer = await ask(env, user_id, text, offset)
        assert 0 < len(answer["results"]) <= 50
        results += answer["results"]
        offset = answer.get("next_offset") or ""
        if not offset:
            return results
        assert offset == str(len(results))


def expected_ids(env: BotEnv, *terms: str) -> list[int]:
    """Names with every term first, then those where a term is only in the category; panel order within."""
    found = [
        s
        for s in env.panel.catalog
        if all(t in s["name"].casefold() or t in s["category"].casefold() for t in terms)
    ]
    by_name = [s["service"] for s in found if all(t in s["name"].casefold() for t in terms)]
    return by_name + [s["service"] for s in found if s["service"] not in set(by_name)]


def order_url(result: dict) -> str:
    (row,) = result["reply_markup"]["inline_keyboard"]
    (button,) = row
    assert "Order" in button["text"]
    return button["url"]


def check_result(env: BotEnv, result: dict) -> str:
    """A result is a valid HTML card under 4096 characters with the deep link; returns the card as shown."""
    sid = int(result["id"])
    service = env.panel.service(sid)
    content = result["input_message_content"]
    assert content["parse_mode"] == "HTML"
    assert len(content["message_text"]) <= 4096
    shown, _entities = parse_html(content["message_text"])  # raises on broken or unescaped HTML
    assert service["name"] in shown and f"Service ID: {sid}" in shown
    assert result["title"] == service["name"][:200]
    assert "per 1000" in result["description"] and f"min {service['min']}" in result["description"]
    assert order_url(result) == f"https://t.me/{env.tg.bot_username}?start=svc_{sid}"
    return shown


async def test_words_ranked_and_paged(big_env: BotEnv) -> None:
    env = big_env
    alice = await env.connected()
    expected = expected_ids(env, "tiktok", "views")
    assert len(expected) > 120  # several pages
    started = time.monotonic()
    results = await all_pages(env, alice.user_id, "TikTok views")
    elapsed = time.monotonic() - started
    assert [int(r["id"]) for r in results] == expected
    answer = env.tg.inline_answers[-1]
    assert answer["is_personal"] is True and answer["cache_time"] == 30
    for result in results[:60]:
        check_result(env, result)
    assert env.panel.count("services") == 1  # one fetch for every page
    assert elapsed < 10, elapsed

    # an id: that service first, then the names that have the number in them
    answer = await ask(env, alice.user_id, "5000")
    assert answer["results"][0]["id"] == "5000"
    check_result(env, answer["results"][0])

    # a query typed in a group (chat_type) is answered from the private chat's panel all the same
    answer = await ask(env, alice.user_id, "#77", chat_type="supergroup")
    assert [r["id"] for r in answer["results"]] == ["77"]

    # nothing matches: an empty answer, no button
    answer = await ask(env, alice.user_id, "qwertyuiop zzz")
    assert answer["results"] == [] and not answer.get("button")


async def test_empty_query_pages_through_the_catalog(big_env: BotEnv) -> None:
    env = big_env
    alice = await env.connected()
    answer = await ask(env, alice.user_id, "")
    assert [r["id"] for r in answer["results"]] == [str(i) for i in range(1, 51)]
    assert answer["next_offset"] == "50"
    answer = await ask(env, alice.user_id, "", offset="9980")
    assert [r["id"] for r in answer["results"]] == [str(i) for i in range(9981, 10001)]
    assert not answer.get("next_offset")
    answer = await ask(env, alice.user_id, "", offset="junk")  # a forged offset starts over
    assert answer["results"][0]["id"] == "1"


async def test_card_is_escaped_and_the_deep_link_opens_it(env: BotEnv) -> None:
    alice = await env.connected()
    special = next(s for s in env.panel.catalog if "<Cheap & Fast>" in s["name"])
    answer = await ask(env, alice.user_id, "cheap & fast")
    result = next(r for r in answer["results"] if r["id"] == str(special["service"]))
    assert "&lt;Cheap &amp; Fast&gt;" in result["input_message_content"]["message_text"]
    card = check_result(env, result)

    # "choosing" the result posts the card with the button; the button opens the private chat with
    # /start svc_<id>, which shows the same card with the order wizard's button
    url = order_url(result)
    payload = parse_qs(urlsplit(url).query)["start"][0]
    await alice.say(f"/start {payload}")
    assert alice.text == card
    assert ("🛒 Order", f"ord:new:{special['service']}") in env.tg.buttons(alice.last)

    # every result of a whole answer is a valid card
    for result in (await ask(env, alice.user_id, "instagram"))["results"]:
        check_result(env, result)


async def test_user_without_a_panel_gets_the_link_button(env: BotEnv) -> None:
    bob = env.person(202, first_name="Bob")
    answer = await ask(env, bob.user_id, "instagram")
    assert answer["results"] == []
    assert answer["button"] == {"text": "🔗 Link your panel", "start_parameter": "connect"}
    assert answer["cache_time"] == 0  # once linked, the next query must not get this from a cache
    assert env.panel.count("services") == 0
    # the button opens the private chat with /start connect: the linking conversation
    await bob.say("/start connect")
    assert "Send me the panel's API key" in bob.text

    # a group's panel is not the user's: only the private chat's counts
    await env.link(-1001)
    answer = await ask(env, bob.user_id, "instagram", chat_type="group")
    assert answer["results"] == [] and answer["button"]["start_parameter"] == "connect"


async def test_panel_failure_answers_with_a_button(env: BotEnv, caplog: pytest.LogCaptureFixture) -> None:
    alice = await env.connected()
    async with env.deps.sessions() as s:
        account = await repo.accounts.get_default_account(s, alice.chat_id)
    assert account is not None
    env.deps.panels.client(account).read_retries = 0  # fail at once instead of after backing off
    env.panel.faults.fail_actions["services"] = "502"
    with caplog.at_level(logging.INFO):
        answer = await ask(env, alice.user_id, "instagram")
    assert answer["results"] == []
    assert answer["button"] == {"text": "Panel unreachable, try again", "start_parameter": "inline"}
    assert answer["cache_time"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert not [c for c in env.tg.calls("sendMessage") if "went wrong" in str(c.get("text"))]

    del env.panel.faults.fail_actions["services"]  # the panel is back: the next query lists services
    answer = await ask(env, alice.user_id, "instagram")
    assert answer["results"] and not answer.get("button")


async def test_rejected_key_asks_to_link_again(env: BotEnv) -> None:
    carol = await env.connected(303, key="not-a-valid-key-123")
    answer: dict[str, Any] = await ask(env, carol.user_id, "views")
    assert answer["results"] == []
    assert answer["button"]["start_parameter"] == "connect" and "link it again" in answer["button"]["text"]
