"""Telling a person to wait before an expensive action again (the limits are bot/rate_limits.py)."""

from __future__ import annotations

from bot.i18n import Translator
from bot.rate_limits import wait_seconds
from handlers.common import Turn, esc


def wait_text(_: Translator, action: str, seconds: int) -> str:
    if action in ("catalog_refresh", "order_refresh", "balance"):
        return _("Please wait {n} s before refreshing again.", n=seconds)
    if action == "compare":
        return _("Please wait {n} s before comparing again.", n=seconds)
    if action == "status":
        return _("Please wait {n} s before asking for statuses again.", n=seconds)
    return _("Please wait {n} s before trying that again.", n=seconds)


async def must_wait(t: Turn, action: str) -> bool:
    """True when the person has to wait before `action` (they are told how long: an alert on a button, a
    reply to a command); False when they may go on (the use is counted)."""
    retry_after = t.deps.rate_limits.retry_after(t.user_id, action)
    if retry_after is None:
        return False
    text = wait_text(t._, action, wait_seconds(retry_after))
    if t.query is not None:
        await t.answer(text, alert=True)
    elif t.update.effective_message is not None:
        await t.update.effective_message.reply_text(esc(text))
    return True
