"""Repository modules, one per table or concern (imported below): `from storage.repo import chats`.

Every function takes an `AsyncSession` first (the per-update path of bot/conversation.py also an
`AsyncConnection`) and flushes but never commits, so that a caller can put several
changes (a status change and its outbox message) in one transaction. The one exception is
`orders.claim_draft_for_sending`, which must commit to guarantee exactly-once placement.
"""

from storage.repo import (
    accounts,
    batches,
    chats,
    conversations,
    favorites,
    orders,
    outbox,
    polls,
    refills,
    spend,
)

__all__ = [
    "accounts",
    "batches",
    "chats",
    "conversations",
    "favorites",
    "orders",
    "outbox",
    "polls",
    "refills",
    "spend",
]
