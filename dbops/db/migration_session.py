"""What dbops does to the connection a migration runs on, whichever env.py opened it (dbops's own, or
the project's): timeouts, a record of the statements it ran (for failure messages), and the session
lock that makes the next runner wait while a statement of this one still executes on the server.

Nothing here commits a transaction the env opened: a statement dbops runs on a connection that was
not in a transaction is committed (or rolled back) by dbops; inside the env's transaction it is left
to the env.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dbops.bridge.env_settings import EnvSettings


def session_statements(dialect: Any, settings: EnvSettings) -> list[str]:
    """The settings dbops puts on a migration's session: timeouts, and a target's search_path."""
    out = timeout_statements(dialect.name, settings)
    if dialect.name == "postgresql" and settings.search_path:
        quote = dialect.identifier_preparer.quote_identifier
        out.append("SET search_path TO " + ", ".join(quote(schema) for schema in settings.search_path))
    return out


def timeout_statements(dialect: str, settings: EnvSettings) -> list[str]:
    if dialect == "postgresql":
        out = []
        if settings.lock_timeout:
            out.append(f"SET lock_timeout = '{int(settings.lock_timeout * 1000)}ms'")
        if settings.statement_timeout:
            out.append(f"SET statement_timeout = '{int(settings.statement_timeout * 1000)}ms'")
        return out
    if dialect in ("mysql", "mariadb") and settings.lock_timeout:
        seconds = max(1, round(settings.lock_timeout))
        return [f"SET SESSION lock_wait_timeout = {seconds}", f"SET SESSION innodb_lock_wait_timeout = {seconds}"]
    return []


def per_transaction(connection: Any, statements: list[str]) -> None:
    """Behind a transaction pooler: ``SET LOCAL`` before the first statement of every transaction, on
    the same cursor, so the settings hold for that transaction and end with it."""
    from sqlalchemy import event

    seen: dict[str, Any] = {"tx": None}

    def first_in_transaction(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                             executemany: bool) -> None:
        tx = conn.get_transaction()
        if tx is None or tx is seen["tx"]:
            return  # autocommit (no transaction to scope them to), or already set in this one
        seen["tx"] = tx
        for local in statements:
            cursor.execute(local.replace("SET ", "SET LOCAL ", 1))

    event.listen(connection, "before_cursor_execute", first_in_transaction)


def apply_session_settings(connection: Any, settings: EnvSettings, *, extra: list[str] | None = None) -> None:
    """dbops's timeouts for the whole run, so one blocked ALTER fails fast instead of queueing every
    other query on the table behind it, and a target's search_path; per transaction behind a pooler.
    ``extra``: more settings that go the same way only behind a pooler (a tenant's search_path)."""
    from sqlalchemy import text

    dialect = connection.dialect.name
    statements = session_statements(connection.dialect, settings)
    if dialect == "postgresql" and settings.pooled:
        statements += extra or []
        if statements:
            per_transaction(connection, statements)
        return
    if not statements:
        return
    was_in_transaction = connection.in_transaction()
    if dialect == "postgresql" and connection.dialect.driver in ("psycopg", "psycopg2") and len(statements) > 1:
        connection.exec_driver_sql("; ".join(statements))  # one round trip (no parameters: simple query)
    else:
        for statement in statements:
            connection.execute(text(statement))
    if not was_in_transaction and connection.in_transaction():
        connection.commit()  # session settings stay; Alembic starts its own transactions


def capture_statements(connection: Any, settings: EnvSettings) -> None:
    """Remember the statement running (a failure names it) and the ones a revision completed."""
    from sqlalchemy import event

    def remember(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        settings.last_statement = statement

    def completed(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        settings.step_statements.append(statement)

    event.listen(connection, "before_cursor_execute", remember)
    event.listen(connection, "after_cursor_execute", completed)


def hold_until_returned(connection: Any, name: str) -> Callable[[], None]:
    """Take the session lock ``name`` on a connection env.py opened, and give it back when that
    connection goes back to its pool (a pooled connection lives on, and so would the lock) or when
    the returned function is called, whichever comes first."""
    from sqlalchemy import event

    from dbops.db.lock import hold_session_lock, release_session_lock, unlock_statement

    dialect = connection.dialect.name
    if dialect not in ("postgresql", "mysql", "mariadb"):
        return lambda: None
    hold_session_lock(connection, name)
    raw = connection.connection.dbapi_connection
    engine = connection.engine
    state = {"held": True}

    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not raw or not state["held"]:
            return
        state["held"] = False
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute(unlock_statement(dialect, name))
            cursor.close()
            dbapi_connection.rollback()
        except Exception:  # noqa: BLE001  a broken connection: its session's end releases the lock
            pass

    event.listen(engine, "checkin", on_checkin)

    def release() -> None:
        if event.contains(engine, "checkin", on_checkin):
            event.remove(engine, "checkin", on_checkin)
        if not state["held"]:
            return
        state["held"] = False
        if connection.closed or connection.invalidated:
            return  # its session ended (or was handed back: see on_checkin)
        try:
            release_session_lock(connection, name)
        except Exception:  # noqa: BLE001  a broken session: its end releases the lock anyway
            pass

    return release
