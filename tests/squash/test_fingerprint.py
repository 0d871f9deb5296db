"""The squash proof is only worth something if the fingerprint sees every change: build a database with
the 45-revision chain (and the reference app on SQLite / MariaDB), change one attribute at a time inside
a transaction that is rolled back, and check the difference is reported under the right object."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result

from dbops.squash import fingerprint
from tests.helpers import REPO, sync_url
from tests.squash.chain import chain_app

SKIP = {"alembic_version", "dbops_history", "dbops_lock"}

PG_CHANGES = [
    ("ALTER TABLE customers ALTER COLUMN email DROP NOT NULL", "column public.customers.email: not_null"),
    ("ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'paid'", "column public.orders.status: default"),
    ("DROP INDEX ix_orders_customer; CREATE INDEX ix_orders_customer ON orders (customer_id, placed_at) "
     "INCLUDE (amount) WHERE status <> 'new'", "index public.ix_orders_customer: definition"),
    ("DROP TRIGGER trg_customers_touch ON customers", "trigger public.customers.trg_customers_touch: built by"),
    ("ALTER TABLE orders ENABLE TRIGGER trg_orders_audit", "trigger public.orders.trg_orders_audit: enabled"),
    ("ALTER SEQUENCE invoice_no_seq INCREMENT BY 1", "sequence public.invoice_no_seq: increment"),
    ("ALTER SEQUENCE tmp_items_id_seq MAXVALUE 99", "sequence public.tmp_items_id_seq: max"),
    ("COMMENT ON TABLE customers IS 'changed'", "relation public.customers: comment"),
    ("CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS "
     "$$ BEGIN RETURN NEW; END $$", "function public.touch_updated_at(): definition"),
    ("REVOKE SELECT ON customer_totals FROM PUBLIC", "relation public.customer_totals: acl"),
    ("ALTER TABLE orders ALTER CONSTRAINT orders_customer_id_fkey NOT DEFERRABLE",
     "constraint public.orders.orders_customer_id_fkey: definition"),
    ("ALTER TYPE order_status ADD VALUE 'lost'", "type public.order_status: enum_labels"),
    ("ALTER DOMAIN positive_int DROP CONSTRAINT positive_int_check",
     "constraint public.positive_int.positive_int_check: built by"),
    ("DROP POLICY p_customers_active ON customers", "policy public.customers.p_customers_active: built by"),
    ("ALTER TABLE customers DISABLE ROW LEVEL SECURITY", "relation public.customers: row_security"),
    ("ALTER TABLE sessions SET LOGGED", "relation public.sessions: persistence"),
    ("ALTER TABLE sessions SET (fillfactor = 50)", "relation public.sessions: options"),
    ("ALTER TABLE customers DROP COLUMN handle; ALTER TABLE customers ADD COLUMN handle citext",
     "column public.customers.handle: position"),
    ("CREATE OR REPLACE VIEW big_customers WITH (security_barrier) AS SELECT id, full_name FROM customer_totals "
     "WHERE total > 5000", "relation public.big_customers: view_definition"),
    ("ALTER TABLE orders DROP CONSTRAINT ex_unused_never_there_and_error", None),  # guard: a failing change errors
    ("ALTER TABLE bookings DROP CONSTRAINT ex_bookings_overlap", "constraint public.bookings.ex_bookings_overlap"),
    ("ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_recent",
     "constraint public.orders.ck_orders_recent: definition"),
    ("DROP EXTENSION citext CASCADE", "extension citext: built by"),
    ("ALTER TABLE invoices ALTER COLUMN number TYPE integer", "column public.invoices.number: type"),
    ("ALTER TABLE orders SET WITHOUT CLUSTER", "index public.orders_pkey: clustered"),
    ("COMMENT ON COLUMN customer_totals.total IS NULL", "column public.customer_totals.total: comment"),
    ("ALTER TABLE measurements DETACH PARTITION measurements_2026", "relation public.measurements_2026"),
]


@pytest.mark.postgres
def test_the_fingerprint_sees_each_change_on_postgresql(tmp_path: Path, invoke: Callable[..., Result],
                                                       pg_psycopg_url: str) -> None:
    app = chain_app(tmp_path)
    assert invoke("upgrade", "--database-url", pg_psycopg_url, cwd=app).exit_code == 0
    engine = sa.create_engine(sync_url(pg_psycopg_url))
    try:
        with engine.connect() as conn:
            base = fingerprint.read(conn, "public", SKIP)
            assert fingerprint.differences(base, fingerprint.read(conn, "public", SKIP)) == []
            for change, expected in PG_CHANGES:
                if expected is None:
                    with pytest.raises(sa.exc.ProgrammingError):
                        conn.exec_driver_sql(change)
                    conn.rollback()
                    continue
                conn.exec_driver_sql(change)
                found = fingerprint.differences(base, fingerprint.postgresql(conn, "public", SKIP))  # rolls back
                assert any(d.startswith(expected) for d in found), (change, found)
    finally:
        engine.dispose()


def _reference_db(url: str, invoke: Callable[..., Result]) -> None:
    assert invoke("upgrade", "--database-url", url, cwd=REPO).exit_code == 0


def test_the_fingerprint_sees_changes_on_sqlite(sqlite_url: str, invoke: Callable[..., Result]) -> None:
    _reference_db(sqlite_url, invoke)
    engine = sa.create_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            base = fingerprint.read(conn, None, SKIP)
            for change, expected in [("CREATE INDEX ix_extra ON users (full_name)", "index ix_extra: only in"),
                                     ("DROP INDEX ix_orders_user_id", "index ix_orders_user_id: built by"),
                                     ("ALTER TABLE users ADD COLUMN nick TEXT", "column users.nick: only in")]:
                conn.exec_driver_sql(change)
                found = fingerprint.differences(base, fingerprint.read(conn, None, SKIP))
                conn.rollback()
                assert any(d.startswith(expected) for d in found), (change, found)
    finally:
        engine.dispose()


@pytest.mark.mariadb
def test_the_fingerprint_sees_changes_on_mariadb(mariadb_url: str, invoke: Callable[..., Result]) -> None:
    _reference_db(mariadb_url, invoke)
    engine = sa.create_engine(mariadb_url)
    try:
        for change, undo, expected in [
                ("ALTER TABLE orders ALTER total SET DEFAULT 1", "ALTER TABLE orders ALTER total SET DEFAULT 0",
                 "column orders.total: default"),
                ("ALTER TABLE orders DROP FOREIGN KEY orders_ibfk_1",
                 "ALTER TABLE orders ADD CONSTRAINT orders_ibfk_1 FOREIGN KEY (user_id) REFERENCES users (id) "
                 "ON DELETE CASCADE", "foreign_key orders.orders_ibfk_1: built by"),
                ("ALTER TABLE products COMMENT 'x'", "ALTER TABLE products COMMENT ''", "table products: comment")]:
            with engine.connect() as conn:  # MariaDB DDL commits: each change is undone by hand
                base = fingerprint.read(conn, None, SKIP)
                conn.exec_driver_sql(change)
                found = fingerprint.differences(base, fingerprint.read(conn, None, SKIP))
                conn.exec_driver_sql(undo)
                assert fingerprint.differences(base, fingerprint.read(conn, None, SKIP)) == []
            assert any(d.startswith(expected) for d in found), (change, found)
    finally:
        engine.dispose()


def test_sqlite_table_constraints_compare_in_any_order(tmp_path: Path) -> None:
    """Alembic's batch mode rebuilds a SQLite table writing its constraints in an order that changes from
    run to run (seen on mealie's chain): two replays must not differ, a lost CHECK must."""
    ddl = ('CREATE TABLE a (id INTEGER PRIMARY KEY)', 'CREATE TABLE b (id INTEGER PRIMARY KEY)')
    variants = {
        "one": "CREATE TABLE t (x INTEGER, y INTEGER, CONSTRAINT ck_x CHECK (x IN (1, 2)), "
               "FOREIGN KEY(x) REFERENCES a (id), FOREIGN KEY(y) REFERENCES b (id))",
        "two": "CREATE TABLE t (x INTEGER, y INTEGER, FOREIGN KEY(y) REFERENCES b (id), "
               "FOREIGN KEY(x) REFERENCES a (id), CONSTRAINT ck_x CHECK (x IN (1, 2)))",
        "no_check": "CREATE TABLE t (x INTEGER, y INTEGER, FOREIGN KEY(y) REFERENCES b (id), "
                    "FOREIGN KEY(x) REFERENCES a (id))",
    }
    prints = {}
    for name, table in variants.items():
        engine = sa.create_engine(f"sqlite:///{tmp_path / name}.db")
        with engine.begin() as conn:
            for statement in (*ddl, table):
                conn.exec_driver_sql(statement)
        with engine.connect() as conn:
            prints[name] = fingerprint.read(conn, None, set())
        engine.dispose()
    assert fingerprint.differences(prints["one"], prints["two"]) == []
    (lost,) = fingerprint.differences(prints["one"], prints["no_check"])
    assert lost.startswith("table t: constraints") and "ck_x" in lost
