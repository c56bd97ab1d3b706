"""Initial schema: chat, account, orders, refill, outbox, ptb_state.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def money() -> sa.types.TypeEngine:
    # storage.types.Money: exact NUMERIC on PostgreSQL, a decimal string on SQLite (no decimal type there)
    return sa.Numeric(30, 10).with_variant(sa.Text(), "sqlite")


def ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chat",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("low_balance_threshold", money(), nullable=True),
        sa.Column("balance_alert_sent", sa.Boolean(), nullable=False),
        sa.Column("members_may_order", sa.Boolean(), nullable=False),
        sa.Column("notifications_enabled", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", ts(), nullable=False),
        sa.Column("updated_at", ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat")),
    )

    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("panel_url", sa.Text(), nullable=False),
        sa.Column("key_encrypted", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("currency", sa.String(16), nullable=True),
        sa.Column("last_balance", money(), nullable=True),
        sa.Column("balance_checked_at", ts(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("removed_at", ts(), nullable=True),
        sa.Column("created_at", ts(), nullable=False),
        sa.ForeignKeyConstraint(["chat_id"], ["chat.id"], name=op.f("fk_account_chat_id_chat")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint(
            "chat_id", "panel_url", "key_fingerprint", name=op.f("uq_account_chat_id_panel_url_key_fingerprint")
        ),
    )
    op.create_index(op.f("ix_account_chat_id"), "account", ["chat_id"])

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("placed_by", sa.BigInteger(), nullable=False),
        sa.Column("confirm_token", sa.String(16), nullable=False),
        sa.Column("placement", sa.String(16), nullable=False),
        sa.Column("panel_order_id", sa.BigInteger(), nullable=True),
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("service_type", sa.String(64), nullable=False),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("price", money(), nullable=False),
        sa.Column("currency", sa.String(16), nullable=True),
        sa.Column("charge", money(), nullable=True),
        sa.Column("start_count", sa.BigInteger(), nullable=True),
        sa.Column("remains", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("last_notified_status", sa.String(64), nullable=True),
        sa.Column("status_changed_at", ts(), nullable=True),
        sa.Column("next_poll_at", ts(), nullable=True),
        sa.Column("refill_allowed", sa.Boolean(), nullable=False),
        sa.Column("cancel_allowed", sa.Boolean(), nullable=False),
        sa.Column("created_at", ts(), nullable=False),
        sa.Column("updated_at", ts(), nullable=False),
        sa.Column("placed_at", ts(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_orders_account_id_account")),
        sa.ForeignKeyConstraint(["chat_id"], ["chat.id"], name=op.f("fk_orders_chat_id_chat")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("confirm_token", name=op.f("uq_orders_confirm_token")),
    )
    op.create_index(op.f("ix_orders_account_id"), "orders", ["account_id"])
    op.create_index(op.f("ix_orders_chat_id_id"), "orders", ["chat_id", "id"])
    op.create_index(op.f("ix_orders_placement_next_poll_at"), "orders", ["placement", "next_poll_at"])

    op.create_table(
        "refill",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=False),
        sa.Column("placement", sa.String(16), nullable=False),
        sa.Column("panel_refill_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("last_notified_status", sa.String(64), nullable=True),
        sa.Column("next_poll_at", ts(), nullable=True),
        sa.Column("created_at", ts(), nullable=False),
        sa.Column("updated_at", ts(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_refill_order_id_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refill")),
    )
    op.create_index(op.f("ix_refill_chat_id"), "refill", ["chat_id"])
    op.create_index(op.f("ix_refill_next_poll_at"), "refill", ["next_poll_at"])
    op.create_index(op.f("ix_refill_order_id"), "refill", ["order_id"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("buttons", sa.JSON(), nullable=True),
        sa.Column("parse_mode", sa.String(16), nullable=True),
        sa.Column("dedupe_key", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", ts(), nullable=False),
        sa.Column("sent_at", ts(), nullable=True),
        sa.Column("failed_at", ts(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    op.create_index(op.f("ix_outbox_chat_id"), "outbox", ["chat_id"])
    op.create_index(op.f("ix_outbox_not_before"), "outbox", ["not_before"])
    op.create_index(op.f("ix_outbox_sent_at"), "outbox", ["sent_at"])

    op.create_table(
        "ptb_state",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", ts(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_ptb_state")),
    )


def downgrade() -> None:
    op.drop_table("ptb_state")
    op.drop_table("outbox")
    op.drop_table("refill")
    op.drop_table("orders")
    op.drop_table("account")
    op.drop_table("chat")
