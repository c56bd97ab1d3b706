"""`Flow`: a conversation whose state is the update's conversation row (bot/conversation.py), not memory.

It has ConversationHandler's shape: entry points, steps -> handlers, fallbacks. A callback returns the next
step (stored in the row, with a fresh deadline), END (the flow is over) or None (nothing changes). The rules:
- an entry point always wins, from any state: entering a flow ends the one in progress (the row has one flow);
- a step's handlers, and the fallbacks (/cancel), only see updates while their flow is the active one, so text
  goes to the active flow only;
- a button of the flow's steps (`expired_buttons`) pressed while the flow is not active answers EXPIRED;
- a flow past its deadline was ended when the update was loaded: `ExpiryNotice` says so once, naming it,
  then the update is handled as if no flow were active.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, BaseHandler

from bot.conversation import ConversationState, current
from bot.i18n import lazy
from handlers.common import Context, esc, turn

END = -1
EXPIRED = lazy("This button is no longer active.")  # the same words as for any unclaimed button
KEEP_MESSAGES = 20  # a flow's own step messages in a group, for "whose prompt is this" (handlers/group.py)

_ENTRY, _STEP, _EXPIRED = "entry", "step", "expired"
# Handler groups before the flows' (0): the expiry notice first, then the guard that deletes a pasted key.
EXPIRY_GROUP, PASTED_KEY_GROUP = -2, -1
AnyHandler = BaseHandler[Update, Context, Any]


def state() -> ConversationState:
    """The update's conversation (handlers of flows only run inside the update processor)."""
    found = current()
    if found is None:
        raise RuntimeError("no conversation for this update: not run through the update processor?")
    return found


def flow_data(key: str) -> dict[str, Any]:
    """The active flow's own part of the conversation data (JSON only), e.g. flow_data("connect")."""
    return state().data.setdefault(key, {})


def remember_message(message: Message | None) -> None:
    """Note a step message sent in a group, so that a press on it or a reply to it by someone else is
    recognised as someone else's (handlers/group.py ForeignWizard)."""
    if message is None or message.chat.type == ChatType.PRIVATE:
        return
    kept = [m for m in state().data.get("msgs", []) if m != message.message_id][-KEEP_MESSAGES + 1 :]
    state().data["msgs"] = [*kept, message.message_id]


class Flow(BaseHandler[Update, Context, None]):
    def __init__(
        self,
        name: str,
        *,
        entry_points: Sequence[AnyHandler],
        steps: dict[int, Sequence[AnyHandler]],
        fallbacks: Sequence[AnyHandler] = (),
        expired_buttons: str | None = None,
    ) -> None:
        super().__init__(self._unused)
        self.name = name  # also the command named by the expiry notice
        self.entry_points = list(entry_points)
        self.steps = {str(step): list(handlers) for step, handlers in steps.items()}
        self.fallbacks = list(fallbacks)
        self.expired_buttons = re.compile(expired_buttons) if expired_buttons else None

    @staticmethod
    async def _unused(update: Update, context: Context) -> None:  # handle_update is overridden
        raise NotImplementedError

    def check_update(self, update: object) -> tuple[str, AnyHandler | None, object] | None:
        if not isinstance(update, Update):
            return None
        conversation = current()
        if conversation is None:
            return None
        for handler in self.entry_points:
            check = handler.check_update(update)
            if check is not None and check is not False:
                return _ENTRY, handler, check
        if conversation.flow == self.name:
            for handler in [*self.steps.get(conversation.step or "", ()), *self.fallbacks]:
                check = handler.check_update(update)
                if check is not None and check is not False:
                    return _STEP, handler, check
        query = update.callback_query
        if query is not None and self.expired_buttons and self.expired_buttons.match(query.data or ""):
            return _EXPIRED, None, None
        return None

    async def handle_update(
        self,
        update: Update,
        application: Application[Any, Any, Any, Any, Any, Any],
        check_result: object,
        context: Context,
    ) -> None:
        kind, handler, check = check_result  # type: ignore[misc]
        if kind == _EXPIRED:
            t = await turn(update, context)
            await t.answer(t._(EXPIRED))
            return
        assert handler is not None
        conversation = state()
        if kind == _ENTRY and conversation.flow != self.name:
            conversation.end()  # the flow in progress ends here, whatever the entry callback returns
        result = await handler.handle_update(update, application, check, context)
        if result == END:
            conversation.end()
        elif result is not None:
            conversation.enter(self.name, str(result))


class ExpiryNotice(BaseHandler[Update, Context, None]):
    """Registered in a group before the flows: says once that the flow's deadline passed. The update then
    goes on to the flows' group as if no flow were active."""

    def __init__(self) -> None:
        super().__init__(self.notify)

    def check_update(self, update: object) -> bool:
        conversation = current()
        return isinstance(update, Update) and conversation is not None and conversation.expired is not None

    @staticmethod
    async def notify(update: Update, context: Context) -> None:
        flow = state().expired
        t = await turn(update, context)
        text = t._(
            "⌛ The /{command} step expired; nothing was changed. Start again with /{command}.", command=flow
        )
        try:
            await context.bot.send_message(t.chat_id, esc(text))
        except TelegramError:
            pass
