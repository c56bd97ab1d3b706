"""What the /connect conversation (handlers/connect.py) shares with its steps in other modules: the
conversation states, its part of user_data and the Cancel row."""

from __future__ import annotations

from typing import Any

from handlers.common import Button, Context, Turn, user_data

KEY, URL, LABEL = range(3)


def conversation_state(context: Context) -> dict[str, Any]:
    """The conversation's own part of user_data: {"chat": target chat id, "panel": url} (JSON only)."""
    return user_data(context).setdefault("connect", {})


def cancel_row(t: Turn) -> list[Button]:
    return [(t._("✖️ Cancel"), "acc:cancel")]
