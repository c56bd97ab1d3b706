"""Property test: whatever a person types or presses, in whatever state, the bot answers politely, never
with a traceback, and the database stays consistent.

One Application serves every example (starting one per example would take a second each); the examples
are sequences of actions from one user, mixing commands, free text, presses of the buttons on screen and
forged callback data.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from storage.models import Order, Placement
from tests.e2e.conftest import BotEnv, make_env

COMMANDS = [
    "/start",
    "/help",
    "/order",
    "/order 1",
    "/order 3",
    "/order 999999",
    "/services",
    "/services follow",
    "/services 7",
    "/orders",
    "/balance",
    "/settings",
    "/language",
    "/cancel",
    "/connect",
    "/disconnect",
    "/status",
    "/status 1 2 abc",
    "/refill",
    "/refill 23501",
    "/nonsense",
    "/start svc_2",
    "/start xyz",
]
TEXTS = st.one_of(
    st.sampled_from(
        [
            "100",
            "0",
            "-5",
            "1e9",
            "https://instagram.com/p/abc",
            "not a link",
            "@someone",
            "skip",
            "a\nb\nc",
            "<b>bold</b>",
            "&amp;",
            "9" * 40,
            "demo-key-usd",
            " ",
        ]
    ),
    st.text(min_size=1, max_size=120).filter(lambda s: s.strip() != ""),
)
CALLBACKS = st.one_of(
    st.sampled_from(
        [
            "ord:ok:nosuchtoken",
            "o:show:999999",
            "o:fill:1",
            "o:cxl:1",
            "o:cxy:1",
            "svc:cat:-1:5",
            "svc:cats:999",
            "svc:s:abc",
            "m:order",
            "bal:show",
            "o:list:-3",
            "acc:connect",
            "x",
            "",
        ]
    ),
    st.text(max_size=30).filter(lambda s: len(s.encode()) <= 64),
)
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("say"), st.sampled_from(COMMANDS)),
        st.tuples(st.just("say"), TEXTS),
        st.tuples(st.just("press"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("forge"), CALLBACKS),
    ),
    min_size=1,
    max_size=8,
)


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _act(env: BotEnv, user: int, action: tuple[str, object]) -> None:
    kind, value = action
    tg = env.tg
    mark = tg.mark()
    if kind == "say":
        tg.send_text(user, user, str(value))
        await env.quiet(mark)
        answered = [
            name
            for name, _ in tg.requests[mark:]
            if name in ("sendMessage", "editMessageText", "deleteMessage", "sendDocument")
        ]
        assert answered, f"no answer to {value!r}\n{tg.summary()}"
        return
    messages = [m for m in tg.bot_messages(user) if tg.buttons(m)]
    if kind == "press":
        if not messages:
            return
        message = messages[-1]
        buttons = [
            (label, data) for label, data in tg.buttons(message) if not data.startswith(("http", "tg:"))
        ]
        if not buttons:
            return
        tg.press_button(user, message["message_id"], buttons[int(value) % len(buttons)][1], user)  # type: ignore[call-overload]
    else:
        target = messages[-1]["message_id"] if messages else 1
        tg.press_button(user, target, str(value), user, force=True)
    await env.quiet(mark)
    assert any(name == "answerCallbackQuery" for name, _ in tg.requests[mark:]), (
        f"callback {action!r} not answered\n{tg.summary()}"
    )


async def _check_consistent(env: BotEnv) -> None:
    async with env.deps.sessions() as session:
        orders = (await session.scalars(select(Order))).all()
    assert not [o for o in orders if o.placement == Placement.sending], "an order was left in 'sending'"
    placed = {o.panel_order_id for o in orders if o.placement == Placement.placed}
    assert None not in placed
    assert placed <= set(env.panel.orders), "a placed order the panel does not know"
    # every order the panel has came from exactly one of our rows (placed, or unclear at worst)
    ours = [o for o in orders if o.placement in (Placement.placed, Placement.unclear)]
    assert len(env.panel.orders) <= len(ours)
    for message in env.tg.bot_messages(100) + env.tg.bot_messages(101):
        assert "Traceback" not in message.get("text", "")


def test_any_input_gets_a_polite_answer(tmp_path: Path, sqlite_url: str) -> None:
    loop = asyncio.new_event_loop()
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    gen = make_env(tmp_path, sqlite_url)
    env: BotEnv = loop.run_until_complete(gen.__anext__())
    try:
        env.person(100)  # no panel linked
        loop.run_until_complete(env.connected(101))

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        @given(user=st.sampled_from([100, 101]), actions=ACTIONS)
        def run(user: int, actions: list[tuple[str, object]]) -> None:
            for action in actions:
                loop.run_until_complete(_act(env, user, action))
            loop.run_until_complete(_check_consistent(env))
            assert not errors.records, [r.getMessage() for r in errors.records]

        run()
    finally:
        logging.getLogger().removeHandler(errors)
        loop.run_until_complete(gen.aclose())
        loop.close()
