"""Per-user limits on expensive actions, end to end: a second press too soon is answered with when to try
again, and nothing reaches the panel for it."""

from __future__ import annotations

from tests.e2e.conftest import BotEnv


async def test_catalog_refresh_waits(env: BotEnv) -> None:
    alice = await env.connected()
    await alice.say("/services")
    await alice.press("Refresh")
    assert env.panel.count("services") == 2
    await alice.press("Refresh")
    assert env.panel.count("services") == 2
    assert alice.alerts()[-1].startswith("Please wait 2") and "before refreshing again" in alice.alerts()[-1]
    bob = await env.connected(102)  # another person is not held up by Alice
    await bob.say("/services")
    await bob.press("Refresh")
    assert env.panel.count("services") == 4


async def test_compare_waits(env: BotEnv) -> None:
    alice = await env.connected()
    for _ in range(3):
        await alice.say("/compare followers")
        assert "on your panels" in alice.text
    await alice.say("/compare likes")
    assert "Please wait" in alice.text and "before comparing again" in alice.text


async def test_balance_and_status_wait_after_a_burst(env: BotEnv) -> None:
    alice = await env.connected()
    for _ in range(3):
        await alice.say("/balance")
        assert "Balance" in alice.text
    asked = env.panel.count("balance")
    await alice.say("/balance")
    assert "before refreshing again" in alice.text
    assert env.panel.count("balance") == asked
    for _ in range(3):
        await alice.say("/status 1")
    await alice.say("/status 1")
    assert "before asking for statuses again" in alice.text


async def test_inline_search_fetches_wait(env: BotEnv) -> None:
    await env.connected(105)
    env.deps.panels.catalog_ttl = 0.0  # nothing stays cached: every query would fetch
    answers = []
    for word in ("a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg"):
        mark = env.tg.mark()
        env.tg.send_inline_query(105, word)
        await env.tg.wait_for_call("answerInlineQuery", after=mark, timeout=10)
        await env.quiet(mark)
        answers.append(env.tg.inline_answers[-1])
    assert env.panel.count("services") == 5  # the burst, then a wait
    button = answers[-1].get("button") or {}
    assert "Please wait" in str(button)
