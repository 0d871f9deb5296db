"""The checkpoint table ``dbops_data_migrations``: one row per data migration, advanced in the
same transaction as each batch, so a crash at any point resumes exactly after the last batch."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

TABLE_NAME = "dbops_data_migrations"
metadata = sa.MetaData()
table = sa.Table(
    TABLE_NAME, metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),  # running | paused | failed | done
    sa.Column("last_key", sa.Text, nullable=True),  # JSON list of key values
    sa.Column("rows_done", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_scanned", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("batches", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)


@dataclass(frozen=True)
class Checkpoint:
    name: str
    status: str
    last_key: str | None
    rows_done: int
    rows_scanned: int
    batches: int
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime | None
    error: str | None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def ensure(conn: sa.Connection) -> None:
    metadata.create_all(conn, checkfirst=True)


def read(conn: sa.Connection, name: str) -> Checkpoint | None:
    if not sa.inspect(conn).has_table(TABLE_NAME):
        return None
    row = conn.execute(sa.select(table).where(table.c.name == name)).first()
    return Checkpoint(**row._mapping) if row is not None else None


def read_all(conn: sa.Connection) -> dict[str, Checkpoint]:
    if not sa.inspect(conn).has_table(TABLE_NAME):
        return {}
    return {r.name: Checkpoint(**r._mapping) for r in conn.execute(sa.select(table))}


def start(conn: sa.Connection, name: str, existing: Checkpoint | None) -> None:
    if existing is None:
        conn.execute(table.insert().values(name=name, status="running", started_at=_now(), updated_at=_now()))
    else:
        conn.execute(table.update().where(table.c.name == name).values(status="running", error=None,
                                                                        finished_at=None, updated_at=_now()))


def advance(conn: sa.Connection, name: str, last_key: str | None, rows: int, scanned: int) -> None:
    conn.execute(table.update().where(table.c.name == name).values(
        last_key=last_key, rows_done=table.c.rows_done + rows, rows_scanned=table.c.rows_scanned + scanned,
        batches=table.c.batches + 1, updated_at=_now()))


def finish(conn: sa.Connection, name: str, status: str, error: str | None = None) -> None:
    values: dict[str, Any] = {"status": status, "error": error, "updated_at": _now()}
    if status == "done":
        values["finished_at"] = _now()
    conn.execute(table.update().where(table.c.name == name).values(**values))


def reset(conn: sa.Connection, name: str) -> None:
    if sa.inspect(conn).has_table(TABLE_NAME):
        conn.execute(table.delete().where(table.c.name == name))
