"""The conversation runtime (bot/conversation.py, handlers/flow.py) through the real wires, on SQLite and
PostgreSQL: one flow at a time per person, text only to the active flow, deadlines that survive restarts.

Every pair of flows is interleaved: enter A, enter B (by command and by button), answer B's step. The answer
must reach B, and A must be over (its text step no longer listens, its buttons answer that they expired).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path

import pytest

from storage import repo
from storage.models import Account
from tests.e2e.conftest import BotEnv, Person, make_env, plain

OTHER_KEY = "second-key-0123456789"
LINK = "https://instagram.com/p/interleaved"
GROUP, OWNER, ADMIN = -7001, 7000, 7002


@dataclass(frozen=True)
class Case:
    """How to enter a flow and answer its first text step, and what proves the flow took the answer."""

    name: str
    command: str | None  # a message that enters the flow at its text step (None: only a button does)
    button: str | None  # callback data that enters it there ({acc}: the chat's account id)
    answer: str
    answered: str  # in the bot's reply once the flow took the answer
    in_groups: bool = True  # connect and the threshold are not conversations in groups


CASES = {
    c.name: c
    for c in [
        Case("connect", "/connect", "acc:connect", OTHER_KEY, "Panel linked", in_groups=False),
        Case("order", "/order 1", "ord:new:1", LINK, "Send the quantity"),
        Case("mass", "/mass", None, f"1 | {LINK} | 100", "to order: 1"),
        Case("settings", None, "set:thr", "5", "falls below 5.00 USD", in_groups=False),
        Case("accounts", None, "acs:ren:{acc}", "Main", "Renamed to Main"),
    ]
}


def _pairs(*, groups: bool) -> list[tuple[str, str, str]]:
    names = [n for n, c in CASES.items() if c.in_groups or not groups]
    out = []
    for a, b in permutations(names, 2):
        for via in ("command", "button"):
            if getattr(CASES[b], via) is not None:
                out.append((a, b, via))
    return out


@pytest.fixture
async def conv_env(tmp_path: Path, db_url: str) -> AsyncIterator[BotEnv]:
    async for e in make_env(tmp_path, db_url):
        e.panel.add_key(OTHER_KEY, "50", "USD")
        yield e


async def _enter(env: BotEnv, who: Person, case: Case, via: str | None = None) -> None:
    via = via or ("command" if case.command else "button")
    if via == "command":
        assert case.command is not None
        await who.say(case.command)
        return
    assert case.button is not None
    account = await _account_id(env, who.chat_id)
    shown = env.tg.bot_messages(who.chat_id)
    await who.press_data(case.button.format(acc=account), message=shown[-1] if shown else {"message_id": 1})


async def _accounts(env: BotEnv, chat_id: int) -> list[Account]:
    async with env.deps.sessions() as session:
        return await repo.accounts.list_accounts(session, chat_id)


async def _account_id(env: BotEnv, chat_id: int) -> int:
    return (await _accounts(env, chat_id))[0].id or 0


async def _answer(who: Person, case: Case) -> str:
    private = who.chat_id == who.user_id
    await who.say(case.answer, reply_to=None if private else who.last["message_id"])
    return plain(who.recent_text())  # after a linked key comes the low-balance alert offer


@pytest.mark.parametrize(("a", "b", "via"), _pairs(groups=False))
async def test_entering_a_flow_ends_the_one_in_progress(conv_env: BotEnv, a: str, b: str, via: str) -> None:
    env = conv_env
    alice = await env.connected(101)
    await _enter(env, alice, CASES[a])
    assert (await env.conversation(101, 101))[0] == a
    await _enter(env, alice, CASES[b], via)
    assert (await env.conversation(101, 101))[0] == b
    reply = await _answer(alice, CASES[b])
    assert CASES[b].answered in reply, reply
    assert (await env.conversation(101, 101))[0] != a
    if b != "connect":  # nothing was linked by the answer: it did not reach an abandoned /connect
        assert len(await _accounts(env, 101)) == 1


@pytest.mark.parametrize(("a", "b", "via"), _pairs(groups=True))
async def test_entering_a_flow_ends_the_one_in_progress_in_a_group(
    conv_env: BotEnv, a: str, b: str, via: str
) -> None:
    env = conv_env
    env.person(ADMIN, first_name="Ada")
    env.tg.add_group(GROUP, "Team", admins=[OWNER, ADMIN])
    await env.link(GROUP)
    ada = env.in_group(Person(env, ADMIN), GROUP)
    await _enter(env, ada, CASES[a])
    assert (await env.conversation(GROUP, ADMIN))[0] == a
    await _enter(env, ada, CASES[b], via)
    assert (await env.conversation(GROUP, ADMIN))[0] == b
    reply = await _answer(ada, CASES[b])
    assert CASES[b].answered in reply, reply
    assert (await env.conversation(GROUP, ADMIN))[0] != a


async def test_abandoned_connect_does_not_take_the_order_link(conv_env: BotEnv) -> None:
    """The issue's example: /connect, then /order 1, then the link: it goes to the order wizard, is not
    deleted, and is never sent to the panel as a key."""
    env = conv_env
    alice = await env.connected(101)
    await alice.say("/connect")
    await alice.say("/order 1")
    await alice.say(LINK)
    assert "Send the quantity" in alice.text
    assert any(LINK in (m.get("text") or "") for m in env.tg.messages[101].values())  # still there
    assert env.panel.count("balance") == 0
    await alice.press_data("acc:other")  # a button of the connect flow that was left
    assert alice.alerts()[-1] == "This button is no longer active."


async def test_a_key_pasted_into_another_flow_is_deleted_and_the_flow_waits(conv_env: BotEnv) -> None:
    env = conv_env
    alice = await env.connected(101)
    await alice.say("/order 1")
    key = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    sent = env.tg.send_text(101, 101, key)
    await env.quiet()
    assert sent is not None and sent["message_id"] in {
        int(p["message_id"]) for p in env.tg.calls("deleteMessage")
    }
    assert "looked like an API key" in alice.text
    assert await env.conversation(101, 101) == ("order", "1")  # the link step still waits
    await alice.say(LINK)
    assert "Send the quantity" in alice.text


async def test_a_step_button_of_a_left_flow_has_expired(conv_env: BotEnv) -> None:
    env = conv_env
    alice = await env.connected(101)
    await alice.say("/order 1")
    await alice.say(LINK)
    await alice.say("/mass")
    await alice.press_data("ord:x")  # the order wizard's Cancel: that wizard is over already
    assert alice.alerts()[-1] == "This button is no longer active."
    assert (await env.conversation(101, 101))[0] == "mass"  # and the press did not end /mass


async def test_people_in_a_group_have_a_conversation_each(conv_env: BotEnv) -> None:
    env = conv_env
    env.person(ADMIN, first_name="Ada")
    env.person(OWNER, first_name="Olga")
    env.tg.add_group(GROUP, "Team", admins=[OWNER, ADMIN])
    await env.link(GROUP)
    ada = env.in_group(Person(env, ADMIN), GROUP)
    olga = env.in_group(Person(env, OWNER), GROUP)
    await ada.say("/order 1")
    ada_prompt = ada.last["message_id"]
    await olga.say("/mass")
    assert (await env.conversation(GROUP, ADMIN))[0] == "order"
    assert (await env.conversation(GROUP, OWNER))[0] == "mass"
    await olga.say(LINK, reply_to=ada_prompt)  # a reply to Ada's prompt: not Olga's to answer
    assert "someone else's order" in olga.text
    await ada.say(LINK, reply_to=ada_prompt)
    assert "Send the quantity" in ada.text


# ------------------------------------------------------------------------------------- restarts, deadlines


@pytest.mark.parametrize("name", list(CASES))
async def test_a_restart_in_the_middle_of_a_flow_continues_it(conv_env: BotEnv, name: str) -> None:
    env = conv_env
    alice = await env.connected(101)
    await _enter(env, alice, CASES[name])
    await env.restart()  # a new Application on the same database (a deploy)
    reply = await _answer(alice, CASES[name])
    assert CASES[name].answered in reply, reply


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.in_groups])
async def test_a_restart_in_the_middle_of_a_flow_continues_it_in_a_group(conv_env: BotEnv, name: str) -> None:
    env = conv_env
    env.person(ADMIN, first_name="Ada")
    env.tg.add_group(GROUP, "Team", admins=[OWNER, ADMIN])
    await env.link(GROUP)
    ada = env.in_group(Person(env, ADMIN), GROUP)
    await _enter(env, ada, CASES[name])
    await env.restart()
    reply = await _answer(ada, CASES[name])  # a reply to the prompt sent before the restart
    assert CASES[name].answered in reply, reply


@pytest.mark.parametrize("name", list(CASES))
async def test_past_its_deadline_a_flow_expires_after_a_restart(conv_env: BotEnv, name: str) -> None:
    env = conv_env
    alice = await env.connected(101)
    await _enter(env, alice, CASES[name])
    await env.stop()
    await env.start()
    assert await env.expire_conversations() == 1
    mark = len(env.tg.bot_messages(101))
    await alice.say(CASES[name].answer)
    said = [plain(m["text"]) for m in env.tg.bot_messages(101)[mark:]]
    assert said[0] == f"⌛ The /{name} step expired; nothing was changed. Start again with /{name}.", said
    assert not any(CASES[name].answered in s for s in said)
    assert await env.conversation(101, 101) == (None, None)
