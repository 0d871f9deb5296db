"""The one engine factory for the CLI and the one sync/async bridge.

Everything that needs a live connection calls :func:`run_with_connection` with a function
taking a *sync* :class:`~sqlalchemy.engine.Connection`. Async URLs go through
``await conn.run_sync(fn)``; ``asyncio.run`` is only used when no loop is running in this
thread, otherwise the coroutine runs on a private loop in a worker thread (so dbops works
from a FastAPI lifespan or a pytest-asyncio test; Alembic's async template does not,
alembic issue 1353).
"""
from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL, Connection, Engine

from dbops.db.catalog_lookup import install
from dbops.db.connect_errors import translate_connect_error
from dbops.db.url import is_async

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
DEFAULT_APPLICATION_NAME = "dbops"


def connect_args(url: URL, *, connect_timeout: float, application_name: str, pooled: bool = False) -> dict[str, Any]:
    """Driver-specific arguments: a bounded connect timeout and the application name. ``pooled``
    (behind a transaction pooler such as PgBouncer < 1.21): no named server-side prepared statements,
    which live on a server connection the next transaction may not get."""
    driver = url.get_driver_name()
    backend = url.get_backend_name()
    if backend == "postgresql" and driver == "asyncpg":
        args: dict[str, Any] = {"timeout": connect_timeout, "server_settings": {"application_name": application_name}}
        if pooled:
            import uuid

            args["statement_cache_size"] = 0
            args["prepared_statement_name_func"] = lambda: f"__dbops_{uuid.uuid4().hex}__"
        return args
    if backend == "postgresql":
        args = {"connect_timeout": max(1, round(connect_timeout)), "application_name": application_name}
        if pooled:
            args["prepare_threshold"] = None
        return args
    if backend in ("mysql", "mariadb") and driver == "pymysql":
        return {"connect_timeout": max(1, round(connect_timeout))}
    return {}


def create_engine_for(
    url: URL,
    *,
    connect_timeout: float = 5.0,
    application_name: str = DEFAULT_APPLICATION_NAME,
    poolclass: type[pool.Pool] | None = pool.NullPool,
    pooled: bool = False,
    **kwargs: Any,
) -> Engine | AsyncEngine:
    """A sync or async engine for ``url`` (NullPool by default: the CLI holds no idle connections)."""
    args = connect_args(url, connect_timeout=connect_timeout, application_name=application_name, pooled=pooled)
    args.update(kwargs.pop("connect_args", {}))
    if poolclass is not None:
        kwargs["poolclass"] = poolclass
    if is_async(url):
        from sqlalchemy.ext.asyncio import create_async_engine  # only async URLs pay for it

        async_engine = create_async_engine(url, connect_args=args, **kwargs)
        if url.get_backend_name() == "sqlite":
            transactional_sqlite(async_engine.sync_engine)
        install(async_engine.sync_engine.dialect)
        return async_engine
    engine = create_engine(url, connect_args=args, **kwargs)
    if url.get_backend_name() == "sqlite":
        transactional_sqlite(engine)
    install(engine.dialect)
    return engine


def transactional_sqlite(engine: Engine) -> None:
    """SQLite has transactional DDL, but the sqlite3 module (Python < 3.12) opens a transaction only
    before INSERT/UPDATE/DELETE and runs DDL in autocommit: a revision that failed after a CREATE TABLE
    left the table behind while its version was never recorded. SQLAlchemy's documented recipe: the
    driver does no transaction handling of its own, and every SQLAlchemy begin() emits BEGIN, so a
    revision's DDL and DML commit or roll back together, as on PostgreSQL."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT" or \
                engine.dialect._on_connect_isolation_level == "AUTOCOMMIT":  # noqa: SLF001 - as Connection reads it
            return  # autocommit asked for: a BEGIN here would stay open (its COMMIT is a no-op)
        conn.exec_driver_sql("BEGIN")


def run_coroutine(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, whether or not a loop is running here."""
    import asyncio  # only async URLs and callers pay for it (~15 ms with ssl and socket)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_as_coro(factory))
    return in_thread(lambda: asyncio.run(_as_coro(factory)), "dbops-async-bridge")


def in_thread(call: Callable[[], T], name: str) -> T:
    """``call()`` in a thread of its own (one with no event loop running), its result or exception
    handed back to the caller's thread."""
    box: dict[str, Any] = {}

    def worker() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001  re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=worker, name=name, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


async def _as_coro(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


def run_with_connection(
    url: URL,
    fn: Callable[[Connection], T],
    *,
    connect_timeout: float = 5.0,
    application_name: str = DEFAULT_APPLICATION_NAME,
    pooled: bool = False,
) -> T:
    """Open one connection to ``url``, call ``fn(sync_connection)``, close, dispose.

    Connection failures become :class:`dbops.errors.ConnectionFailed`; errors raised by
    ``fn`` propagate unchanged.
    """
    engine = create_engine_for(url, connect_timeout=connect_timeout, application_name=application_name,
                               pooled=pooled)
    if not isinstance(engine, Engine):
        async_engine = engine

        async def run_async() -> T:
            try:
                conn = async_engine.connect()
                try:
                    await conn.start()
                except Exception as exc:
                    raise translate_connect_error(exc, url, connect_timeout) from exc
                try:
                    return await conn.run_sync(fn)
                finally:
                    await conn.close()
            finally:
                await async_engine.dispose()

        return run_coroutine(run_async)
    try:
        try:
            sync_conn = engine.connect()
        except Exception as exc:
            raise translate_connect_error(exc, url, connect_timeout) from exc
        with sync_conn:
            return fn(sync_conn)
    finally:
        engine.dispose()
