"""Which database a connection really reaches, asked of the server itself.

A project's own env.py may connect wherever *it* decides (the app's settings object), not to the
URL dbops was given. Before any revision runs, dbops compares the server's answer on env.py's
connection with its answer on the URL it was given, and refuses on a mismatch. Host names are not
compared (``localhost`` vs ``127.0.0.1``, a pooler in front): the server's own facts are.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True)
class Identity:
    dialect: str
    database: str | None  # current_database() / DATABASE() / the SQLite file
    server: str | None  # PostgreSQL: postmaster start time and port; MySQL: server uuid/host and port
    user: str | None

    def describe(self) -> str:
        where = f"database {self.database!r}" if self.database else "no database"
        return f"{where} ({self.dialect}{', ' + self.server if self.server else ''}, user {self.user or '?'})"

    def same_database(self, other: Identity) -> bool:
        return (self.dialect, self.database, self.server) == (other.dialect, other.database, other.server)


def identify(conn: sa.Connection) -> Identity:
    """Ask the server where ``conn`` is. Leaves no transaction open that was not open before (an
    autobegun one would make Alembic think the caller manages the migration's transaction)."""
    was_in_transaction = conn.in_transaction()
    try:
        return _ask(conn)
    finally:
        if not was_in_transaction and conn.in_transaction():
            conn.rollback()


def _ask(conn: sa.Connection) -> Identity:
    name = conn.dialect.name
    if name == "postgresql":
        row = conn.execute(sa.text(
            "SELECT current_database(), pg_postmaster_start_time()::text, inet_server_port(), current_user")).one()
        return Identity("postgresql", row[0], f"server started {row[1]}, port {row[2] or 'socket'}", row[3])
    if name in ("mysql", "mariadb"):
        row = conn.execute(sa.text("SELECT DATABASE(), @@hostname, @@port, CURRENT_USER()")).one()
        return Identity("mysql", row[0], f"server {row[1]}:{row[2]}", row[3])
    if name == "sqlite":
        files = [r[2] for r in conn.execute(sa.text("PRAGMA database_list")) if r[1] == "main"]
        path = files[0] if files else ""
        return Identity("sqlite", os.path.realpath(path) if path else ":memory:", None, None)
    return Identity(name, None, None, None)


def masked(url: Any) -> str:
    from dbops.redact import redact

    try:
        return redact(url.render_as_string(hide_password=True))
    except AttributeError:
        return redact(str(url))
