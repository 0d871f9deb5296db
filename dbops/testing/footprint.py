"""Measured lock footprint of each revision (PostgreSQL).

While a revision runs, after every statement the migration's own backend is asked which
relation locks it holds (``pg_locks WHERE pid = pg_backend_pid()``, on the same connection,
inside the same transaction: locks are held to the end of the transaction, so nothing is
missed between samples). A lock that appears or gets stronger is charged to the statement just
executed. Before and after the revision, a separate connection reads each table's relfilenode
(changed = the table was rewritten) and whether it has rows.

Not seen: locks taken and released inside ``autocommit_block()`` (``CREATE INDEX CONCURRENTLY``
and friends commit on their own); they are the weak (SHARE UPDATE EXCLUSIVE) forms.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dbops.lint.lock_modes import mode_name, stronger

_LOCKS = """
SELECT l.relation, n.nspname, c.relname, c.relkind, l.mode, COALESCE(t.relname, c.relname)
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
"""
_TABLES = """
SELECT c.oid, n.nspname, c.relname, c.relfilenode, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm', 'i', 'I', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
"""


@dataclass
class Lock:
    relation: str  # schema.name
    kind: str  # table, index, sequence, view, ...
    mode: str  # the strongest mode held (AccessExclusiveLock, ...)
    statement: str  # the statement that first took it in that mode
    existed: bool = True  # False: created by this revision (nobody else could be waiting on it)
    rows: bool = False  # the table had rows before the revision
    rewritten: bool = False  # its relfilenode changed (the whole table was rewritten)

    def to_dict(self) -> dict[str, Any]:
        return {"relation": self.relation, "kind": self.kind, "lock": mode_name(self.mode),
                "statement": self.statement, "existed_before": self.existed, "had_rows": self.rows,
                "rewritten": self.rewritten}


@dataclass
class Footprint:
    revision: str
    locks: list[Lock] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "locks": [lock.to_dict() for lock in self.locks]}


_KINDS = {"r": "table", "p": "table", "i": "index", "I": "index", "S": "sequence", "v": "view",
          "m": "materialized view", "t": "toast", "f": "foreign table", "c": "type"}


@contextmanager
def statement_locks(skip: Callable[[str], bool]) -> Iterator[dict[int, Lock]]:
    """While open, every statement run through SQLAlchemy on PostgreSQL is followed by a read of
    the locks its backend holds; yields {relation oid: Lock} (strongest mode, first statement to
    take it). ``skip("schema.table")`` leaves out bookkeeping tables (alembic_version, dbops_*) and
    their indexes."""
    taken: dict[int, Lock] = {}
    busy = False

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        nonlocal busy
        if busy or conn.dialect.name != "postgresql":
            return
        busy = True
        try:
            raw = conn.connection.dbapi_connection
            cur = raw.cursor()
            try:
                cur.execute(_LOCKS)
                rows = cur.fetchall()
            finally:
                cur.close()
        except Exception:  # noqa: BLE001 - a failed transaction: the statement's own error is reported
            return
        finally:
            busy = False
        for oid, schema, name, relkind, mode, owner in rows:
            relation = f"{schema}.{name}"
            if skip(f"{schema}.{owner}"):  # an index is skipped with its table
                continue
            held = taken.get(oid)
            if held is None or stronger(mode, held.mode):
                text = " ".join(statement.split())
                taken[oid] = Lock(relation, _KINDS.get(relkind, relkind), mode,
                                  text if len(text) <= 300 else text[:297] + "...")

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", after)
    try:
        yield taken
    finally:
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", after)


def tables(conn: sa.Connection) -> dict[int, tuple[str, int, bool]]:
    """{oid: (schema.name, relfilenode, has rows)} of every user table, index and sequence (rows:
    tables only)."""
    out: dict[int, tuple[str, int, bool]] = {}
    for oid, schema, name, filenode, relkind in conn.execute(sa.text(_TABLES)).all():
        if relkind not in ("r", "p", "m"):
            out[oid] = (f"{schema}.{name}", filenode, False)
            continue
        quoted = f'{conn.dialect.identifier_preparer.quote(schema)}.{conn.dialect.identifier_preparer.quote(name)}'
        try:
            has_rows = conn.execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM {quoted})")).scalar()
        except sa.exc.DBAPIError:  # no privilege: unknown counts as having rows (the stricter reading)
            conn.rollback()
            has_rows = True
        out[oid] = (f"{schema}.{name}", filenode, bool(has_rows))
    return out


def footprint(revision: str, taken: dict[int, Lock], before: dict[int, tuple[str, int, bool]],
              after: dict[int, tuple[str, int, bool]]) -> Footprint:
    locks = []
    for oid, lock in sorted(taken.items(), key=lambda item: item[1].relation):
        old = before.get(oid)
        lock.existed = old is not None
        lock.rows = bool(old and old[2])
        lock.rewritten = bool(old and oid in after and after[oid][1] != old[1])
        locks.append(lock)
    return Footprint(revision, locks)


def over_budget(print_: Footprint, budget: str | None, allow_rewrites: bool) -> list[str]:
    """What breaks the budget: a lock stronger than ``budget`` on a table that existed before the
    revision and had rows, or (unless allowed) a rewrite of such a table."""
    problems = []
    for lock in print_.locks:
        if not (lock.existed and lock.rows and lock.kind == "table"):
            continue
        if budget is not None and stronger(lock.mode, budget):
            problems.append(f"- {mode_name(lock.mode)} on {lock.relation} (it has rows), over the budget "
                            f"{mode_name(budget)}; taken by: {lock.statement}")
        if lock.rewritten and not allow_rewrites:
            problems.append(f"- {lock.relation} was rewritten (a new relfilenode: every row copied under "
                            f"{mode_name(lock.mode)}); by: {lock.statement}")
    return problems
