"""Named locks held by one database session: PostgreSQL advisory locks, MariaDB/MySQL
GET_LOCK, and for SQLite a file lock beside the database. Session locks die with the
session, so a killed holder never leaves a stale lock (no lock rows)."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, text

from dbops.errors import DbopsError, LockHeld

log = logging.getLogger("dbops.lock")
T = TypeVar("T")
WAIT_REPORT_EVERY = 5.0  # seconds between "still waiting" lines

PG_TRY = text("SELECT pg_try_advisory_lock(hashtextextended(:name, 0))")
PG_TRY_SHARED = text("SELECT pg_try_advisory_lock_shared(hashtextextended(:name, 0))")
PG_UNLOCK_SHARED = text("SELECT pg_advisory_unlock_shared(hashtextextended(:name, 0))")
PG_TRY_XACT = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:name, 0))")
PG_UNLOCK = text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))")
PG_HOLDER = text(
    "SELECT a.pid, a.application_name, a.usename, host(a.client_addr), a.backend_start, a.state "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "  # locks are per database
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(:name, 0) LIMIT 1"
)
MY_TRY = text("SELECT GET_LOCK(:name, 0)")
MY_UNLOCK = text("SELECT RELEASE_LOCK(:name)")
MY_HOLDER = text(
    "SELECT p.id, p.user, p.host, p.time FROM information_schema.processlist p WHERE p.id = IS_USED_LOCK(:name)"
)


def migration_lock_name(version_table: str, version_table_schema: str | None) -> str:
    """The per-target lock taken by upgrade/downgrade/stamp (exclusive) and data-migrate (shared)."""
    return f"dbops-migrate:{version_table_schema or ''}.{version_table}"


def session_lock_name(lock_name: str) -> str:
    """Held by the migration's own session for as long as it lives (see EnvSettings.session_lock)."""
    return f"{lock_name}:session"


def hold_session_lock(conn: Connection, name: str) -> None:
    """Take ``name`` on this session until it ends (PostgreSQL advisory lock, MariaDB GET_LOCK); the
    runner already waited for any earlier holder, so this does not wait. Session locks are not part
    of a transaction: inside one the caller opened, it is not committed here."""
    dialect = conn.dialect.name
    was_in_transaction = conn.in_transaction()
    if dialect == "postgresql":
        got = conn.execute(PG_TRY, {"name": name}).scalar()
    elif dialect in ("mysql", "mariadb"):
        got = conn.execute(MY_TRY, {"name": name}).scalar()
    else:
        return  # SQLite runs in this process: a killed run leaves no backend behind
    if not was_in_transaction and conn.in_transaction():
        conn.commit()
    if not got:
        raise _held(name, "a migration session", _holder(conn, name),
                    "A statement of an earlier run is still executing; wait for it, then re-run.")


def release_session_lock(conn: Connection, name: str) -> None:
    dialect = conn.dialect.name
    was_in_transaction = conn.in_transaction()
    if dialect == "postgresql":
        conn.execute(PG_UNLOCK, {"name": name})
    elif dialect in ("mysql", "mariadb"):
        conn.execute(MY_UNLOCK, {"name": name})
    if not was_in_transaction and conn.in_transaction():
        conn.commit()


def unlock_statement(dialect: str, name: str) -> str:
    """The unlock as literal SQL for a raw DBAPI cursor (paramstyles differ by driver); ``name`` is
    dbops's own lock name, quoted as an SQL string literal."""
    if dialect == "postgresql":  # standard_conforming_strings: a backslash is itself
        return f"SELECT pg_advisory_unlock(hashtextextended('{name.replace(chr(39), chr(39) * 2)}', 0))"
    quoted = name.replace("\\", "\\\\").replace("'", "''")  # MySQL: a backslash escapes
    return f"SELECT RELEASE_LOCK('{quoted}')"



def _describe_pg(row: Any) -> str:
    if row is None:
        return "another session (it released the lock or is not visible to this role)"
    pid, app, user, addr, since, state = row
    since_text = since.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if since else "?"
    return f"pid {pid} ({app or 'no application_name'}, user {user}, from {addr or 'local socket'}, " \
           f"connected since {since_text}, {state})"


def _sqlite_path(conn: Connection, name: str) -> Path:
    from dbops.db.url import sqlite_file

    database = sqlite_file(conn.engine.url)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    base = Path(database) if database else Path(os.getcwd()) / "dbops-memory"
    return base.with_name(f"{base.name}.{safe}.lock")


@contextmanager
def named_lock(conn: Connection, name: str, *, wait: float = 0.0, transaction_scoped: bool = False,
               what: str = "this operation", hint: str | None = None, shared: bool = False) -> Iterator[None]:
    """Hold the lock ``name`` for the block; wait up to ``wait`` seconds, then raise LockHeld
    naming the holder. ``transaction_scoped`` (PostgreSQL): released at the end of the
    current transaction (for code running inside someone else's transaction). ``shared``:
    many shared holders at once, none while an exclusive holder runs (PostgreSQL, SQLite;
    MariaDB's GET_LOCK has no shared mode and stays exclusive)."""
    dialect = conn.dialect.name
    deadline = time.monotonic() + wait
    if dialect == "sqlite":
        path = _sqlite_path(conn, name)
        try:
            fh = path.open("a+")
        except OSError as exc:
            raise DbopsError(
                f"dbops could not create its lock file {path} ({exc.strerror or exc}), so nothing was run. On "
                "SQLite the migration lock is a file beside the database, and this user may not write in "
                f"{path.parent}.",
                hint="Make that directory writable for this user (the database's journal needs it too).",
            ) from exc
        while True:
            try:
                fcntl.flock(fh, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "another process"
                    fh.close()
                    raise _held(name, what, holder, hint) from None
                time.sleep(0.1)
        if not shared:  # shared holders leave the exclusive holder's note alone
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": datetime.now(timezone.utc).isoformat()}))
            fh.flush()
        try:
            yield
        finally:
            if not shared:
                fh.truncate(0)
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
        return

    if dialect == "postgresql":
        try_stmt = PG_TRY_XACT if transaction_scoped else PG_TRY_SHARED if shared else PG_TRY
    else:
        try_stmt = MY_TRY
    poll(lambda: None if conn.execute(try_stmt, {"name": name}).scalar() else _holder(conn, name), wait=wait,
         waiting=lambda holder: f"waiting for the lock for {what} ({name}): held by {holder}",
         give_up=lambda holder: _held(name, what, holder, hint))
    try:
        yield
    finally:
        if not (dialect == "postgresql" and transaction_scoped):
            unlock = (PG_UNLOCK_SHARED if shared else PG_UNLOCK) if dialect == "postgresql" else MY_UNLOCK
            conn.execute(unlock, {"name": name})


def poll(attempt: Callable[[], T | None], *, wait: float, waiting: Callable[[T], str],
         give_up: Callable[[T], Exception], interval: float = 0.2) -> None:
    """Call ``attempt()`` until it returns None (got it), up to ``wait`` seconds; it returns what stands
    in the way otherwise. While waiting, say so on the dbops logger at once and every
    WAIT_REPORT_EVERY seconds (a silent wait looks hung); at the deadline raise ``give_up(blocker)``."""
    started = time.monotonic()
    next_report = started
    while True:
        blocker = attempt()
        if blocker is None:
            return
        now = time.monotonic()
        if now - started >= wait:
            raise give_up(blocker)
        if now >= next_report:
            log.warning("%s (%.0f s of up to %.0f s)", waiting(blocker), now - started, wait)
            next_report = now + WAIT_REPORT_EVERY
        time.sleep(interval)


def _holder(conn: Connection, name: str) -> str:
    if conn.dialect.name == "postgresql":
        return _describe_pg(conn.execute(PG_HOLDER, {"name": name}).first())
    row = conn.execute(MY_HOLDER, {"name": name}).first()
    return f"connection {row[0]} (user {row[1]}, from {row[2]}, {row[3]} s)" if row else "another session"


def _held(name: str, what: str, holder: str, hint: str | None) -> LockHeld:
    why = ("a data migration is running (it holds this lock shared: schema changes wait for it, other data "
           "migrations do not)" if "dbops-data-migrate" in holder else
           "usually a previous run is still going, or another deploy started it")
    return LockHeld(
        f"Another runner holds the lock for {what} ({name}): {holder}. Only one may run at a time; {why}.",
        hint=hint or "Wait for it to finish, or stop that process; a killed holder releases the lock with its "
        "session.",
    )
