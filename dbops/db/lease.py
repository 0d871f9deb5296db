"""A lock that holds through connection poolers: a lease row in ``dbops_lock``.

Behind PgBouncer in transaction pooling mode a session lock (``pg_advisory_lock``) is taken on
whatever server connection the pooler lends for one transaction: it excludes nobody, and it stays
on that server connection after the client leaves (stranded). A lease needs nothing from the
session: each acquire is one transaction that takes a *transaction-scoped* advisory lock (released
at its COMMIT, so nothing can be stranded), drops expired rows, and inserts this holder's row if no
live row conflicts. A heartbeat thread renews the row; a holder killed with kill -9 stops renewing,
and its lease is taken over ``lease_seconds`` later. Times are the database's clock (``now()``), so
runners on hosts with skewed clocks agree.

Exclusive holders (upgrade/downgrade/stamp) exclude everyone; shared holders (data-migrate) exclude
only exclusive ones. PostgreSQL only: MariaDB and SQLite are not run behind transaction poolers.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from dbops.db.lock import named_lock, poll
from dbops.errors import LeaseHeld

log = logging.getLogger("dbops.lock")
TABLE_NAME = "dbops_lock"
metadata = sa.MetaData()
table = sa.Table(
    TABLE_NAME, metadata,
    sa.Column("name", sa.String(300), primary_key=True),
    sa.Column("holder", sa.String(32), primary_key=True),
    sa.Column("mode", sa.String(10), nullable=False),  # exclusive | shared
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("what", sa.String(200), nullable=True),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)
XACT_LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))")


@dataclass
class Lease:
    """A held lease; ``lost`` turns true if a renewal found the row gone (taken over after expiry)."""

    name: str
    holder: str
    lost: bool = False
    renewals: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)


def behind_pooler(conn: sa.Connection, url: URL) -> str | None:
    """Why a pooler or proxy seems to sit between us and PostgreSQL, or None. ``conn`` is autocommit:
    each statement is its own transaction, so a transaction pooler may lend another backend."""
    if conn.dialect.name != "postgresql":
        return None
    first = conn.execute(sa.text("SELECT pg_backend_pid(), inet_server_port()")).one()
    second = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    if conn.in_transaction():
        conn.commit()
    if first[0] != second:
        return "the server session changed between two transactions (transaction pooling)"
    host = url.host or ""
    wanted = url.port or 5432
    if first[1] is not None and host and not host.startswith("/") and int(first[1]) != int(wanted):
        return (f"the server listens on port {first[1]} but the URL connects to port {wanted}: a pooler or "
                "proxy (e.g. PgBouncer) is in between")
    return None


def choose_mode(conn: sa.Connection, url: URL, configured: str) -> tuple[str, str | None]:
    """``configured`` (auto | session | lease) -> (mode, why). auto takes a lease when a pooler or
    proxy is detected; leases are PostgreSQL-only (other databases keep their session locks)."""
    if conn.dialect.name != "postgresql":
        return "session", None
    if configured != "auto":
        return configured, f"lock_mode = {configured}"
    key = url.render_as_string(hide_password=False)  # in memory only: the same address, the same answer
    if key not in _POOLER_SEEN:  # a fan-out over many tenants of one database asks once per process
        _POOLER_SEEN[key] = behind_pooler(conn, url)
    reason = _POOLER_SEEN[key]
    return ("lease", reason) if reason else ("session", None)


_POOLER_SEEN: dict[str, str | None] = {}


def _engine(url: URL, connect_timeout: float) -> sa.Engine:
    from dbops.db.engine import create_engine_for
    from dbops.db.url import sync_url

    # pooled: no server-side prepared statements through a transaction pooler
    engine = create_engine_for(sync_url(url), connect_timeout=connect_timeout, application_name="dbops-lease",
                               pooled=True)
    assert isinstance(engine, sa.Engine)  # a sync URL
    return engine


def _expiry(ttl: float) -> Any:
    return sa.literal_column(f"now() + interval '{float(ttl)} seconds'", type_=sa.DateTime(timezone=True))


def _ensure_table(engine: sa.Engine, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(XACT_LOCK, {"name": name})  # runners racing to create it are serialised
        metadata.create_all(conn, checkfirst=True)


def _try(engine: sa.Engine, name: str, holder: str, *, shared: bool, ttl: float, what: str) -> list[Any]:
    """One transaction: take the row if nothing live conflicts. Returns the conflicting rows ([] = held)."""
    with engine.begin() as conn:
        conn.execute(XACT_LOCK, {"name": name})
        now = sa.func.now()
        conn.execute(sa.delete(table).where(table.c.name == name, table.c.expires_at < now))
        rows = conn.execute(sa.select(table).where(table.c.name == name)).all()
        conflicts = [r for r in rows if r.holder != holder and (not shared or r.mode == "exclusive")]
        if conflicts:
            return conflicts
        conn.execute(sa.delete(table).where(table.c.name == name, table.c.holder == holder))
        conn.execute(table.insert().values(
            name=name, holder=holder, mode="shared" if shared else "exclusive", host=socket.gethostname(),
            pid=os.getpid(), what=what[:200], acquired_at=now, expires_at=_expiry(ttl)))
        return []


def _describe(rows: list[Any]) -> str:
    r = rows[0]
    return (f"a {r.mode} lease held by pid {r.pid} on {r.host} ({r.what or 'dbops'}) since "
            f"{r.acquired_at:%Y-%m-%d %H:%M:%S %Z}, expiring {r.expires_at:%H:%M:%S %Z} unless renewed"
            + (f", and {len(rows) - 1} more" if len(rows) > 1 else ""))


def _renew(engine: sa.Engine, lease: Lease, ttl: float) -> None:
    while not lease._stop.wait(max(0.2, ttl / 3)):
        try:
            with engine.begin() as conn:
                done = conn.execute(sa.update(table).where(table.c.name == lease.name, table.c.holder == lease.holder)
                                    .values(expires_at=_expiry(ttl))).rowcount
            if not done:
                lease.lost = True
                log.warning("the lease %s expired and was taken over by another runner", lease.name)
                return
            lease.renewals += 1
        except Exception as exc:  # noqa: BLE001  a failed renewal is retried; expiry decides
            log.warning("could not renew the lease %s: %s", lease.name, type(exc).__name__)


@contextmanager
def lease_lock(url: URL, name: str, *, wait: float, ttl: float = 30.0, shared: bool = False,
               what: str = "this operation", hint: str | None = None,
               connect_timeout: float = 5.0) -> Iterator[Lease]:
    """Hold the lease ``name`` for the block (renewed every ttl/3); wait up to ``wait`` seconds for
    conflicting holders, saying what it waits for every few seconds, then raise LeaseHeld."""
    engine = _engine(url, connect_timeout)
    lease = Lease(name=name, holder=uuid.uuid4().hex)
    try:
        _ensure_table(engine, name)

        def attempt() -> list[Any] | None:
            return _try(engine, name, lease.holder, shared=shared, ttl=ttl, what=what) or None

        poll(attempt, wait=wait,
             waiting=lambda rows: f"waiting for the lock for {what} ({name}): {_describe(rows)}",
             give_up=lambda rows: LeaseHeld(
                 f"Another runner holds the lock for {what} ({name}): {_describe(rows)}. Only one may "
                 "run at a time; usually a previous run is still going, or another deploy started it.",
                 hint=hint or f"Wait for it; a killed holder's lease is taken over {ttl:g}s after its last "
                 f"renewal. To clear it by hand: DELETE FROM {TABLE_NAME} WHERE name = '{name}';"))
        beat = threading.Thread(target=_renew, args=(engine, lease, ttl), name="dbops-lease", daemon=True)
        beat.start()
        try:
            yield lease
        finally:
            lease._stop.set()
            beat.join(timeout=10)
            with engine.begin() as conn:
                conn.execute(sa.delete(table).where(table.c.name == name, table.c.holder == lease.holder))
    finally:
        engine.dispose()


@contextmanager
def migration_or_lease_lock(conn: sa.Connection, name: str, *, lock_mode: str = "auto", wait: float = 0.0,
                            ttl: float = 30.0, shared: bool = False, what: str = "this operation",
                            hint: str | None = None) -> Iterator[None]:
    """A session lock (``named_lock``) on a direct connection, a lease behind a pooler (``lock_mode``
    auto | session | lease, as in the configuration)."""
    mode, _ = choose_mode(conn, conn.engine.url, lock_mode)
    if mode == "lease":
        # a killed holder's lease outlives it by up to ttl: wait that long at least (a live holder renews,
        # so the wait still ends with its name)
        with lease_lock(conn.engine.url, name, wait=max(wait, ttl + 1), ttl=ttl, shared=shared, what=what,
                        hint=hint):
            yield
        return
    with named_lock(conn, name, wait=wait, shared=shared, what=what, hint=hint):
        yield


def pooled_url(url: URL, lock_mode: str, *, connect_timeout: float = 5.0) -> bool:
    """Whether connections to ``url`` go through a pooler (so: leases, SET LOCAL, no named prepared
    statements). One short connection when ``lock_mode`` is auto; PostgreSQL only."""
    if url.get_backend_name() != "postgresql" or lock_mode == "session":
        return False
    if lock_mode == "lease":
        return True
    engine = _engine(url, connect_timeout)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return behind_pooler(conn, url) is not None
    finally:
        engine.dispose()
