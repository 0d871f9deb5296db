"""What ``dbops plan`` reads from the live PostgreSQL database: the catalog answers the classifier
needs, each relation's size and row estimate, the sessions that hold or wait for a lock the plan's
statements would conflict with, and this server's measured throughput.

Everything here reads; the calibration works on a TEMPORARY table inside a transaction that is
rolled back, so nothing is left behind and nothing the application sees is touched.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from dbops.lint.lock_modes import CONFLICTS, MODES


class LiveCatalog:
    """:class:`dbops.lint.locks.Catalog` answered from the database (cached per run)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self._types: dict[tuple[str | None, str, str], tuple[str, tuple[int, ...]] | None] = {}
        self._home: str | None = conn.execute(sa.text("SELECT current_schema()")).scalar()

    def _local(self, schema: str) -> str | None:
        """The session's own schema reads as unqualified, as the statements name it."""
        return None if schema == self._home else schema

    def column_type(self, schema: str | None, table: str, column: str) -> tuple[str, tuple[int, ...]] | None:
        key = (schema, table, column)
        if key not in self._types:
            row = self.conn.execute(sa.text(
                "SELECT t.typname, a.atttypmod FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                "WHERE a.attrelid = to_regclass(:rel) AND a.attname = :col AND NOT a.attisdropped"),
                {"rel": _qualified(schema, table), "col": column}).first()
            self._types[key] = None if row is None else (row[0], _typmods(row[0], row[1]))
        return self._types[key]

    def volatility(self, function: str) -> str | None:
        rows = {r[0] for r in self.conn.execute(sa.text("SELECT provolatile FROM pg_proc WHERE proname = :f"),
                                                 {"f": function.lower()})}
        if not rows:
            return None
        return "v" if "v" in rows else ("s" if "s" in rows else "i")

    def index_table(self, schema: str | None, index: str) -> tuple[str | None, str] | None:
        row = self.conn.execute(sa.text(
            "SELECT n.nspname, t.relname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE i.indexrelid = to_regclass(:rel)"),
            {"rel": _qualified(schema, index)}).first()
        return None if row is None else (self._local(row[0]), row[1])


    def referenced_table(self, schema: str | None, table: str, constraint: str) -> tuple[str | None, str] | None:
        row = self.conn.execute(sa.text(
            "SELECT n.nspname, r.relname FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid "
            "JOIN pg_namespace n ON n.oid = r.relnamespace "
            "WHERE c.conrelid = to_regclass(:rel) AND c.conname = :name AND c.contype = 'f'"),
            {"rel": _qualified(schema, table), "name": constraint}).first()
        return None if row is None else (self._local(row[0]), row[1])


    def referenced_tables(self, schema: str | None, table: str) -> list[tuple[str | None, str]]:
        return [(self._local(r[0]), r[1]) for r in self.conn.execute(sa.text(
            "SELECT DISTINCT n.nspname, r.relname FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid "
            "JOIN pg_namespace n ON n.oid = r.relnamespace "
            "WHERE c.conrelid = to_regclass(:rel) AND c.contype = 'f' AND c.confrelid <> c.conrelid"),
            {"rel": _qualified(schema, table)})]


def _qualified(schema: str | None, name: str) -> str:
    quote = '"{}"'.format
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


def _typmods(typname: str, typmod: int) -> tuple[int, ...]:
    """pg_attribute.atttypmod back to the numbers written in the type: varchar(20) -> (20,)."""
    if typmod < 0:
        return ()
    if typname in ("varchar", "bpchar"):
        return (typmod - 4,)
    if typname == "numeric":
        raw = typmod - 4
        return (raw >> 16 & 0xFFFF, raw & 0xFFFF)
    if typname in ("bit", "varbit", "timestamp", "timestamptz", "time", "timetz", "interval"):
        return (typmod,)
    return (typmod,)


@dataclass(frozen=True)
class RelationFacts:
    schema: str
    name: str
    exists: bool
    rows: int = 0  # pg_class.reltuples (an estimate; -1 before the first ANALYZE -> counted)
    bytes: int = 0  # pg_total_relation_size: table, indexes and TOAST


def relation_facts(conn: sa.Connection, schema: str | None, name: str) -> RelationFacts:
    row = conn.execute(sa.text(
        "SELECT n.nspname, c.reltuples::bigint, pg_total_relation_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(:rel)"),
        {"rel": _qualified(schema, name)}).first()
    if row is None:
        return RelationFacts(schema or "", name, exists=False)
    rows = int(row[1])
    if rows < 0:  # never analysed: count (a plan is run on demand; an exact number beats a guess)
        rows = int(conn.execute(sa.text(f"SELECT count(*) FROM {_qualified(row[0], name)}")).scalar() or 0)
    return RelationFacts(row[0], name, exists=True, rows=rows, bytes=int(row[2]))


@dataclass(frozen=True)
class Session:
    pid: int
    application: str
    user: str
    state: str
    transaction_seconds: float | None
    mode: str
    granted: bool
    query: str


def conflicting_sessions(conn: sa.Connection, schema: str, name: str, mode: str) -> list[Session]:
    """Other sessions holding, or waiting for, a lock on the relation that ``mode`` conflicts with."""
    conflicting = sorted(CONFLICTS[mode], key=MODES.index)
    out = []
    for pid, app, user, state, age, held, granted, query in conn.execute(sa.text(
        "SELECT a.pid, a.application_name, a.usename, a.state, "
        "EXTRACT(EPOCH FROM now() - a.xact_start), l.mode, l.granted, a.query "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'relation' AND l.relation = to_regclass(:rel) AND a.pid <> pg_backend_pid() "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.mode = ANY(CAST(:modes AS text[])) ORDER BY a.xact_start NULLS LAST, a.pid"),
            {"rel": _qualified(schema, name), "modes": conflicting}):
        out.append(Session(int(pid), app or "", user or "", state or "", None if age is None else float(age),
                           held, bool(granted), " ".join((query or "").split())[:200]))
    return out


@dataclass(frozen=True)
class Throughput:
    """Bytes per second this server managed on a measured sample (see :func:`calibrate`)."""

    scan: float
    rewrite: float
    index_build: float
    update: float  # an UPDATE of every row (new row versions, index maintenance)
    sample_bytes: int
    measured: bool = True


# used when calibration is turned off: deliberately slow figures (an estimate that errs long)
DEFAULT_THROUGHPUT = Throughput(scan=200e6, rewrite=40e6, index_build=60e6, update=10e6, sample_bytes=0,
                                measured=False)


def calibrate(conn: sa.Connection, rows: int = 200_000) -> Throughput:
    """Measure, on this server, how fast it scans, rewrites and indexes a table: a TEMPORARY table of
    ``rows`` rows (an int, a bigint, a 40-character text) is built, then timed under a full scan
    (count with a predicate), a CREATE INDEX, a rewrite (ALTER COLUMN ... TYPE bigint) and an UPDATE
    of every row. All of
    it in one transaction that is rolled back. Bytes per second of the table's size."""
    with conn.begin_nested() if conn.in_transaction() else conn.begin() as tx:
        conn.execute(sa.text("CREATE TEMPORARY TABLE dbops_plan_sample ON COMMIT DROP AS "
                             "SELECT g AS a, g::bigint * 7 AS b, md5(g::text) || 'abcdefgh' AS c "
                             "FROM generate_series(1, :n) g"), {"n": rows})
        size = int(conn.execute(sa.text("SELECT pg_total_relation_size('dbops_plan_sample')")).scalar() or 1)

        def timed(sql: str) -> float:
            started = time.perf_counter()
            conn.execute(sa.text(sql))
            return max(time.perf_counter() - started, 1e-4)

        scan = timed("SELECT count(*) FROM dbops_plan_sample WHERE c LIKE '%zz%'")
        build = timed("CREATE INDEX dbops_plan_sample_ix ON dbops_plan_sample (c)")
        rewrite = timed("ALTER TABLE dbops_plan_sample ALTER COLUMN a TYPE bigint")
        update = timed("UPDATE dbops_plan_sample SET b = b + 1")
        tx.rollback()
    return Throughput(scan=size / scan, rewrite=size / rewrite, index_build=size / build, update=size / update,
                      sample_bytes=size)
