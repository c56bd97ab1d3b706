"""Services starred in a chat, per linked account (a service id only means something on its panel)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Favorite
from storage.repo._util import dialect_insert
from storage.types import utcnow


async def add_favorite(session: AsyncSession, chat_id: int, account_id: int, service_id: int) -> bool:
    """Star a service; False when it was starred already (race-free: ON CONFLICT DO NOTHING)."""
    stmt = dialect_insert(session, Favorite).values(
        chat_id=chat_id, account_id=account_id, service_id=service_id, created_at=utcnow()
    )
    result = await session.execute(
        stmt.on_conflict_do_nothing(index_elements=["chat_id", "account_id", "service_id"])
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def remove_favorite(session: AsyncSession, chat_id: int, account_id: int, service_id: int) -> bool:
    result = await session.execute(
        delete(Favorite).where(
            Favorite.chat_id == chat_id,
            Favorite.account_id == account_id,
            Favorite.service_id == service_id,
        ),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def toggle_favorite(session: AsyncSession, chat_id: int, account_id: int, service_id: int) -> bool:
    """Star it if it was not, unstar it if it was; whether it is starred now."""
    if await remove_favorite(session, chat_id, account_id, service_id):
        return False
    await add_favorite(session, chat_id, account_id, service_id)
    return True


async def is_favorite(session: AsyncSession, chat_id: int, account_id: int, service_id: int) -> bool:
    found = await session.scalar(
        select(Favorite.id).where(
            Favorite.chat_id == chat_id,
            Favorite.account_id == account_id,
            Favorite.service_id == service_id,
        )
    )
    return found is not None


async def list_favorites(
    session: AsyncSession, chat_id: int, account_id: int | None = None, limit: int = 50
) -> list[Favorite]:
    """The chat's starred services of linked accounts (of one account, if given), oldest star first."""
    stmt = (
        select(Favorite)
        .join(Account, Account.id == Favorite.account_id)
        .where(Favorite.chat_id == chat_id, Account.removed_at.is_(None))
        .order_by(Favorite.id)
        .limit(limit)
    )
    if account_id is not None:
        stmt = stmt.where(Favorite.account_id == account_id)
    return list((await session.scalars(stmt)).all())


async def forget_account(session: AsyncSession, account_id: int) -> int:
    """Drop the stars of an account (unlinked); how many."""
    result = await session.execute(
        delete(Favorite).where(Favorite.account_id == account_id),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount  # type: ignore[attr-defined]
