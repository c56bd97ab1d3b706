"""conversation: one row per (chat, person) with the active flow, its step, data and deadline; the chat's
last used account and open threshold prompt. Drops ptb_state (python-telegram-bot persistence is gone).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("flow", sa.String(32), nullable=True),
        sa.Column("step", sa.String(32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name=op.f("pk_conversation")),
    )
    with op.batch_alter_table("chat", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_account_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("threshold_prompt_id", sa.BigInteger(), nullable=True))
    op.drop_table("ptb_state")  # in-flight PTB conversations are not carried over: people start again


def downgrade() -> None:
    op.create_table(
        "ptb_state",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_ptb_state")),
    )
    with op.batch_alter_table("chat", schema=None) as batch_op:
        batch_op.drop_column("threshold_prompt_id")
        batch_op.drop_column("last_account_id")
    op.drop_table("conversation")
