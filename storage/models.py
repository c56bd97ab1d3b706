"""SQLModel tables. `table=True` models do not validate input: validate through non-table models first."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import Money, UTCDateTime, panel_text, utcnow

__all__ = [
    "FINAL_ORDER_STATUSES",
    "FINAL_REFILL_STATUSES",
    "Account",
    "Chat",
    "Conversation",
    "Favorite",
    "Order",
    "Outbox",
    "Placement",
    "Refill",
    "is_final_order_status",
    "is_final_refill_status",
]


class Placement(StrEnum):
    """Where an order (or refill) stands in the exactly-once placement protocol."""

    drafted = "drafted"  # summary shown, waiting for Confirm
    sending = "sending"  # claimed and committed; the panel request is (about to be) in flight
    placed = "placed"  # the panel answered with an id
    unclear = "unclear"  # sent, answer lost: the user must check the panel; never retried by itself
    rejected = "rejected"  # the panel answered with an error


# Panel status texts that end tracking, compared in lower case (panels differ in case and spelling).
FINAL_ORDER_STATUSES = frozenset({"completed", "partial", "canceled", "cancelled", "refunded", "failed"})
FINAL_REFILL_STATUSES = frozenset({"completed", "rejected", "canceled", "cancelled", "refunded", "failed"})


def is_final_order_status(status: str | None) -> bool:
    return status is not None and status.strip().lower() in FINAL_ORDER_STATUSES


def is_final_refill_status(status: str | None) -> bool:
    return status is not None and status.strip().lower() in FINAL_REFILL_STATUSES


# Named constraints, so that later migrations (batch mode on SQLite) can refer to them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _updated() -> Any:
    # onupdate also fires for Core UPDATE statements that do not set the column themselves.
    return Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, sa_column_kwargs={"onupdate": utcnow}
    )


class Chat(SQLModel, table=True):
    __tablename__ = "chat"

    id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(default="private", sa_type=String(16))  # private|group|supergroup|channel
    title: str | None = Field(default=None, sa_type=Text)
    language: str | None = Field(default=None, sa_type=String(16))  # None: the user's Telegram language
    low_balance_threshold: Decimal | None = Field(default=None, sa_type=Money)
    balance_alert_sent: bool = Field(default=False, sa_type=Boolean)
    members_may_order: bool = Field(default=False, sa_type=Boolean)
    notifications_enabled: bool = Field(default=True, sa_type=Boolean)
    active: bool = Field(default=True, sa_type=Boolean)
    # the account this chat ordered with last (offered first by /order); not a foreign key: a hint only
    last_account_id: int | None = Field(default=None)
    # a group's open low-balance prompt: an admin's reply to this message sets the threshold
    threshold_prompt_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = _created()
    updated_at: datetime = _updated()


class Account(SQLModel, table=True):
    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("chat_id", "panel_url", "key_fingerprint"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, foreign_key="chat.id", index=True)
    panel_url: str = Field(sa_type=Text)
    key_encrypted: str = Field(sa_type=Text)  # Fernet token; emptied when the account is removed
    key_fingerprint: str = Field(sa_type=Text)  # keyed hash of the key, to spot the same key linked twice
    label: str | None = Field(default=None, sa_type=Text)
    currency: str | None = Field(default=None, sa_type=panel_text(16))
    last_balance: Decimal | None = Field(default=None, sa_type=Money)
    balance_checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    is_default: bool = Field(default=False, sa_type=Boolean)
    # Accounts with orders are not deleted (the history keeps pointing at them): removal empties the key.
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _created()


class Favorite(SQLModel, table=True):
    """A service starred in a chat, for one of its accounts (service ids are per panel)."""

    __tablename__ = "favorite"
    __table_args__ = (UniqueConstraint("chat_id", "account_id", "service_id"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, foreign_key="chat.id")
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    service_id: int = Field(sa_type=BigInteger)
    created_at: datetime = _created()


class Order(SQLModel, table=True):
    __tablename__ = "orders"  # "order" is a reserved word
    __table_args__ = (
        Index(None, "chat_id", "id"),
        # serves due_orders (placement = 'placed' AND next_poll_at <= now), so no index on next_poll_at alone
        Index(None, "placement", "next_poll_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, foreign_key="chat.id")
    account_id: int = Field(foreign_key="account.id", index=True)
    placed_by: int = Field(sa_type=BigInteger)  # Telegram user id
    confirm_token: str = Field(sa_type=String(16), unique=True)
    placement: str = Field(default=Placement.drafted.value, sa_type=String(16))
    panel_order_id: int | None = Field(default=None, sa_type=BigInteger)
    service_id: int = Field(sa_type=BigInteger)
    service_name: str = Field(default="", sa_type=Text)
    service_type: str = Field(default="Default", sa_type=panel_text(64))
    link: str | None = Field(default=None, sa_type=Text)
    quantity: int | None = Field(default=None, sa_type=BigInteger)
    # extra `add` fields; JSON columns do not see in-place changes: assign a new dict to update
    fields: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    price: Decimal = Field(sa_type=Money)  # the charge we computed and showed
    currency: str | None = Field(default=None, sa_type=panel_text(16))
    charge: Decimal | None = Field(default=None, sa_type=Money)  # the panel's
    start_count: int | None = Field(default=None, sa_type=BigInteger)
    remains: int | None = Field(default=None, sa_type=BigInteger)
    status: str | None = Field(default=None, sa_type=panel_text(64))  # panel status text as written
    error: str | None = Field(default=None, sa_type=Text)
    last_notified_status: str | None = Field(default=None, sa_type=panel_text(64))
    status_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # last time the tracker saw the status or the remains change (backoff and "looks stuck" start from it)
    progress_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refill_allowed: bool = Field(default=False, sa_type=Boolean)
    cancel_allowed: bool = Field(default=False, sa_type=Boolean)
    created_at: datetime = _created()
    updated_at: datetime = _updated()
    placed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # set (in one conditional UPDATE) before a cancel is sent: a second "Yes, cancel" sends nothing
    cancel_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Refill(SQLModel, table=True):
    __tablename__ = "refill"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    chat_id: int = Field(sa_type=BigInteger, index=True)
    requested_by: int = Field(sa_type=BigInteger)
    placement: str = Field(default=Placement.sending.value, sa_type=String(16))
    panel_refill_id: int | None = Field(default=None, sa_type=BigInteger)
    status: str | None = Field(default=None, sa_type=panel_text(64))
    error: str | None = Field(default=None, sa_type=Text)
    last_notified_status: str | None = Field(default=None, sa_type=panel_text(64))
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    created_at: datetime = _created()
    updated_at: datetime = _updated()


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger, index=True)
    text: str = Field(sa_type=Text)
    # rows of buttons: [[{"text": ..., "callback_data": ...} | {"text": ..., "url": ...}]]
    buttons: list[list[dict[str, str]]] | None = Field(default=None, sa_type=JSON)
    parse_mode: str | None = Field(default="HTML", sa_type=String(16))
    dedupe_key: str | None = Field(default=None, sa_type=Text, unique=True)
    attempts: int = Field(default=0)
    not_before: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # given up (chat gone, bad text)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _created()


class Conversation(SQLModel, table=True):
    """One person's conversation in one chat (aiogram's FSM key: in a private chat user == chat): the active
    flow, its step, its answers so far (JSON only) and its deadline. Read at the start of each update and
    written at its end (bot/conversation.py), so any instance can take the next update."""

    __tablename__ = "conversation"

    chat_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    user_id: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    flow: str | None = Field(default=None, sa_type=String(32))  # None: no flow active (data may keep notes)
    step: str | None = Field(default=None, sa_type=String(32))
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    deadline: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = _updated()
