"""/start, /help and the catch-alls; linking a key with /connect (private and for a group); /disconnect."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import make_url

from storage import repo
from tests.e2e.conftest import KEY, BotEnv

GROUP = -1001


def data_of(env: BotEnv, message: dict) -> list[str]:
    return [data for _, data in env.tg.buttons(message)]


async def accounts(env: BotEnv, chat_id: int) -> list:
    async with env.deps.sessions() as session:
        return await repo.accounts.list_accounts(session, chat_id)


def assert_key_never_sent(env: BotEnv) -> None:
    for method, params in env.tg.requests:
        assert KEY not in json.dumps(params, default=str), f"the key went out in {method}"


# ------------------------------------------------------------------------------------------------ start


async def test_start_without_and_with_a_panel(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.say("/start")
    assert "Alice" in alice.text and "Connect panel" in alice.text
    assert data_of(env, alice.last) == ["acc:connect"]

    bob = await env.connected(102)
    await bob.say("/start")
    assert bob.buttons() == ["🛒 New order", "📋 Orders", "💰 Balance", "🔎 Services"]
    assert data_of(env, bob.last) == ["m:order", "o:list:0", "bal:show", "svc:cats:0"]


async def test_deep_links_show_the_service_card(env: BotEnv) -> None:
    alice = await env.connected()
    service = env.panel.catalog[0]
    sid = service["service"]
    await alice.say(f"/start svc_{sid}")
    assert f"Service ID: {sid}" in alice.text
    assert service["name"] in alice.text
    assert data_of(env, alice.last) == [f"ord:new:{sid}"]

    await alice.say(f"/start order_{sid}")
    assert "Press Order" in alice.text and f"Service ID: {sid}" in alice.text
    assert data_of(env, alice.last) == [f"ord:new:{sid}"]

    await alice.say("/start svc_987654321")
    assert "not in this panel's catalog" in alice.text

    await alice.say("/start something_else")
    assert "Hi, Alice" in alice.text  # unknown payload: the normal welcome


async def test_deep_link_without_a_panel_asks_to_connect(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.say("/start svc_1")
    assert "link a panel first" in alice.text
    assert data_of(env, alice.last) == ["acc:connect"]


async def test_help_unknown_command_text_and_cancel(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.say("/help")
    assert "/connect" in alice.text and "/order [service id]" in alice.text and "Confirm" in alice.text

    await alice.say("/frobnicate")
    assert alice.text == "I don't know that command, see /help."

    await alice.say("hello there")
    assert "/help" in alice.text and alice.buttons() == ["🔗 Connect panel"]

    await alice.say("/cancel")
    assert alice.text == "Nothing to cancel."


async def test_group_ignores_plain_text_and_bare_unknown_commands(env: BotEnv) -> None:
    env.tg.add_group(GROUP, "Team", admins=[201], members=[202], privacy_mode=False)
    admin = env.in_group(env.person(201), GROUP)
    mark = env.tg.mark()
    await admin.say("just chatting", expect_reply=False)
    await admin.say("/othercommand", expect_reply=False)
    assert not [m for m, p in env.tg.requests[mark:] if m == "sendMessage"]
    await admin.say("/othercommand@smm_test_bot")
    assert "don't know that command" in admin.text


# ---------------------------------------------------------------------------------------------- connect


async def test_connect_wrong_key_then_right_key(env: BotEnv, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    alice = env.person(101)
    await alice.say("/connect")
    host = env.panel.url.split("/")[2]
    assert host in alice.text and "API key" in alice.text
    assert alice.buttons() == ["✖️ Cancel"]  # one allowed panel: no "Another panel"

    wrong = alice.tg.send_text(101, 101, "wrong-key-0123456789")
    await env.quiet()
    assert "The panel says this API key is invalid." in alice.text
    assert alice.buttons() == ["✖️ Cancel"]

    right = alice.tg.send_text(101, 101, KEY)
    await env.quiet()
    assert "Panel linked" in alice.recent_text() and "100.00 USD" in alice.recent_text()
    assert "💰 Balance" in alice.buttons(alice.message_with_button("💰 Balance"))

    deleted = {int(p["message_id"]) for p in env.tg.calls("deleteMessage")}
    assert wrong is not None and right is not None
    assert {wrong["message_id"], right["message_id"]} <= deleted
    assert env.panel.count("balance") == 2
    assert_key_never_sent(env)
    assert KEY not in caplog.text

    (account,) = await accounts(env, 101)
    assert account.key_encrypted != KEY and env.deps.vault.decrypt(account.key_encrypted) == KEY
    assert account.currency == "USD" and account.last_balance == 100
    db_file = Path(make_url(env.db_url).database or "")
    for path in (db_file, db_file.with_name(db_file.name + "-wal")):
        if path.exists():
            assert KEY.encode() not in path.read_bytes()

    # The same key again: already linked, without asking the panel.
    await alice.say("/connect")
    await alice.say(KEY)
    assert "already linked" in alice.text
    assert env.panel.count("balance") == 2
    assert len(await accounts(env, 101)) == 1


async def test_connect_rejects_non_keys_without_asking_the_panel(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.say("/connect")
    for text in ("abc", "x" * 201, "my key is demo-key-usd"):
        await alice.say(text)
        assert "does not look like an API key" in alice.text
    assert env.panel.count("balance") == 0
    # Only the messages that might hold a key were deleted (not "abc").
    assert len(env.tg.calls("deleteMessage")) == 2
    await alice.press("Cancel")
    assert alice.text == "Okay, no panel was linked."
    await alice.say(KEY)  # the conversation is over: this is just text now
    assert "not sure what you mean" in alice.text
    assert await accounts(env, 101) == []


async def test_connect_when_the_panel_is_down(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.press_data("acc:connect", message=(await alice.say("/start")))
    assert "API key" in alice.text
    env.panel.faults.fail_actions["balance"] = "502"
    await alice.say(KEY)
    assert "unreachable" in alice.text
    assert await accounts(env, 101) == []
    env.panel.faults.fail_actions.clear()
    await alice.say(KEY)  # still waiting for the key
    assert "Panel linked" in alice.recent_text()
    assert_key_never_sent(env)


async def test_connect_with_a_panel_url(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.say("/connect https://evil.example/api/v2")
    assert "not allowed" in alice.text and env.panel.url in alice.text
    await alice.say(f"/connect {env.panel.url}/")
    assert "API key" in alice.text
    await alice.say(KEY)
    assert "Panel linked" in alice.recent_text()


async def test_key_deletion_failure_is_reported(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.say("/connect")
    env.tg.fail_next("deleteMessage", "400")
    await alice.say(KEY)
    assert "delete your message with the key yourself" in alice.recent_text()
    assert "Panel linked" in alice.recent_text()


async def test_disconnect(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.say("/disconnect")
    assert alice.text == "No panel is linked."

    await env.link(101)
    await alice.say("/disconnect")
    assert alice.buttons() == ["Yes, unlink", "Keep it"]
    await alice.press("Keep it")
    assert "nothing was unlinked" in alice.text
    assert len(await accounts(env, 101)) == 1

    await alice.say("/disconnect")
    await alice.press("Yes, unlink")
    assert "was unlinked" in alice.text
    assert alice.buttons() == ["🔗 Connect panel"]
    assert await accounts(env, 101) == []


# ------------------------------------------------------------------------------------------------ group


async def test_group_connect_goes_through_the_private_chat(env: BotEnv) -> None:
    env.tg.add_group(GROUP, "Team", admins=[201], members=[202])
    admin, member = env.person(201, first_name="Ada"), env.person(202, first_name="Max")
    in_group_admin, in_group_member = env.in_group(admin, GROUP), env.in_group(member, GROUP)

    await in_group_member.say("/connect")
    assert "Only the group's admins" in in_group_member.text

    await in_group_admin.say("/connect")
    assert KEY not in in_group_admin.text and "private chat" in in_group_admin.text
    (link,) = data_of(env, in_group_admin.last)
    assert link == "https://t.me/smm_test_bot?start=connect_g1001"

    # A member who opens the link is turned away.
    await member.say("/start connect_g1001")
    assert "Only the group's admins" in member.text

    await admin.say("/start connect_g1001")
    assert "Team" in admin.text and "API key" in admin.text
    await admin.say(KEY)
    assert "Panel linked" in admin.recent_text() and "Team" in admin.recent_text()
    assert "Ada linked the panel" in in_group_admin.text and "100.00 USD" in in_group_admin.text

    (account,) = await accounts(env, GROUP)
    assert env.deps.vault.decrypt(account.key_encrypted) == KEY
    assert await accounts(env, 201) == []
    assert_key_never_sent(env)

    await in_group_member.say("/disconnect")
    assert "Only the group's admins" in in_group_member.text
    assert len(await accounts(env, GROUP)) == 1


async def test_connect_times_out_politely(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.say("/connect")
    assert await env.expire_conversations() == 1  # 30 minutes later
    key = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    await alice.say(key)  # no longer waiting for a key: still deleted, as any key pasted outside /connect
    texts = [m["text"] for m in env.tg.bot_messages(101)[-2:]]
    assert "The /connect step expired" in texts[0]
    assert "looked like an API key" in texts[1]
    assert not any(key in m.get("text", "") for m in env.tg.messages.get(101, {}).values())  # deleted
    assert env.panel.count("balance") == 0


async def test_another_panel(env: BotEnv) -> None:
    settings = env.deps.settings
    other = "https://other.example/api/v2"
    settings.__dict__["allowed_panels"] = (env.panel.url, other)  # a cached_property: as if configured
    alice = env.person(101)
    await alice.say("/connect")
    await alice.press("Another panel")
    assert alice.buttons() == [env.panel.url.split("/")[2], "other.example", "✖️ Cancel"]
    await alice.press("other.example")
    assert "Panel: other.example" in alice.text

    settings.__dict__["allowed_panels"] = None  # SMMBOT_ALLOWED_PANELS=*
    await alice.press("Another panel")
    assert "address of the panel's API" in alice.text
    await alice.say("not a url")
    assert "not the address of a panel's API" in alice.text
    await alice.say(env.panel.url)
    assert "Panel: " + env.panel.url.split("/")[2] in alice.text
    await alice.say(KEY)
    assert "Panel linked" in alice.recent_text()


async def test_a_key_pasted_outside_connect_is_deleted(env: BotEnv) -> None:
    alice = env.person(131)
    pasted = "9f86d081884c7d659a2feaa0c55ad015"
    message = await alice.say(pasted)
    assert message is not None and "deleted it" in alice.text and "/connect" in alice.text
    assert any(p.get("chat_id") == 131 for p in env.tg.calls("deleteMessage"))
    assert all(pasted not in str(p.get("text", "")) for _, p in env.tg.requests)
    await alice.say("hello there")  # ordinary text still gets the guidance
    assert "not sure what you mean" in alice.text


async def test_connect_with_the_key_after_the_command(env: BotEnv) -> None:
    """`/connect <key>` in a private chat: the message is deleted before anything else, then the key is
    linked to the default panel."""
    env.person(101)
    mark = env.tg.mark()
    sent = env.tg.send_text(101, 101, f"/connect {KEY}")
    await env.quiet(mark)
    method, params = next(r for r in env.tg.requests[mark:] if r[0] != "getMe")
    assert sent is not None and method == "deleteMessage" and params["message_id"] == sent["message_id"]
    assert "Panel linked" in env.person(101).recent_text()
    assert [a.panel_url for a in await accounts(env, 101)] == [env.panel.url]
    assert_key_never_sent(env)


async def test_connect_with_the_key_in_a_group_deletes_it_first(env: BotEnv) -> None:
    env.person(201, first_name="Ada")
    env.tg.add_group(GROUP, "Team", admins=[201])
    mark = env.tg.mark()
    sent = env.tg.send_text(GROUP, 201, f"/connect {KEY}")
    await env.quiet(mark)
    method, params = next(r for r in env.tg.requests[mark:] if r[0] != "getMe")
    assert sent is not None and method == "deleteMessage" and params["message_id"] == sent["message_id"]
    last = env.tg.last_bot_message(GROUP)
    assert "never sent in a group" in last["text"]
    assert [label for label, _ in env.tg.buttons(last)] == ["🔐 Link in private chat"]
    assert await accounts(env, GROUP) == []
    assert env.panel.count("balance") == 0
    assert_key_never_sent(env)
