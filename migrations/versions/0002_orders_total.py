"""orders.total: add, backfill in batches, then NOT NULL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:05:00

The data-migration pattern for a new required column on a large table:
1. add it nullable (no table rewrite, no long lock),
2. backfill in keyset batches of BATCH ids (short transactions' worth of row locks),
3. then set the default and NOT NULL (on PostgreSQL this reads the table under an exclusive lock,
   fine for the reference app's orders; on a large table add CHECK (total IS NOT NULL) NOT VALID and
   VALIDATE it first, so SET NOT NULL skips the scan: dbops lint DB012).
In offline mode (`dbops upgrade --sql`) the backfill is one UPDATE.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 10_000
BACKFILL = (
    "UPDATE orders SET total = COALESCE("
    "(SELECT SUM(oi.quantity * oi.unit_price) FROM order_items oi WHERE oi.order_id = orders.id), 0)"
)


def upgrade() -> None:
    op.add_column("orders", sa.Column("total", sa.Numeric(precision=12, scale=2), nullable=True))

    if context.is_offline_mode():
        op.execute(BACKFILL)
    else:
        bind = op.get_bind()
        last = bind.execute(sa.text("SELECT MAX(id) FROM orders")).scalar() or 0
        lo = 0
        while lo < last:
            bind.execute(sa.text(BACKFILL + " WHERE id > :lo AND id <= :hi"), {"lo": lo, "hi": lo + BATCH})
            lo += BATCH

    # SQLite rebuilds the table for ALTER COLUMN; offline (--sql) it cannot reflect it, so
    # the table's shape at this revision is passed in (Alembic's copy_from).
    copy_from = _orders_at_this_revision() if context.is_offline_mode() else None
    with op.batch_alter_table("orders", copy_from=copy_from) as batch:
        batch.alter_column(  # dbops: noqa DB012  reviewed: small table, see the docstring
            "total", existing_type=sa.Numeric(precision=12, scale=2),
            nullable=False, server_default="0",
        )


def _orders_at_this_revision() -> sa.Table:
    meta = sa.MetaData()
    sa.Table("users", meta, sa.Column("id", sa.Integer(), primary_key=True))
    return sa.Table(
        "orders", meta,
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("total", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Index("ix_orders_user_id", "user_id"),
    )


def downgrade() -> None:
    copy_from = _orders_at_this_revision() if context.is_offline_mode() else None
    with op.batch_alter_table("orders", copy_from=copy_from) as batch:
        batch.drop_column("total")
