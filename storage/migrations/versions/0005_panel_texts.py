"""panel texts: the status, type and currency columns that panels fill become TEXT.

A panel can send a status, a service type or a currency of any length; VARCHAR(64)/(16) made PostgreSQL refuse
the whole write (an order's placement, or the batch UPDATE of a hundred tracked orders). The values are also
clipped where they come in (bot/panel/models.py); these columns no longer fail on a longer one.

SQLite checks no length: there VARCHAR(n) and TEXT are the same, and the tables are left alone (rebuilding
`orders`, which `refill` references, would need foreign keys off).

Revision ID: 0005
Revises: 0003 (the lead chains it after 0004 at merge)
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> [(column, old length)]
COLUMNS = {
    "orders": [("status", 64), ("last_notified_status", 64), ("service_type", 64), ("currency", 16)],
    "refill": [("status", 64), ("last_notified_status", 64)],
    "account": [("currency", 16)],
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, columns in COLUMNS.items():
        for column, length in columns:
            op.alter_column(table, column, type_=sa.Text(), existing_type=sa.String(length))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, columns in COLUMNS.items():
        for column, length in columns:
            # longer values are cut to fit the old column
            op.alter_column(
                table,
                column,
                type_=sa.String(length),
                existing_type=sa.Text(),
                postgresql_using=f"left({column}, {length})",
            )
