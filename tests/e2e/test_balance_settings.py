"""/balance (fresh, refreshed, last known when the panel is down) and /settings (language, low-balance
alert threshold, notifications, members may order)."""

from __future__ import annotations

from decimal import Decimal

from storage import repo
from storage.models import Chat
from tests.e2e.conftest import BotEnv, Person

GROUP = -1002


async def chat_row(env: BotEnv, chat_id: int) -> Chat:
    async with env.deps.sessions() as session:
        chat = await repo.chats.get_chat(session, chat_id)
    assert chat is not None
    return chat


async def press_data(person: Person, data: str) -> None:
    """Press the button with this callback data on the bot's latest message (it must be there)."""
    message = person.last
    assert data in [d for _, d in person.tg.buttons(message)], person.tg.buttons(message)
    await person.press_data(data, message=message)


def force_reply_of(env: BotEnv, person: Person) -> dict:
    return env.tg.extras[(person.chat_id, person.last["message_id"])]["reply_markup"]


# ---------------------------------------------------------------------------------------------- balance


async def test_balance_shows_and_refreshes(env: BotEnv) -> None:
    alice = await env.connected()
    await alice.say("/balance")
    assert "100.00 USD" in alice.text and "Checked:" in alice.text
    assert alice.buttons()[0] == "🔄 Refresh"
    shown = alice.last["message_id"]
    env.panel.set_balance(env.panel.DEFAULT_KEY, "87.5")
    await alice.press("Refresh")
    assert alice.last["message_id"] == shown  # edited in place
    assert "87.50 USD" in alice.text
    assert env.panel.count("balance") == 2
    (account,) = await _accounts(env, alice.chat_id)
    assert account.last_balance == Decimal("87.5") and account.balance_checked_at is not None


async def test_balance_without_a_panel(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.say("/balance")
    assert "No panel linked yet" in alice.text
    assert alice.buttons() == ["🔗 Connect panel"]


async def test_balance_when_the_panel_is_down_shows_the_last_known(env: BotEnv) -> None:
    alice = await env.connected()
    await alice.say("/balance")
    env.panel.faults.fail_actions["balance"] = "502"
    await alice.say("/balance")
    assert "100.00 USD" in alice.text
    assert "(as of" in alice.text and "the panel is unreachable now)" in alice.text


async def test_balance_shows_the_threshold(env: BotEnv) -> None:
    alice = await env.connected()
    async with env.deps.sessions() as session:
        await repo.chats.update_chat(session, alice.chat_id, low_balance_threshold=Decimal("20"))
        await session.commit()
    await alice.say("/balance")
    assert "Low-balance alert below 20.00 USD" in alice.text


async def _accounts(env: BotEnv, chat_id: int) -> list:
    async with env.deps.sessions() as session:
        return await repo.accounts.list_accounts(session, chat_id)


# --------------------------------------------------------------------------------------------- settings


async def test_language_switch(env: BotEnv) -> None:
    alice = await env.connected()
    await alice.say("/settings")
    assert "Settings" in alice.text and "Automatic" in alice.text
    menu = alice.last["message_id"]
    await press_data(alice, "set:lang")
    assert "Türkçe" in alice.buttons()
    await press_data(alice, "set:lang:tr")
    assert (await chat_row(env, alice.chat_id)).language == "tr"
    assert alice.last["message_id"] == menu  # the same message, re-rendered as the menu
    assert "Türkçe" in alice.text and "set:notif" in [d for _, d in env.tg.buttons(alice.last)]

    await alice.say("/language")
    assert "✓ Türkçe" in alice.buttons()
    await press_data(alice, "set:lang:auto")
    assert (await chat_row(env, alice.chat_id)).language is None
    assert "set:thr" in [d for _, d in env.tg.buttons(alice.last)]


async def test_threshold_set_invalid_and_off(env: BotEnv) -> None:
    alice = await env.connected()
    async with env.deps.sessions() as session:
        await repo.chats.update_chat(session, alice.chat_id, balance_alert_sent=True)
        await session.commit()
    await alice.say("/settings")
    await press_data(alice, "set:thr")
    assert "Send the balance below which" in alice.text
    assert force_reply_of(env, alice) == {
        "force_reply": True,
        "selective": True,
        "input_field_placeholder": "10.00",
    }

    await alice.say("ten dollars")
    assert "Please send a number" in alice.text
    await alice.say("-5")
    assert "Please send a number" in alice.text
    await alice.say("12,5")
    assert "falls below 12.50 USD" in alice.text and "Settings" in alice.text
    chat = await chat_row(env, alice.chat_id)
    assert chat.low_balance_threshold == Decimal("12.5") and chat.balance_alert_sent is False

    await press_data(alice, "set:thr")
    await alice.say("off")
    assert "alert is off" in alice.text
    assert (await chat_row(env, alice.chat_id)).low_balance_threshold is None

    await press_data(alice, "set:thr")
    await alice.say("/cancel")
    assert "stays as it was" in alice.text
    await alice.say("7")  # no longer waiting: plain text gets the guidance
    assert "not sure what you mean" in alice.text
    assert (await chat_row(env, alice.chat_id)).low_balance_threshold is None


async def test_notifications_toggle(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.say("/settings")
    assert "Notifications: on" in alice.text
    await alice.press("Turn notifications off")
    assert "Notifications: off" in alice.text
    assert (await chat_row(env, alice.chat_id)).notifications_enabled is False
    await alice.press("Turn notifications on")
    assert (await chat_row(env, alice.chat_id)).notifications_enabled is True


async def test_group_settings_for_admins_only(env: BotEnv) -> None:
    env.tg.add_group(GROUP, "Shop", admins=[301], members=[302])
    admin = env.in_group(env.person(301, first_name="Ada"), GROUP)
    member = env.in_group(env.person(302, first_name="Max"), GROUP)
    await env.link(GROUP)

    await member.say("/settings")
    assert "Only the group's admins" in member.text

    await admin.say("/settings")
    assert "Members may order: no" in admin.text
    menu = admin.last
    await admin.press("Let members order", message=menu)
    assert (await chat_row(env, GROUP)).members_may_order is True
    assert "Members may order: yes" in admin.text

    # A member pressing the admin's menu is refused, and nothing changes.
    await member.press("Only admins may order", message=admin.last)
    assert any("Only the group's admins" in a for a in member.alerts())
    assert (await chat_row(env, GROUP)).members_may_order is True

    # The threshold prompt is a selective ForceReply; the admin's reply reaches the bot in privacy mode.
    await press_data(admin, "set:thr")
    prompt = admin.last
    assert force_reply_of(env, admin)["selective"] is True
    assert "Ada" in prompt["text"]  # mentioned, so the selective ForceReply targets her
    await admin.say("5", reply_to=prompt["message_id"])
    assert (await chat_row(env, GROUP)).low_balance_threshold == Decimal("5")
