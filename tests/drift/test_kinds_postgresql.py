"""Each kind of drift on real PostgreSQL: the exact item, and a clean control.

The models are the kitchen-sink MetaData; the "live" database is that MetaData created with
create_all and then changed by one DDL statement. False positives are bugs, so the control
(no change) must report nothing.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from dbops.drift.compare import Difference, compare
from dbops.drift.from_models import models_spec
from dbops.drift.reflect import reflect_schema
from tests.drift import kitchen_sink

pytestmark = pytest.mark.postgres


def _diff(url: str, *ddl: str) -> list[Difference]:
    meta = kitchen_sink.build()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            kitchen_sink.create(conn, meta)
            for stmt in ddl:
                conn.execute(sa.text(stmt))
        with engine.connect() as conn:
            live = reflect_schema(conn, schemas=(None, "extra"))
            models = models_spec(meta, conn.dialect, sa.inspect(conn).default_schema_name)
    finally:
        engine.dispose()
    return compare(models, live)


def _one(diffs: list[Difference]) -> tuple[object, ...]:
    assert len(diffs) == 1, [d.detail for d in diffs]
    d = diffs[0]
    return (d.kind, d.change, d.schema, d.table, d.name, d.expected, d.actual)


def test_clean_control_reports_nothing(pg_psycopg_url: str) -> None:
    assert [d.detail for d in _diff(pg_psycopg_url)] == []


CASES = [
    ("extra table", ["CREATE TABLE stray (id int)"],
     ("table", "extra", None, "stray", "stray", None, "stray")),
    ("missing table", ["DROP TABLE notes"],
     ("table", "missing", None, "notes", "notes", "notes", None)),
    ("extra column", ["ALTER TABLE items ADD COLUMN color varchar(10)"],
     ("column", "extra", None, "items", "color", None, "VARCHAR(10) NULL")),
    ("missing column", ["ALTER TABLE items DROP COLUMN ratio"],
     ("column", "missing", None, "items", "ratio", "DOUBLE PRECISION NULL", None)),
    ("type", ["ALTER TABLE items ALTER COLUMN title TYPE varchar(300)"],
     ("type", "changed", None, "items", "title", "VARCHAR(200)", "VARCHAR(300)")),
    ("nullable", ["ALTER TABLE customers ALTER COLUMN email DROP NOT NULL"],
     ("nullable", "changed", None, "customers", "email", False, True)),
    ("server default", ["ALTER TABLE items ALTER COLUMN note SET DEFAULT 'none'"],
     ("default", "changed", None, "items", "note", "'n/a'", "'none'")),
    ("server default dropped", ["ALTER TABLE customers ALTER COLUMN created_at DROP DEFAULT"],
     ("default", "changed", None, "customers", "created_at", "CURRENT_TIMESTAMP", None)),
    ("numeric default", ["ALTER TABLE items ALTER COLUMN price SET DEFAULT 1.5"],
     ("default", "changed", None, "items", "price", "0", "1.5")),
    ("column comment", ["COMMENT ON COLUMN customers.name IS 'legal name'"],
     ("comment", "changed", None, "customers", "name", "display name", "legal name")),
    ("table comment", ["COMMENT ON TABLE customers IS NULL"],
     ("comment", "changed", None, "customers", "customers", "people who buy", None)),
    ("primary key", ["ALTER TABLE notes DROP CONSTRAINT notes_pkey", "ALTER TABLE notes ADD PRIMARY KEY (id, body)"],
     ("primary_key", "changed", None, "notes", "notes", ["id"], ["id", "body"])),
    ("named unique", ["ALTER TABLE customers DROP CONSTRAINT uq_customers_email"],
     ("unique", "missing", None, "customers", "uq_customers_email", "(email)", None)),
    ("unnamed unique", ["ALTER TABLE items DROP CONSTRAINT items_customer_id_sku_key"],
     ("unique", "missing", None, "items", "(customer_id, sku)", "(customer_id, sku)", None)),
    ("unnamed foreign key", ["ALTER TABLE notes DROP CONSTRAINT notes_item_id_fkey"],
     ("foreign_key", "missing", None, "notes", "(item_id) -> items(id)", "(item_id) -> items(id)", None)),
    ("foreign key action", ["ALTER TABLE items DROP CONSTRAINT items_customer_id_fkey",
                            "ALTER TABLE items ADD FOREIGN KEY (customer_id) REFERENCES customers(id)"],
     ("foreign_key", "changed", None, "items", "items_customer_id_fkey",
      "(customer_id) -> customers(id) ON DELETE CASCADE", "(customer_id) -> customers(id)")),
    ("expression index", ["DROP INDEX ix_items_lower_title"],
     ("index", "missing", None, "items", "ix_items_lower_title", "(lower(title))", None)),
    ("partial index predicate", ["DROP INDEX ix_items_open",
                                 "CREATE INDEX ix_items_open ON items (customer_id) WHERE status = 'new'"],
     ("index", "changed", None, "items", "ix_items_open", "(customer_id) WHERE status<>'shipped'",
      "(customer_id) WHERE status='new'")),
    ("index method", ["DROP INDEX ix_items_tags", "CREATE INDEX ix_items_tags ON items (tags)"],
     ("index", "changed", None, "items", "ix_items_tags", "(tags) USING gin", "(tags)")),
    ("unique index", ["DROP INDEX ix_items_title_sku", "CREATE INDEX ix_items_title_sku ON items (title, sku)"],
     ("index", "changed", None, "items", "ix_items_title_sku", "UNIQUE (title, sku)", "(title, sku)")),
    ("extra index", ["CREATE INDEX ix_manual ON customers (name)"],
     ("index", "extra", None, "customers", "ix_manual", None, "(name)")),
    ("check text", ["ALTER TABLE items DROP CONSTRAINT ck_items_qty_positive",
                    "ALTER TABLE items ADD CONSTRAINT ck_items_qty_positive CHECK (qty >= 0)"],
     ("check", "changed", None, "items", "ck_items_qty_positive", "qty>0", "qty>=0")),
    ("unnamed check", ["ALTER TABLE items DROP CONSTRAINT items_price_check"],
     ("check", "missing", None, "items", "price>=0", "price>=0", None)),
    ("enum values", ["ALTER TYPE order_status ADD VALUE 'archived'"],
     ("enum", "changed", None, None, "order_status", ["new", "paid", "shipped"],
      ["new", "paid", "shipped", "archived"])),
    ("missing sequence", ["DROP SEQUENCE invoice_numbers"],
     ("sequence", "missing", None, None, "invoice_numbers", "invoice_numbers", None)),
    ("other schema", ["ALTER TABLE extra.audit ADD COLUMN who text"],
     ("column", "extra", "extra", "audit", "who", None, "TEXT NULL")),
]


@pytest.mark.parametrize(("ddl", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_kind_of_drift(pg_psycopg_url: str, ddl: list[str], expected: tuple[object, ...]) -> None:
    assert _one(_diff(pg_psycopg_url, *ddl)) == expected


def test_clean_control_through_asyncpg(pg_asyncpg_url: str) -> None:
    """Reflection through the async bridge sees the same schema."""
    from dbops.db.engine import run_with_connection
    from dbops.db.url import parse_url

    meta = kitchen_sink.build()
    engine = sa.create_engine(pg_asyncpg_url.replace("+asyncpg", "+psycopg"))
    with engine.begin() as conn:
        kitchen_sink.create(conn, meta)
    engine.dispose()

    def both(conn: sa.Connection) -> list[Difference]:
        live = reflect_schema(conn, schemas=(None, "extra"))
        return compare(models_spec(meta, conn.dialect, sa.inspect(conn).default_schema_name), live)

    assert [d.detail for d in run_with_connection(parse_url(pg_asyncpg_url), both)] == []
