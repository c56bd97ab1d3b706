"""favorite: services starred in a chat, per linked account.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "favorite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_favorite_account_id_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["chat_id"], ["chat.id"], name=op.f("fk_favorite_chat_id_chat")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_favorite")),
        sa.UniqueConstraint(
            "chat_id", "account_id", "service_id", name=op.f("uq_favorite_chat_id_account_id_service_id")
        ),
    )
    with op.batch_alter_table("favorite", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_favorite_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("favorite", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_favorite_account_id"))
    op.drop_table("favorite")
