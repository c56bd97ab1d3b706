"""Mass orders: batches of ordinary drafts that share a confirm-token prefix."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import delete, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Order, Placement

# A mass order is a set of ordinary drafts whose confirm tokens share a prefix, the batch id; the rest of a
# token is the input line number. Each line is still claimed on its own (orders.claim_draft_for_sending).

BATCH_ID_LENGTH = 10  # + 6 digits of line number = 16, the width of confirm_token
LINE_DIGITS = 6
# A batch id starts with "~", which never occurs in a single order's token (url-safe base64), so no batch id
# (and no callback data made up by a client) can name a single-order draft.
BATCH_MARK = "~"
_BATCH_ID = re.compile(rf"{re.escape(BATCH_MARK)}[A-Za-z0-9_-]{{{BATCH_ID_LENGTH - 1}}}")


def new_batch_id() -> str:
    return BATCH_MARK + secrets.token_urlsafe(8)[: BATCH_ID_LENGTH - 1]  # 54 random bits


def is_batch_id(text: str) -> bool:
    return _BATCH_ID.fullmatch(text) is not None


def batch_token(batch_id: str, line: int) -> str:
    assert is_batch_id(batch_id), batch_id
    return f"{batch_id}{line:0{LINE_DIGITS}d}"


async def create_drafts(session: AsyncSession, drafts: list[dict[str, Any]]) -> list[Order]:
    """Several drafts in one flush; each dict holds Order columns, its confirm_token included."""
    orders = [Order(**{**draft, "placement": Placement.drafted}) for draft in drafts]
    session.add_all(orders)
    await session.flush()
    return orders


def _in_batch(batch_id: str, chat_id: int) -> list[Any]:
    """Exactly this batch's lines: a whole, well-formed batch id (never a prefix of something else)."""
    if not is_batch_id(batch_id):
        return [false()]
    # substr, not LIKE: exact and case-sensitive on SQLite and PostgreSQL alike, no wildcard escaping
    prefix = func.substr(Order.confirm_token, 1, BATCH_ID_LENGTH)
    return [
        Order.chat_id == chat_id,
        prefix == batch_id,
        func.length(Order.confirm_token) == BATCH_ID_LENGTH + LINE_DIGITS,
    ]


async def batch_orders(session: AsyncSession, batch_id: str, chat_id: int) -> list[Order]:
    """The orders of a mass order, fresh from the database, by line."""
    stmt = (
        select(Order)
        .where(*_in_batch(batch_id, chat_id))
        .order_by(Order.confirm_token)
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(stmt)).all())


async def discard_batch(session: AsyncSession, batch_id: str, chat_id: int) -> int:
    """Delete the lines of a mass order that are still drafts; how many."""
    result = await session.execute(
        delete(Order).where(*_in_batch(batch_id, chat_id), Order.placement == Placement.drafted),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount  # type: ignore[attr-defined]
