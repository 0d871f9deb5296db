"""The plan's predictions against what PostgreSQL really does.

Each case runs one operation on a real server, on tables that have rows, inside a transaction:
right after the statement the backend's own granted locks are read from ``pg_locks`` (locks are
held to the end of the transaction, so nothing is missed) and ``pg_class.relfilenode`` tells whether
the table was rewritten. The classifier's prediction, made with the same live catalog, must name the
same strongest lock mode on every table and the same rewrite flag.
"""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from dbops.lint.lock_modes import MODES, mode_name, stronger
from dbops.lint.locks import classify
from dbops.plan.live import LiveCatalog
from tests.helpers import sync_url

SETUP = """
CREATE TABLE u (id integer PRIMARY KEY);
INSERT INTO u SELECT g FROM generate_series(1, 500) g;
CREATE TABLE t (id serial PRIMARY KEY, a integer, b varchar(10), c text, n numeric(10, 2),
                e integer NOT NULL DEFAULT 0, u_id integer, f varchar);
INSERT INTO t (a, b, c, n, u_id, f) SELECT g, 'b' || mod(g, 100), 'c' || g, g / 7.0, 1 + mod(g, 500), 'f' || g
  FROM generate_series(1, 2000) g;
CREATE INDEX ix_t_a ON t (a);
CREATE UNIQUE INDEX ux_t_c ON t (c);
ALTER TABLE t ADD CONSTRAINT fk_t_u_nv FOREIGN KEY (u_id) REFERENCES u (id) NOT VALID;
CREATE TYPE mood AS ENUM ('calm', 'busy');
ALTER TABLE t ADD COLUMN m mood;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
ANALYZE t; ANALYZE u;
"""

# (id, statement): at least 20 operation kinds, the safe and the unsafe form of each
CASES = [
    ("add_column_nullable", "ALTER TABLE t ADD COLUMN x integer"),
    ("add_column_constant_default", "ALTER TABLE t ADD COLUMN x integer NOT NULL DEFAULT 7"),
    ("add_column_volatile_default", "ALTER TABLE t ADD COLUMN x double precision DEFAULT random()"),
    ("add_column_uuid_default", "ALTER TABLE t ADD COLUMN x uuid DEFAULT gen_random_uuid()"),
    ("add_column_stable_default", "ALTER TABLE t ADD COLUMN x timestamptz DEFAULT now()"),
    ("add_column_bigserial", "ALTER TABLE t ADD COLUMN x bigserial"),
    ("add_column_identity", "ALTER TABLE t ADD COLUMN x bigint GENERATED ALWAYS AS IDENTITY"),
    ("add_column_stored_generated", "ALTER TABLE t ADD COLUMN x integer GENERATED ALWAYS AS (a * 2) STORED"),
    ("set_not_null", "ALTER TABLE t ALTER COLUMN a SET NOT NULL"),
    ("drop_not_null", "ALTER TABLE t ALTER COLUMN e DROP NOT NULL"),
    ("set_default", "ALTER TABLE t ALTER COLUMN a SET DEFAULT 3"),
    ("type_varchar_widen", "ALTER TABLE t ALTER COLUMN b TYPE varchar(20)"),
    ("type_varchar_shrink", "ALTER TABLE t ALTER COLUMN b TYPE varchar(5)"),
    ("type_varchar_to_text", "ALTER TABLE t ALTER COLUMN b TYPE text"),
    ("type_varchar_unlimited_to_limited", "ALTER TABLE t ALTER COLUMN f TYPE varchar(255)"),  # real apps do this
    ("type_int_to_bigint", "ALTER TABLE t ALTER COLUMN a TYPE bigint"),
    ("type_numeric_precision_up", "ALTER TABLE t ALTER COLUMN n TYPE numeric(12, 2)"),
    ("type_numeric_scale_change", "ALTER TABLE t ALTER COLUMN n TYPE numeric(12, 3)"),
    ("type_using", "ALTER TABLE t ALTER COLUMN c TYPE varchar(40) USING substr(c, 1, 40)"),
    ("add_foreign_key", "ALTER TABLE t ADD CONSTRAINT fk_t_u FOREIGN KEY (u_id) REFERENCES u (id)"),
    ("add_foreign_key_not_valid",
     "ALTER TABLE t ADD CONSTRAINT fk_t_u FOREIGN KEY (u_id) REFERENCES u (id) NOT VALID"),
    ("validate_foreign_key", "ALTER TABLE t VALIDATE CONSTRAINT fk_t_u_nv"),
    ("add_check", "ALTER TABLE t ADD CONSTRAINT ck_a CHECK (a > 0)"),
    ("add_check_not_valid", "ALTER TABLE t ADD CONSTRAINT ck_a CHECK (a > 0) NOT VALID"),
    ("add_unique", "ALTER TABLE t ADD CONSTRAINT uq_a UNIQUE (a)"),
    ("add_unique_using_index", "ALTER TABLE t ADD CONSTRAINT uq_c UNIQUE USING INDEX ux_t_c"),
    ("create_index", "CREATE INDEX ix_t_b ON t (b)"),
    ("create_unique_index", "CREATE UNIQUE INDEX ux_t_id_a ON t (id, a)"),
    ("drop_index", "DROP INDEX ix_t_a"),
    ("rename_index", "ALTER INDEX ix_t_a RENAME TO ix_t_a2"),
    ("rename_column", "ALTER TABLE t RENAME COLUMN c TO c2"),
    ("rename_table", "ALTER TABLE t RENAME TO t2"),
    ("drop_column", "ALTER TABLE t DROP COLUMN c"),
    ("drop_constraint", "ALTER TABLE t DROP CONSTRAINT fk_t_u_nv"),
    ("create_trigger", "CREATE TRIGGER tr BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch()"),
    ("truncate", "TRUNCATE t CASCADE"),
    ("update_all", "UPDATE t SET a = a + 1"),
    ("delete_some", "DELETE FROM t WHERE id < 10"),
    ("create_table_with_fk", "CREATE TABLE v (id integer PRIMARY KEY, u_id integer REFERENCES u (id))"),
    ("drop_table", "DROP TABLE t"),
    ("vacuum_full", "VACUUM FULL t"),
    ("create_index_concurrently", "CREATE INDEX CONCURRENTLY ix_t_b ON t (b)"),
    ("drop_index_concurrently", "DROP INDEX CONCURRENTLY ix_t_a"),
    ("reindex_concurrently", "REINDEX INDEX CONCURRENTLY ix_t_a"),
    ("enum_add_value", "ALTER TYPE mood ADD VALUE 'idle'"),
]
# statements PostgreSQL refuses inside a transaction block: observed from another session while they run
OUTSIDE_TRANSACTION = ("VACUUM", "CREATE INDEX CONCURRENTLY", "DROP INDEX CONCURRENTLY", "REINDEX INDEX CONCURRENTLY")

# relations by oid, named as they were before the statement (a rename must still count as a lock on t)
RELATIONS = sa.text("SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'i')")
LOCKS = sa.text("SELECT l.relation, l.mode FROM pg_locks l WHERE l.pid = pg_backend_pid() AND l.granted "
                "AND l.locktype = 'relation'")
FILENODE = sa.text("SELECT relfilenode FROM pg_class WHERE oid = to_regclass('public.t')")


def _strongest(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, mode in pairs:
        if mode in MODES and (name not in out or stronger(mode, out[name])):
            out[name] = mode
    return out


@pytest.mark.postgres
@pytest.mark.parametrize("statement", [pytest.param(sql, id=name) for name, sql in CASES])
def test_prediction_matches_what_the_server_did(pg_psycopg_url: str, statement: str) -> None:
    engine = sa.create_engine(sync_url(pg_psycopg_url))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(SETUP)
        with engine.connect() as conn:
            [classified] = classify(statement, LiveCatalog(conn))
            conn.rollback()
            effects = [e for e in classified.effects if not e.new]
            predicted = _strongest([(e.relation, e.mode) for e in effects])
            predicted_rewrite = any(e.rewrite or e.empties for e in effects if e.relation == "t")
            assert all(e.certain for e in effects), effects
            before = conn.execute(FILENODE).scalar()
            names = dict(conn.execute(RELATIONS).all())
            if statement.upper().startswith(OUTSIDE_TRANSACTION):
                observed, rewritten = _outside_transaction(engine, statement, before, names)
            else:
                conn.exec_driver_sql(statement)
                observed = _strongest([(names[r[0]], r[1]) for r in conn.execute(LOCKS) if r[0] in names])
                after = conn.execute(FILENODE).scalar()
                rewritten = after is not None and after != before
                conn.rollback()
        # tables, and indexes the prediction names (an index renamed is locked on its own)
        observed = {k: v for k, v in observed.items() if k in ("t", "u", "v") or k in predicted}
        assert {k: mode_name(v) for k, v in predicted.items()} == {k: mode_name(v) for k, v in observed.items()}
        assert predicted_rewrite == rewritten
    finally:
        engine.dispose()


def _outside_transaction(engine: sa.Engine, statement: str, before: int,
                         names: dict[int, str]) -> tuple[dict[str, str], bool]:
    """Statements that cannot run in a transaction block: run from a second session while a third one
    holds ROW EXCLUSIVE on t in an open transaction. VACUUM FULL then waits for its lock; CREATE / DROP /
    REINDEX ... CONCURRENTLY take theirs and wait for that transaction to end. Either way the runner's
    relation locks (granted or requested) are in pg_locks while it waits, and are read from there."""
    import threading
    import time

    holder = engine.connect()
    # ROW EXCLUSIVE (a writer's lock): VACUUM FULL queues behind it, and the CONCURRENTLY forms wait for it
    # to end once they hold their own lock
    holder.exec_driver_sql("LOCK TABLE t IN ROW EXCLUSIVE MODE")
    runner = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    worker = threading.Thread(target=lambda: runner.exec_driver_sql(statement))
    worker.start()
    rows: list[Any] = []
    try:
        with engine.connect() as probe:
            for _ in range(200):
                pid = probe.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE query = :q AND state = 'active'"),
                                    {"q": statement}).scalar()
                waiting = pid is not None and probe.execute(sa.text(
                    "SELECT wait_event_type IS NOT NULL FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).scalar()
                if waiting:
                    time.sleep(0.2)  # let it take every lock it takes before the wait
                    rows = probe.execute(sa.text("SELECT relation, mode FROM pg_locks WHERE pid = :p "
                                                 "AND locktype = 'relation'"), {"p": pid}).all()
                    if rows:
                        break
                time.sleep(0.05)
                probe.rollback()
    finally:
        holder.rollback()
        holder.close()
        worker.join(30)
        runner.close()
    with engine.connect() as conn:
        after = conn.execute(FILENODE).scalar()
    return _strongest([(names[r[0]], r[1]) for r in rows if r[0] in names]), after != before
