"""A schema with every kind check-drift compares (PostgreSQL), for clean controls and drift."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg


def build() -> sa.MetaData:
    meta = sa.MetaData()
    status = sa.Enum("new", "paid", "shipped", name="order_status")
    sa.Table(
        "customers", meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.Text, nullable=True, comment="display name"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("email", name="uq_customers_email"),
        comment="people who buy",
    )
    sa.Table(
        "items", meta,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("sku", sa.String(40), nullable=False),
        sa.Column("qty", sa.Integer, nullable=False, server_default="1"),
        sa.Column("price", sa.Numeric(10, 2), nullable=False, server_default="0"),
        sa.Column("status", status, nullable=False, server_default="new"),
        sa.Column("tags", pg.ARRAY(sa.Text), nullable=True),
        sa.Column("attrs", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("ref", sa.Uuid, nullable=True),
        sa.Column("ratio", sa.Float, nullable=True),
        sa.Column("note", sa.String(50), server_default="n/a"),
        sa.UniqueConstraint("customer_id", "sku"),  # unnamed
        sa.CheckConstraint("qty > 0", name="ck_items_qty_positive"),
        sa.CheckConstraint("price >= 0"),  # unnamed
        sa.Index("ix_items_lower_title", sa.func.lower(sa.column("title"))),
        sa.Index("ix_items_open", "customer_id", postgresql_where=sa.text("status <> 'shipped'")),
        sa.Index("ix_items_tags", "tags", postgresql_using="gin"),
        sa.Index("ix_items_title_sku", "title", "sku", unique=True),
    )
    sa.Table(
        "notes", meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.BigInteger, nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),  # unnamed FK
    )
    sa.Table(
        "audit", meta,
        sa.Column("id", sa.Integer, sa.Sequence("audit_id_seq", schema="extra"), primary_key=True),
        sa.Column("what", sa.String(100), nullable=False),
        schema="extra",
    )
    sa.Sequence("invoice_numbers", metadata=meta, start=1000)
    return meta


def create(conn: sa.Connection, meta: sa.MetaData) -> None:
    conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS extra"))
    meta.create_all(conn)
