"""What the /connect conversation (handlers/connect.py) shares with its steps in other modules: the
steps, its part of the conversation data and the Cancel row."""

from __future__ import annotations

from typing import Any

from handlers.common import Button, Turn
from handlers.flow import flow_data

KEY, URL, LABEL = range(3)


def connect_data() -> dict[str, Any]:
    """{"chat": target chat id, "panel": url, "label_for": account id} (JSON only)."""
    return flow_data("connect")


def cancel_row(t: Turn) -> list[Button]:
    return [(t._("✖️ Cancel"), "acc:cancel")]
