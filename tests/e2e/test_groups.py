"""The bot in groups, end to end: who may link, order and confirm, members' rights, anonymous admins, the bot
joining and leaving, migration to a supergroup, channels, and commands with the @botname suffix."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from storage import repo
from storage.models import Chat, Outbox
from tests.e2e.conftest import KEY, BotEnv, Person

GROUP = -1001
OWNER, ADMIN, MEMBER, OTHER = 200, 201, 202, 203  # the owner (creator) cannot be demoted
LINK = "https://instagram.com/team"


@pytest.fixture
async def team(env: BotEnv) -> tuple[Person, Person, Person]:
    """A group with an admin and two members, the simulator's key linked: (admin, member, other member)."""
    people = [env.person(ADMIN, first_name="Ada"), env.person(MEMBER, first_name="Max")]
    people.append(env.person(OTHER, first_name="Olga"))
    env.tg.add_group(GROUP, "Team", admins=[OWNER, ADMIN], members=[MEMBER, OTHER])
    await env.link(GROUP)
    admin, member, other = (env.in_group(p, GROUP) for p in people)
    return admin, member, other


async def chat_row(env: BotEnv, chat_id: int) -> Chat | None:
    async with env.deps.sessions() as session:
        return await repo.chats.get_chat(session, chat_id)


async def anonymous(env: BotEnv, chat_id: int, text: str, *, reply_to: int | None = None) -> dict:
    """An anonymous admin writes (as @GroupAnonymousBot, sender_chat = the group); the bot's last message."""
    mark = env.tg.mark()
    env.tg.send_text(chat_id, ADMIN, text, anonymous_admin=True, reply_to=reply_to)
    await env.tg.wait_for_bot_message(chat_id, after=mark, timeout=10)
    await env.quiet(mark)
    return env.tg.last_bot_message(chat_id)


async def to_summary(person: Person) -> dict:
    """Service 1 in a group: every answer is a reply to the bot's prompt (privacy mode); the summary."""
    await person.say("/order 1")
    assert "Reply to this message" in person.text, person.text
    await person.say(LINK, reply_to=person.last["message_id"])
    await person.say("100", reply_to=person.last["message_id"])
    await person.say("/skip")  # no drip-feed
    assert "Order summary" in person.text, person.text
    return person.last


def member_calls_since(env: BotEnv, mark: int) -> list[dict]:
    return [params for name, params in env.tg.requests[mark:] if name == "getChatMember"]


# ------------------------------------------------------------------------------------------------ linking


async def test_connect_only_for_admins_and_the_key_goes_through_the_private_chat(env: BotEnv) -> None:
    env.tg.add_group(GROUP, "Team", admins=[OWNER, ADMIN], members=[MEMBER])
    ada, max_ = env.person(ADMIN, first_name="Ada"), env.person(MEMBER, first_name="Max")
    admin, member = env.in_group(ada, GROUP), env.in_group(max_, GROUP)

    await member.say("/connect")
    assert "Only the group's admins" in member.text
    await admin.say("/connect@smm_test_bot")
    assert "private chat" in admin.text
    assert [url for _, url in env.tg.buttons(admin.last)] == ["https://t.me/smm_test_bot?start=connect_g1001"]

    await ada.say("/start connect_g1001")
    assert "Team" in ada.text and "API key" in ada.text
    env.tg.set_admin(GROUP, ADMIN, False)  # demoted before sending the key: it is checked again
    await ada.say(KEY)
    assert "Only the group's admins may link" in ada.text
    async with env.deps.sessions() as session:
        assert await repo.accounts.list_accounts(session, GROUP) == []

    env.tg.set_admin(GROUP, ADMIN, True)
    await ada.say("/start connect_g1001")
    await ada.say(KEY)
    assert "Panel linked" in ada.recent_text() and "Team" in ada.recent_text()
    assert "Ada linked the panel" in admin.text
    async with env.deps.sessions() as session:
        (account,) = await repo.accounts.list_accounts(session, GROUP)
    assert env.deps.vault.decrypt(account.key_encrypted) == KEY
    for method, params in env.tg.requests:
        if params.get("chat_id") in (GROUP, str(GROUP)):
            assert KEY not in json.dumps(params, default=str), method

    # An anonymous admin gets the link too, and is told how the key step works for them.
    text = (await anonymous(env, GROUP, "/connect"))["text"]
    assert "anonymously" in text and "Remain anonymous" in text
    await member.say("/disconnect")
    assert "Only the group's admins" in member.text


# ------------------------------------------------------------------------------------------------ ordering


async def test_admin_orders_members_are_refused_and_cannot_touch_the_admins_order(
    env: BotEnv, team: tuple[Person, Person, Person]
) -> None:
    admin, member, _ = team
    await member.say("/order 1")
    assert "Only the group's admins may order here" in member.text
    assert "/settings" in member.text

    await admin.say("/order@smm_test_bot 1")
    prompt = admin.last
    # Another member's reply to the admin's prompt does not feed the admin's order.
    await member.say("https://instagram.com/intruder", reply_to=prompt["message_id"])
    assert "someone else's order in progress" in member.text
    await admin.say(LINK, reply_to=prompt["message_id"])
    assert "quantity" in admin.text
    await admin.say("100", reply_to=admin.last["message_id"])
    await admin.say("/skip")
    summary = admin.last
    assert "Order summary" in summary["text"]

    await member.press("Edit", message=summary)
    assert "someone else's order in progress" in member.alerts()[-1]
    await member.press("Confirm", message=summary)
    assert "someone else's order in progress" in member.alerts()[-1]
    assert env.panel.count("add") == 0

    mark = env.tg.mark()
    await admin.press("Confirm", message=summary)
    assert member_calls_since(env, mark), "Confirm must ask Telegram afresh, not the cache"
    assert "Order placed" in admin.text and env.panel.count("add") == 1
    placed = env.panel.orders[max(env.panel.orders)]
    assert (placed.link, placed.quantity) == (LINK, 100)


async def test_members_may_order_once_an_admin_allows_it(
    env: BotEnv, team: tuple[Person, Person, Person]
) -> None:
    admin, member, other = team
    await member.say("/settings")
    assert "Only the group's admins" in member.text

    await admin.say("/settings")
    menu = admin.last
    await member.press("Let members order", message=menu)
    assert "Only the group's admins" in member.alerts()[-1]
    assert (await chat_row(env, GROUP)).members_may_order is False  # type: ignore[union-attr]
    await admin.press("Let members order", message=menu)
    assert (await chat_row(env, GROUP)).members_may_order is True  # type: ignore[union-attr]

    summary = await to_summary(member)
    await other.press("Confirm", message=summary)  # another member: not theirs
    assert "someone else's order in progress" in other.alerts()[-1]
    await other.press("Cancel", message=summary)
    assert "someone else's order in progress" in other.alerts()[-1]
    assert env.panel.count("add") == 0
    # The decision documented in handlers/group.py: an admin may confirm a member's prepared order.
    await admin.press("Confirm", message=summary)
    assert "Order placed" in admin.text and env.panel.count("add") == 1


async def test_demoted_between_summary_and_confirm_and_promoted_between_tries(
    env: BotEnv, team: tuple[Person, Person, Person]
) -> None:
    admin, member, _ = team
    summary = await to_summary(admin)
    env.tg.set_admin(GROUP, ADMIN, False)
    await admin.press("Confirm", message=summary)
    assert "Only the group's admins" in admin.alerts()[-1]
    assert env.panel.count("add") == 0

    await member.say("/order 1")
    assert "Only the group's admins may order" in member.text
    env.tg.set_admin(GROUP, MEMBER, True)  # promoted: no stale "not an admin" answer stands in the way
    await member.say("/order 1")
    assert "Reply to this message" in member.text


async def test_anonymous_admin_uses_settings_and_orders(
    env: BotEnv, team: tuple[Person, Person, Person]
) -> None:
    admin, member, _ = team
    menu = await anonymous(env, GROUP, "/settings")
    assert "Settings" in menu["text"] and "Members may order: no" in menu["text"]
    # Buttons are pressed from the admin's own account (presses are never anonymous).
    await admin.press("Let members order", message=menu)
    assert (await chat_row(env, GROUP)).members_may_order is True  # type: ignore[union-attr]
    await admin.press("Only admins may order")
    assert (await chat_row(env, GROUP)).members_may_order is False  # type: ignore[union-attr]
    # The alert threshold: asked for from the admin's account, answered anonymously (as the group).
    await admin.press("Low-balance alert")
    prompt = admin.last
    await member.say("1", reply_to=prompt["message_id"])
    assert "Only the group's admins" in member.text
    await anonymous(env, GROUP, "7.5", reply_to=prompt["message_id"])
    assert (await chat_row(env, GROUP)).low_balance_threshold == Decimal("7.5")  # type: ignore[union-attr]

    prompt = await anonymous(env, GROUP, "/order 1")
    source = env.tg.extras[(GROUP, prompt["message_id"])]["source"]
    assert "Send the link" in source and "tg://user" not in source  # nobody to mention
    prompt = await anonymous(env, GROUP, LINK, reply_to=prompt["message_id"])
    await anonymous(env, GROUP, "100", reply_to=prompt["message_id"])
    summary = await anonymous(env, GROUP, "/skip")
    assert "Order summary" in summary["text"]
    await member.press("Confirm", message=summary)
    assert "someone else's" in member.alerts()[-1] and env.panel.count("add") == 0
    await admin.press("Confirm", message=summary)  # the anonymous admin, from their own account
    assert "Order placed" in admin.text and env.panel.count("add") == 1


# ------------------------------------------------------------------------------------------------ members see


async def test_members_see_orders_and_balance_with_or_without_the_suffix(
    env: BotEnv, team: tuple[Person, Person, Person]
) -> None:
    admin, member, _ = team
    summary = await to_summary(admin)
    await admin.press("Confirm", message=summary)
    await member.say("/orders@smm_test_bot")
    assert "page 1 of 1, 1 in all" in member.text
    await member.press("#")  # the order's card
    assert LINK in member.text
    await member.say("/balance@smm_test_bot")
    assert "Balance" in member.text and "USD" in member.text
    mark = env.tg.mark()
    await member.say("/balance@another_bot", expect_reply=False)
    assert not [p for name, p in env.tg.requests[mark:] if name == "sendMessage"]


async def test_status_changes_of_group_orders_are_queued_for_the_group(
    env: BotEnv, team: tuple[Person, Person, Person]
) -> None:
    from bot.tracking import poll_cycle

    admin, _, _ = team
    await admin.press("Confirm", message=await to_summary(admin))
    env.panel.clock.advance(7 * 86400)  # the simulator's order has run its course
    await poll_cycle(env.deps, datetime.fromtimestamp(env.panel.clock.now(), UTC))
    async with env.deps.sessions() as session:
        queued = (await session.scalars(select(Outbox))).all()
    assert queued and {row.chat_id for row in queued} == {GROUP}


# ------------------------------------------------------------------------------------------------ membership


async def test_added_introduces_itself_removed_marks_inactive(env: BotEnv) -> None:
    env.person(ADMIN, first_name="Ada")
    env.tg.add_group(-2002, "Fresh", admins=[ADMIN], bot_status="left")
    mark = env.tg.mark()
    env.tg.add_bot_to_group(-2002, ADMIN)
    await env.tg.wait_for_bot_message(-2002, after=mark, timeout=10)
    await env.quiet(mark)
    intros = env.tg.bot_messages(-2002)
    assert len(intros) == 1  # my_chat_member and the new_chat_members message: one introduction
    assert "Fresh" in intros[0]["text"] and "/connect" in intros[0]["text"]
    assert "private chat" in intros[0]["text"]
    assert [label for label, _ in env.tg.buttons(intros[0])] == ["🔗 Connect panel"]
    assert (await chat_row(env, -2002)).active is True  # type: ignore[union-attr]

    env.tg.remove_bot_from_group(-2002, ADMIN)
    await env.quiet()
    assert (await chat_row(env, -2002)).active is False  # type: ignore[union-attr]
    assert len(env.tg.bot_messages(-2002)) == 1

    env.tg.add_bot_to_group(-2002, ADMIN)  # back again: active, and introduced again
    await env.quiet()
    assert (await chat_row(env, -2002)).active is True  # type: ignore[union-attr]
    assert len(env.tg.bot_messages(-2002)) == 2


async def test_migration_moves_the_chat(env: BotEnv, team: tuple[Person, Person, Person]) -> None:
    admin, member, _ = team
    await admin.say("/settings")
    await admin.press("Let members order")
    new_id = env.tg.migrate_group(GROUP)
    await env.quiet()
    assert await chat_row(env, GROUP) is None
    moved = await chat_row(env, new_id)
    assert moved is not None and moved.members_may_order is True and moved.kind == "supergroup"
    async with env.deps.sessions() as session:
        assert len(await repo.accounts.list_accounts(session, new_id)) == 1
    member = Person(env, MEMBER, new_id)
    await member.say("/balance")
    assert "USD" in member.text
    await member.say("/order 1")
    assert "Reply to this message" in member.text


async def test_channel_posts_are_ignored(env: BotEnv, caplog: pytest.LogCaptureFixture) -> None:
    channel = {"id": -1005550001, "type": "channel", "title": "News"}
    bot = {"id": env.tg.bot_id, "is_bot": True, "first_name": "SMM Test Bot", "username": "smm_test_bot"}
    owner = env.tg.add_user(ADMIN, "Ada")
    now = int(time.time())
    caplog.set_level(logging.ERROR)
    env.tg.send_raw_update(
        {
            "my_chat_member": {
                "chat": channel,
                "from": owner,
                "date": now,
                "old_chat_member": {"status": "left", "user": bot},
                "new_chat_member": {"status": "administrator", "user": bot, **_admin_rights()},
            }
        }
    )
    for i, text in enumerate(["/start", "/order@smm_test_bot 1", "hello @smm_test_bot"], start=1):
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if i < 3 else []
        post = {"message_id": i, "date": now, "chat": channel, "sender_chat": channel, "text": text}
        env.tg.send_raw_update({"channel_post": {**post, "entities": entities}})
    env.tg.send_raw_update({"edited_channel_post": {**post, "edit_date": now, "text": "/help"}})
    await env.quiet()
    assert not [p for name, p in env.tg.requests if p.get("chat_id") in (channel["id"], str(channel["id"]))]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert not env.tg.pending_updates


def _admin_rights() -> dict:
    rights = ["can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members"]
    rights += ["can_promote_members", "can_change_info", "can_invite_users", "can_post_stories"]
    rights += ["can_edit_stories", "can_delete_stories", "can_post_messages", "can_edit_messages"]
    return {"can_be_edited": False, "is_anonymous": False, **dict.fromkeys(rights, True)}
