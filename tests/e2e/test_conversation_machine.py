"""A hypothesis state machine over the conversation runtime: commands and buttons that enter every flow,
their step buttons, /cancel and free text (every flow's kind of answer), interleaved at random.

The properties, checked after every action against the stored conversation and what the panel and the
database saw:
- entering a flow makes it the active one (the one before is over);
- text never moves the conversation to another flow, and only the active flow reacts to it: no key is linked
  unless /connect is active, no threshold set unless its step is active, no account renamed unless the
  rename is active, no draft stored unless the order or mass flow is active; nothing is ever placed;
- a step button of a flow that is not active answers that it is no longer active, and changes nothing;
- /cancel leaves no flow active.
One Application serves every example (starting one per example would take a second each).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from storage import repo
from storage.models import Order
from tests.e2e.conftest import BotEnv, make_env

USER = 101
OTHER_KEY = "machine-key-0123456789"
ENTRIES = {  # what enters each flow at a text step: a command, or a button ({acc}: an account id)
    "connect": ["/connect", "btn:acc:connect"],
    "order": ["/order 1", "btn:ord:new:1"],
    "mass": ["/mass"],
    "settings": ["btn:set:thr"],
    "accounts": ["btn:acs:ren:{acc}"],
}
STEP_BUTTONS = {  # a button of each flow's steps
    "connect": "acc:other",
    "order": "ord:skip",
    "mass": "mass:x",
    "accounts": "acs:x",
}
TEXTS = [
    OTHER_KEY,  # a key for /connect
    "https://instagram.com/p/machine",  # a link for /order
    "150",  # a quantity, a threshold
    "1 | https://instagram.com/p/m | 100",  # a line for /mass
    "Renamed by the machine",  # a name for the rename
    "hello",
]


class Observed:
    """What the flows can change, read from the database."""

    def __init__(self, accounts: int, threshold: object, labels: tuple[str | None, ...], drafts: int) -> None:
        self.accounts, self.threshold, self.labels, self.drafts = accounts, threshold, labels, drafts

    @classmethod
    async def read(cls, env: BotEnv) -> Observed:
        async with env.deps.sessions() as session:
            accounts = await repo.accounts.list_accounts(session, USER)
            chat = await repo.chats.get_chat(session, USER)
            drafts = await session.scalar(
                select(func.count()).select_from(Order).where(Order.chat_id == USER)
            )
        threshold = chat.low_balance_threshold if chat else None
        return cls(len(accounts), threshold, tuple(a.label for a in accounts), int(drafts or 0))


def test_no_text_reaches_a_flow_that_was_left(tmp_path: Path, sqlite_url: str) -> None:
    loop = asyncio.new_event_loop()
    gen = make_env(tmp_path, sqlite_url)
    env: BotEnv = loop.run_until_complete(gen.__anext__())
    env.panel.add_key(OTHER_KEY, "50", "USD")
    run = loop.run_until_complete

    async def stored_flow() -> str | None:
        return (await env.conversation(USER, USER))[0]

    async def act(action: str) -> None:
        mark = env.tg.mark()
        if action.startswith("btn:"):
            async with env.deps.sessions() as session:
                account = (await repo.accounts.list_accounts(session, USER))[0]
            shown = env.tg.bot_messages(USER)
            target = shown[-1]["message_id"] if shown else 1
            env.tg.press_button(USER, target, action[4:].format(acc=account.id), USER, force=True)
        else:
            env.tg.send_text(USER, USER, action)
        await env.quiet(mark)

    class Machine(RuleBasedStateMachine):
        @initialize()
        def start_clean(self) -> None:
            run(act("/cancel"))
            assert run(stored_flow()) is None
            self.active: str | None = None

        @rule(flow=st.sampled_from(sorted(ENTRIES)), data=st.data())
        def enter(self, flow: str, data: st.DataObject) -> None:
            run(act(data.draw(st.sampled_from(ENTRIES[flow]))))
            assert run(stored_flow()) == flow
            self.active = flow

        @rule(text=st.sampled_from(TEXTS))
        def type_text(self, text: str) -> None:
            before = run(Observed.read(env))
            run(act(text))
            after = run(Observed.read(env))
            now = run(stored_flow())
            assert now in (self.active, None), (self.active, now)  # text never switches flows
            if self.active != "connect":
                assert after.accounts == before.accounts
            if self.active != "settings":
                assert after.threshold == before.threshold
            if self.active not in ("accounts", "connect"):  # /connect names a second panel it linked
                assert after.labels[: len(before.labels)] == before.labels
            if self.active not in ("order", "mass"):
                assert after.drafts == before.drafts
            self.active = now

        @rule(flow=st.sampled_from(sorted(STEP_BUTTONS)))
        def press_a_step_button(self, flow: str) -> None:
            if flow == self.active:
                return  # the active flow's own buttons are tested with each flow
            mark = env.tg.mark()
            run(act("btn:" + STEP_BUTTONS[flow]))
            answers = [p.get("text") for name, p in env.tg.requests[mark:] if name == "answerCallbackQuery"]
            assert answers == ["This button is no longer active."], answers
            assert run(stored_flow()) == self.active

        @rule()
        def cancel(self) -> None:
            run(act("/cancel"))
            assert run(stored_flow()) is None
            self.active = None

        @invariant()
        def nothing_is_placed(self) -> None:
            assert env.panel.count("add") == 0

    try:
        run(env.link(USER))
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=12,
                stateful_step_count=10,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        loop.run_until_complete(gen.aclose())
        loop.close()
