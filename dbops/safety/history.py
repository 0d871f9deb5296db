"""The audit table ``dbops_history``: one row per revision applied, reverted or failed, written on
the guard's own connection so it survives a failed migration's rollback."""
from __future__ import annotations

import getpass
import os
import socket
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa


class _Timestamp(sa.TypeDecorator[datetime]):
    """A timezone-aware timestamp with microseconds on every dialect: a plain DATETIME on MySQL/MariaDB
    keeps whole seconds, and every revision of a fast run would show one start time. (The MySQL type
    is loaded only there: the dialect package costs ~12 ms of a deploy's start.)"""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(self.impl)


TABLE_NAME = "dbops_history"
metadata = sa.MetaData()
table = sa.Table(
    TABLE_NAME, metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("command", sa.String(20), nullable=False),
    sa.Column("target", sa.String(200), nullable=True),  # target name or tenant schema
    sa.Column("revision", sa.String(64), nullable=True),
    sa.Column("direction", sa.String(10), nullable=True),
    sa.Column("from_revisions", sa.String(500), nullable=True),
    sa.Column("to_revisions", sa.String(500), nullable=True),
    # microseconds on MySQL/MariaDB too (a plain DATETIME there keeps whole seconds: every revision of a
    # fast run would show one start time)
    sa.Column("started_at", _Timestamp(), nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=True),
    sa.Column("outcome", sa.String(20), nullable=False),  # success | failed
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("statement", sa.Text, nullable=True),
    sa.Column("checksum", sa.String(64), nullable=True),
    sa.Column("db_user", sa.String(200), nullable=True),
    sa.Column("os_user", sa.String(200), nullable=True),
    sa.Column("host", sa.String(200), nullable=True),
    sa.Column("dbops_version", sa.String(20), nullable=True),
)


def who() -> dict[str, Any]:
    from dbops import __version__

    try:
        os_user = getpass.getuser()
    except Exception:
        os_user = str(os.getuid())
    return {"os_user": os_user, "host": socket.gethostname(), "dbops_version": __version__}


def ensure(conn: sa.Connection) -> None:
    """Create the table if missing; several runners (fan-out) may race to create it."""
    schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(None)
    if conn.dialect.has_table(conn, TABLE_NAME, schema=schema):  # the usual case: one catalog lookup
        return
    try:
        metadata.create_all(conn, checkfirst=True)
    except sa.exc.DBAPIError:
        if conn.in_transaction():
            conn.rollback()
        if not sa.inspect(conn).has_table(TABLE_NAME):
            raise


def write(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        ensure(conn)
        conn.execute(table.insert(), rows)


class RowInserter:
    """Audit rows inserted on a migration's own connection, inside the transaction it has open.

    One row per revision, so on a long chain this runs hundreds of times in the revision's
    transaction: the INSERT is compiled by SQLAlchemy once (for this dialect and schema), and each
    row goes straight to the DBAPI cursor of that connection (same session, same transaction)
    with SQLAlchemy's own bind processors applied, instead of through ``Connection.execute``,
    whose per-call work was the larger part of the audit row's cost. A driver error comes back as
    SQLAlchemy's ``DBAPIError``, as from ``Connection.execute``."""

    _SCHEMA_TOKEN = "dbops_schema_token"
    # per dialect: (SQL, column keys, bind processors, positional order), compiled once per process
    _compiled: dict[Any, tuple[str, list[str], dict[str, Any], list[str] | None]] = {}

    def __init__(self, dialect: Any, schema: str | None) -> None:
        key = (type(dialect), dialect.paramstyle, schema is None)
        if key not in self._compiled:
            target = table if schema is None else table.to_metadata(sa.MetaData(), schema=self._SCHEMA_TOKEN)
            columns = [c for c in target.columns if c.key != "id"]
            compiled = target.insert().compile(dialect=dialect, column_keys=[c.key for c in columns])
            processors = {c.key: p for c in columns
                          if (p := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
            self._compiled[key] = (str(compiled), [c.key for c in columns], processors,
                                   list(compiled.positiontup or ()) if compiled.positional else None)
        sql, keys, processors, order = self._compiled[key]
        # one tenant's schema in place of the token (a fan-out writes in hundreds of schemas)
        self.sql = sql if schema is None else sql.replace(
            dialect.identifier_preparer.quote(self._SCHEMA_TOKEN) + ".",
            dialect.identifier_preparer.quote(schema) + ".")  # INTO and RETURNING
        self.order, self.processors, self.keys = order, processors, keys
        self.error = dialect.loaded_dbapi.Error

    def parameters(self, row: dict[str, Any]) -> Any:
        values = {key: row.get(key) for key in self.keys}
        for key, process in self.processors.items():
            values[key] = process(values[key])
        return tuple(values[key] for key in self.order) if self.order is not None else values

    def __call__(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        cursor = conn.connection.cursor()
        try:
            for row in rows:
                params = self.parameters(row)
                try:
                    cursor.execute(self.sql, params)
                except self.error as exc:
                    raise sa.exc.DBAPIError.instance(self.sql, params, exc, self.error) from exc
        finally:
            cursor.close()


def read(conn: sa.Connection, *, limit: int | None = 200) -> tuple[list[dict[str, Any]], int]:
    """The newest ``limit`` rows (all with None), and how many there are in all."""
    if not sa.inspect(conn).has_table(TABLE_NAME):
        return [], 0
    stmt = sa.select(table).order_by(table.c.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = [dict(r._mapping) for r in conn.execute(stmt)]
    total = len(rows) if limit is None or len(rows) < limit else \
        int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)
    return rows, total


def latest_checksums(conn: sa.Connection, *, schema: str | None = None) -> dict[str, str | None]:
    """revision -> checksum recorded by its latest successful upgrade (a tenant's rows are in its schema)."""
    if schema:
        conn = conn.execution_options(schema_translate_map={None: schema})
    if not sa.inspect(conn).has_table(TABLE_NAME, schema=schema):
        return {}
    stmt = (sa.select(table.c.revision, table.c.checksum)
            .where(table.c.outcome.in_(("success", "baseline")), table.c.direction == "upgrade")
            .order_by(table.c.id))
    return {rev: checksum for rev, checksum in conn.execute(stmt)}


def now() -> datetime:
    return datetime.now(timezone.utc)


def latest_run(conn: sa.Connection, *, schema: str | None = None) -> str | None:
    """"upgrade success at 2026-11-25 10:21:15" for the newest row (a tenant's rows are in its schema)."""
    if schema:
        conn = conn.execution_options(schema_translate_map={None: schema})
    if not sa.inspect(conn).has_table(TABLE_NAME, schema=schema):
        return None
    row = conn.execute(sa.select(table).order_by(table.c.id.desc()).limit(1)).first()
    return f"{row.command} {row.outcome} at {row.started_at:%Y-%m-%d %H:%M:%S}" if row is not None else None
