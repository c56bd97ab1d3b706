"""orders.progress_at: the last time the status tracker saw an order's status or remains change.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: a plain ALTER TABLE .. ADD COLUMN on SQLite, as on PostgreSQL (nullable, no default)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("progress_at")
