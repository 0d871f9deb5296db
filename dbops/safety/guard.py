"""The migration guard: a connection of its own that holds the per-target migration lock for
the whole command and writes dbops_history rows in autocommit, so they survive a failed
migration's rollback. Session locks die with the session: a killed holder leaves nothing."""
from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dbops.config import Config
from dbops.db.connect_errors import translate_connect_error
from dbops.db.engine import create_engine_for
from dbops.db.lease import choose_mode, lease_lock
from dbops.db.lock import migration_lock_name, named_lock, poll, session_lock_name
from dbops.db.url import parse_url, sync_url
from dbops.errors import LockHeld
from dbops.faults import is_read_only
from dbops.safety import history

log = logging.getLogger("dbops.lock")


# the version table and dbops_history, each looked up by name in one indexed catalog probe
_BOTH_EXIST = sa.text("SELECT to_regclass(:v) IS NOT NULL, to_regclass(:h) IS NOT NULL")


def lock_name(config: Config) -> str:
    return migration_lock_name(config.version_table, config.version_table_schema)


@dataclass
class Guard:
    conn: sa.Connection
    db_user: str | None
    target: str | None = None  # target name or tenant schema, stamped on every history row
    schema: str | None = None  # a tenant's schema: its dbops_history lives there
    lease: Any = None  # dbops.db.lease.Lease when the lock is a lease (behind a pooler)
    history_schema: str | None = None  # where dbops_history is (prepare_history reads it)
    history_exists: bool | None = None  # learnt by the first heads() on PostgreSQL
    _inserters: dict[Any, Any] = field(default_factory=dict)  # (dialect, schema) -> history.RowInserter

    @property
    def pooled(self) -> bool:
        return self.lease is not None

    @property
    def history_conn(self) -> sa.Connection:
        return self.conn.execution_options(schema_translate_map={None: self.schema}) if self.schema else self.conn

    def _settle(self) -> None:
        if self.conn.in_transaction():
            self.conn.commit()

    def heads(self, config: Config, *, table: tuple[str, str | None] | None = None,
              known_table: bool = False) -> tuple[str, ...]:
        """The version table's revisions, committed state. On PostgreSQL the first read also learns
        whether dbops_history exists, in the same catalog lookup. ``known_table``: the version table
        certainly exists (a run just wrote it)."""
        from dbops.bridge.project import database_heads

        exists: bool | None = True if known_table else None
        if exists is None and self.conn.dialect.name == "postgresql" and self.history_exists is None:
            name, schema = table or (config.version_table, config.version_table_schema)
            quote = self.conn.dialect.identifier_preparer.quote_identifier
            audit = quote(history.TABLE_NAME)
            version, audit_found = self.conn.execute(_BOTH_EXIST, {
                "v": f"{quote(schema)}.{quote(name)}" if schema else quote(name),
                "h": f"{quote(self.schema)}.{audit}" if self.schema else audit,
            }).one()
            exists, self.history_exists = bool(version), bool(audit_found)
        heads = database_heads(self.conn, config, table=table, exists=exists)
        self._settle()
        return heads

    def prepare_history(self) -> None:
        """Create dbops_history (in the tenant's schema for a tenant) before any revision runs, and
        pin its schema: an env.py that sets its own search_path (a tenant loop) must still reach it."""
        try:
            if not self.history_exists:
                history.ensure(self.history_conn)
        except sa.exc.DBAPIError as exc:
            if self.conn.in_transaction():
                self.conn.rollback()
            from dbops.errors import DbopsError

            first = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc).splitlines()[0]
            if is_read_only(exc):
                raise DbopsError(
                    f"dbops could not create its audit table {history.TABLE_NAME} ({first}), so nothing was "
                    "migrated: the database is read-only for this connection (a replica or standby, "
                    "default_transaction_read_only, or a SQLite file this user may not write).",
                    hint="Point dbops at the writable primary.",
                ) from exc
            raise DbopsError(
                f"dbops could not create its audit table {history.TABLE_NAME} ({first}), so nothing was migrated. "
                f"Usually the database user ({self.db_user or 'this user'}) may not create tables in that schema "
                "(PostgreSQL 15 and later no longer let every user create in public).",
                hint="Grant it (GRANT CREATE ON SCHEMA public TO <user>), or run dbops once as the schema's owner "
                "to create the table, then grant INSERT, SELECT on it.",
            ) from exc
        self.history_schema = self.schema
        if self.schema is None and self.conn.dialect.name == "postgresql":
            self.history_schema = self.conn.execute(sa.text("SELECT current_schema()")).scalar()
        self._settle()

    @functools.cached_property
    def who(self) -> dict[str, Any]:
        return {**history.who(), "db_user": self.db_user, "target": self.target}

    def write_in(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        """Insert rows on ``conn`` inside its open transaction (a revision's own), stamped with
        who and where; the caller's commit makes them durable together with the revision."""
        who = self.who
        stamped = [{**who, **row} for row in rows]
        if not conn.in_transaction():  # SQLAlchemy must see (autobegin) the transaction the row joins
            # per statement: Connection.execution_options() would change env.py's connection for good
            translate = {"schema_translate_map": {None: self.history_schema}} if self.history_schema else {}
            conn.execute(history.table.insert(), stamped, execution_options=translate)
            return
        key = (conn.dialect, self.history_schema)
        inserter = self._inserters.get(key)
        if inserter is None:
            inserter = self._inserters[key] = history.RowInserter(conn.dialect, self.history_schema)
        inserter(conn, stamped)

    def record(self, rows: list[dict[str, Any]], *, success: bool = True) -> None:
        """Write history rows. On a shared connection a transaction may still be open after the
        migration (dialects without transactional DDL leave the commit to the caller): commit it
        after a success, roll it back after a failure."""
        who = self.who
        if self.conn.in_transaction():
            if success:
                self.conn.commit()
            else:
                self.conn.rollback()
        history.write(self.history_conn, [{**who, **row} for row in rows])
        self._settle()


def _db_user(conn: sa.Connection) -> str | None:
    name = conn.dialect.name
    if name == "postgresql":
        return conn.execute(sa.text("SELECT current_user")).scalar()
    if name in ("mysql", "mariadb"):
        return conn.execute(sa.text("SELECT CURRENT_USER()")).scalar()
    return None


def _user(conn: sa.Connection, facts: dict[str, Any]) -> str | None:
    """The database user, asked once per kept connection."""
    if "user" not in facts:
        facts["user"] = _db_user(conn)
    return facts["user"]  # type: ignore[no-any-return]


def _wait_for_orphans(conn: sa.Connection, config: Config, lock_wait: float) -> None:
    """A run killed with kill -9 frees the migration lock with its guard session, while its migration
    session may still be executing a statement (a CREATE INDEX CONCURRENTLY, any MariaDB DDL). That
    session holds the session lock until it ends: wait for it here, before anything runs twice."""
    with named_lock(conn, session_lock_name(lock_name(config)), wait=lock_wait,
                    what="a migration statement of an earlier run that is still executing",
                    hint="An earlier dbops run was killed while a statement was running; its database session "
                    f"is still executing it. Waited {lock_wait:g}s. Let it finish (or cancel it with "
                    "pg_cancel_backend(pid)), check dbops current, then re-run."):
        pass


def migration_application_name(config: Config) -> str:
    """The application_name of a migration's own connection: how a later runner finds a statement
    that a killed run's backend is still executing (behind a pooler, where no session lock can)."""
    return f"dbops-migration:{config.tenant_schema or config.version_table_schema or ''}"[:63]


ACTIVE = sa.text(
    "SELECT pid, state, EXTRACT(EPOCH FROM now() - query_start)::int, left(query, 80) FROM pg_stat_activity "
    "WHERE datname = current_database() AND application_name = :app AND state <> 'idle' "
    "AND pid <> pg_backend_pid() ORDER BY query_start"
)


def _wait_for_active_migrations(conn: sa.Connection, config: Config, lock_wait: float) -> None:
    """Lease mode's answer to kill -9: a backend of a dead run may still be executing a migration
    statement; wait until no session named like ours is busy, then go."""
    app = migration_application_name(config)

    def busy() -> str | None:
        rows = conn.execute(ACTIVE, {"app": app}).all()
        if conn.in_transaction():
            conn.commit()
        if not rows:
            return None
        pid, state, age, query = rows[0]
        return f"pid {pid} ({state} for {age} s: {query!r})"

    poll(busy, wait=lock_wait,
         waiting=lambda what: f"waiting for a migration statement of an earlier run that is still executing: {what}",
         give_up=lambda what: LockHeld(
             f"A migration statement of an earlier run is still executing on this database: {what}. Usually "
             "an earlier dbops run was killed while a statement was running; its server session goes on.",
             hint="Let it finish (or cancel it with pg_cancel_backend(pid)), check dbops current, then re-run."))


# Fan-out workers migrate many targets in turn; schema tenants of one PostgreSQL database share a server
# session instead of each opening (and initialising) a connection of its own: one engine per database
# URL, one connection kept in its pool between targets, reset before each (see _reused_connection).
_REUSED: dict[tuple[str, float], tuple[sa.Engine, dict[str, Any]]] = {}


def _reused_connection(url: Any, original: Any, config: Config) -> tuple[sa.Connection, dict[str, Any]]:
    """A worker's kept connection to this database, reset to a fresh session's state: every setting
    back to its default (RESET ALL: search_path, timeouts, what env.py set), no advisory lock left,
    no temporary table, and this target's application_name. A connection that died meanwhile is
    replaced once."""
    key = (url.render_as_string(hide_password=False), config.connect_timeout)
    entry = _REUSED.get(key)
    if entry is None:
        engine = create_engine_for(url, connect_timeout=config.connect_timeout, pooled=True,
                                   poolclass=sa.pool.QueuePool, pool_size=1, max_overflow=0,
                                   application_name=migration_application_name(config))
        assert isinstance(engine, sa.Engine)
        entry = _REUSED[key] = (engine, {})
    engine, facts = entry
    for attempt in (1, 2):
        try:
            conn = engine.connect()
        except Exception as exc:
            raise translate_connect_error(exc, original, config.connect_timeout) from exc
        try:
            name = migration_application_name(config).replace("'", "''")  # RESET ALL keeps standard strings
            reset = "RESET ALL; SELECT pg_advisory_unlock_all(); DISCARD TEMP; " if facts.get("used") else ""
            conn.exec_driver_sql(f"{reset}SET application_name TO '{name}'")
            if not facts.get("used"):  # a new session: committed before the lock mode is chosen on it
                conn.commit()  # (later ones commit with the lock taken in the same transaction)
            facts["used"] = True  # a session a target used: the next one starts by resetting it
            return conn, facts
        except sa.exc.DBAPIError as exc:
            conn.close()
            if not exc.connection_invalidated or attempt == 2:
                raise
    raise AssertionError("unreachable")


@contextmanager
def migration_guard(config: Config, *, lock_wait: float = 60.0, shared: bool = False) -> Iterator[Guard]:
    """``shared``: a transactional connection the migration itself may run on (fan-out: one
    connection per in-flight target instead of two, kept for the worker's next target on the same
    PostgreSQL database); else an autocommit side connection."""
    original = parse_url(config.url)
    url = sync_url(original)
    engine: sa.Engine | None = None
    facts: dict[str, Any] = {}
    if shared and url.get_backend_name() == "postgresql":  # (the guard's URL is always a sync one)
        conn, facts = _reused_connection(url, original, config)
    else:
        options: dict[str, Any] = {} if shared else {"isolation_level": "AUTOCOMMIT"}
        # pooled=True on the guard always: it costs nothing, and a pooler may lend another server connection
        made = create_engine_for(url, connect_timeout=config.connect_timeout, pooled=True, **options,
                                 application_name=migration_application_name(config) if shared
                                 else "dbops-migrate-lock")
        assert isinstance(made, sa.Engine)  # sync_url(): the guard is always a sync engine
        engine = made
    try:
        if engine is not None:
            try:
                conn = engine.connect()
            except Exception as exc:
                raise translate_connect_error(exc, original, config.connect_timeout) from exc
        with conn:
            mode, why = choose_mode(conn, original, config.lock_mode)
            if mode == "lease":
                if config.lock_mode == "auto":
                    log.warning("%s; the migration lock is a lease in dbops_lock (renewed every %gs) instead of "
                                "a session lock, and timeouts are set per transaction (lock_mode = lease to say "
                                "so, lock_mode = session to override)", why, config.lease_seconds / 3)
                with lease_lock(original, lock_name(config), wait=lock_wait, ttl=config.lease_seconds,
                                what="migrations on this database", connect_timeout=config.connect_timeout) as lease:
                    _wait_for_active_migrations(conn, config, lock_wait)
                    guard = Guard(conn, _user(conn, facts), config.tenant_schema or config.target,
                                  config.tenant_schema, lease)
                    guard._settle()
                    yield guard
                return
            with named_lock(conn, lock_name(config), wait=lock_wait, what="migrations on this database",
                            hint=f"Another upgrade/downgrade/stamp is running; waited {lock_wait:g}s. Wait for it, "
                            "or raise --lock-wait; see the running session in pg_stat_activity."):
                if not shared:
                    _wait_for_orphans(conn, config, lock_wait)
                guard = Guard(conn, _user(conn, facts), config.tenant_schema or config.target, config.tenant_schema)
                guard._settle()
                yield guard
    finally:
        if engine is not None:
            engine.dispose()
