"""How dbops stands around whichever env.py runs: it observes env.py's ``context.configure()``
(checking, before any revision runs, that the connection reaches the database dbops was given;
adding its step observer, timeouts, session lock and bookkeeping filter), hands env.py a
connection when it asks for one (Alembic's cookbook recipe), and runs env.py in a thread when
it needs one. ``environment.run_env`` and ``author.revision`` use it; it never prints.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dbops.bridge.env_settings import EnvSettings, without_bookkeeping


class OnDemandConnection(dict):  # type: ignore[type-arg]
    """``config.attributes`` for a project's own env.py. Alembic's cookbook recipe for a connection
    handed in (``config.attributes.get("connection")``) gets one to the database dbops was given, opened
    when env.py first asks; an env.py that never asks costs nothing. dbops closes it after the run."""

    def __init__(self, base: dict[str, Any], settings: EnvSettings) -> None:
        super().__init__(base)
        self._settings = settings
        self._engine: Any = None
        self._connection: Any = None

    def _handed(self) -> Any:
        if self._connection is None:
            from dbops.db.engine import create_engine_for
            from dbops.db.url import sync_url

            try:  # dbops's one engine factory: the same connect arguments and SQLite transactions as its own env
                self._engine = create_engine_for(
                    sync_url(self._settings.url), connect_timeout=self._settings.connect_timeout,
                    application_name=self._settings.application_name, pooled=self._settings.pooled)
                self._connection = self._engine.connect()
            except Exception as exc:  # noqa: BLE001  env.py then connects its own way (and is checked)
                logging.getLogger("dbops").debug("no connection to hand env.py: %s", exc)
                return None
        return self._connection

    def __contains__(self, key: object) -> bool:
        return key == "connection" or super().__contains__(key)

    def __getitem__(self, key: Any) -> Any:
        if key == "connection" and not super().__contains__(key):
            connection = self._handed()
            if connection is None:
                raise KeyError(key)
            return connection
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        if key == "connection" and not super().__contains__(key):
            handed = self._handed()
            return handed if handed is not None else default
        return super().get(key, default)

    def close(self) -> None:
        if self._connection is not None:
            try:
                if self._connection.in_transaction():
                    self._connection.rollback()  # what env.py did not commit was not meant to stay
                self._connection.close()
            finally:
                self._engine.dispose()
                self._connection = self._engine = None


def hand_connection(acfg: Any, settings: EnvSettings) -> OnDemandConnection | None:
    """For a project's own env.py: make ``config.attributes`` offer a connection to the database dbops
    was given (see OnDemandConnection). dbops's own env, and a connection already set (fan-out), keep
    theirs."""
    if isinstance(acfg.attributes, OnDemandConnection):
        return acfg.attributes  # a retry of the same command: the same offer, closed again after it
    if not settings.foreign_env or "connection" in acfg.attributes:
        return None
    handed = OnDemandConnection(acfg.attributes, settings)
    acfg.attributes = handed
    return handed


def in_env_thread(call: Callable[[], Any], known: dict[str, Any]) -> Any:
    """Run ``call`` (which runs env.py) where env.py can run. With an event loop already running in
    this thread (dbops called from async code), an env.py's ``asyncio.run()`` would refuse: it runs
    in a thread of its own. An env.py that hands its work to the event loop that started it (anyio's
    ``from_thread.run``, as apps that call Alembic from an async startup do) needs to be called
    from a worker thread of a running loop: when it says so before configuring anything, it is run
    again that way."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        from dbops.db.engine import in_thread

        return in_thread(call, "dbops-env")
    try:
        return call()
    except Exception as exc:
        if known.get("configured") or not _wants_worker_thread(exc):
            raise
    import anyio
    import anyio.to_thread

    async def worker() -> Any:
        return await anyio.to_thread.run_sync(call)

    return anyio.run(worker)


def _wants_worker_thread(exc: BaseException) -> bool:
    """anyio's "not running inside an AnyIO worker thread" (NoEventLoopError in anyio 4)."""
    return isinstance(exc, RuntimeError) and (
        type(exc).__name__ == "NoEventLoopError" or "AnyIO worker thread" in str(exc))


def entered(settings: EnvSettings) -> Any:
    """The context env.py needs (config env_context, e.g. a Flask app's app_context()), or none."""
    from contextlib import nullcontext

    return settings.env_context() if settings.env_context is not None else nullcontext()


@contextmanager
def observing_env(settings: EnvSettings) -> Iterator[Callable[[Callable[[], Any]], Any]]:
    """For Alembic commands dbops does not run through run_env (``revision``): while the block runs,
    every ``context.configure(connection=...)`` of any env.py is checked against the database dbops
    was given, and dbops's bookkeeping tables are kept out of autogenerate."""
    from alembic.runtime.environment import EnvironmentContext

    original = EnvironmentContext.configure
    known: dict[str, Any] = {}

    def configure(self: Any, *args: Any, **kw: Any) -> None:
        original(self, *args, **observe_configure(kw, settings, known, check=True))

    EnvironmentContext.configure = configure  # type: ignore[method-assign]
    try:
        with entered(settings):
            yield lambda call: in_env_thread(call, known)
    finally:
        release_foreign(known)
        EnvironmentContext.configure = original  # type: ignore[method-assign]


def observe_configure(kw: dict[str, Any], settings: EnvSettings, known: dict[str, Any], *, check: bool,
              on_version_apply: Callable[..., None] | None = None) -> dict[str, Any]:
    """env.py's ``context.configure(**kw)`` as dbops runs it, whichever env.py it is: before any
    revision, the connection it configures must reach the database dbops was given (``check``);
    dbops's step observer joins its ``on_version_apply``; dbops's tables stay out of autogenerate."""
    known["configured"] = True
    connection = kw.get("connection")
    if connection is not None and check:
        check_database(connection, settings, known)
        if connection not in settings.prepared_connections:  # a connection the project's env.py opened
            settings.prepared_connections.add(connection)
            _prepare_foreign(connection, settings, known)
    if on_version_apply is not None:
        callbacks = list(kw.get("on_version_apply") or ())
        if on_version_apply not in callbacks:
            callbacks.append(on_version_apply)
        kw["on_version_apply"] = callbacks
    kw["include_object"] = without_bookkeeping(kw.get("include_object"))
    return kw


def _prepare_foreign(connection: Any, settings: EnvSettings, known: dict[str, Any]) -> None:
    """What dbops's own env does to its connection, done to the one the project's env.py opened:
    timeouts, the statements it runs, and the session lock (given back when env.py is done with the
    connection, or when the run ends)."""
    from dbops.db.migration_session import apply_session_settings, capture_statements, hold_until_returned

    apply_session_settings(connection, settings)
    capture_statements(connection, settings)
    if connection.dialect.name == "sqlite":  # the sqlite3 module's default: DDL commits as it runs
        raw = getattr(connection.connection, "dbapi_connection", None)
        known["sqlite_autocommit_ddl"] = getattr(raw, "isolation_level", None) is not None
    if settings.session_lock:
        known.setdefault("releases", []).append(hold_until_returned(connection, settings.session_lock))


def release_foreign(known: dict[str, Any]) -> None:
    for release in known.pop("releases", []):
        release()


def _same_url(a: Any, b: Any) -> bool:
    from dbops.db.url import sync_url

    try:
        return bool(sync_url(a).render_as_string(hide_password=False)
                    == sync_url(b).render_as_string(hide_password=False))
    except Exception:  # noqa: BLE001  an unusual URL object: ask the server instead
        return False


def _given_identity(settings: EnvSettings) -> Any:
    import os

    from dbops.db.engine import run_with_connection
    from dbops.db.identity import Identity, identify
    from dbops.db.url import sqlite_file_missing

    url = settings.url
    if sqlite_file_missing(url):
        return Identity("sqlite", os.path.realpath(url.database), None, None)  # do not create it by asking
    return run_with_connection(url, identify, connect_timeout=settings.connect_timeout)


def check_database(connection: Any, settings: EnvSettings, known: dict[str, Any]) -> None:
    """Refuse (WrongDatabase) when env.py's connection reaches another database than the one dbops
    was given. A connection dbops opened itself (its env, the shared guard connection) is trusted."""
    from dbops.db.identity import identify, masked
    from dbops.errors import WrongDatabase

    if _same_url(connection.engine.url, settings.url):
        return
    theirs = identify(connection)
    if "given" not in known:
        known["given"] = _given_identity(settings)
    given = known["given"]
    if given.same_database(theirs):
        return
    raise WrongDatabase(
        f"The project's env.py connected to another database than the one dbops was given, so nothing was "
        f"run. dbops was given {masked(settings.url)}: {given.describe()}; env.py connected to "
        f"{masked(connection.engine.url)}: {theirs.describe()}. Usually env.py builds its URL from the app's "
        "settings instead of config.get_main_option('sqlalchemy.url'), which dbops sets to the URL it was given.",
        hint="Either give dbops the app's URL (in dbops.toml: url = \"py:app.core.config:settings.DATABASE_URL\", "
        "or the environment variables the app reads), or let env.py prefer the URL dbops passes: "
        "url = config.get_main_option('sqlalchemy.url') or <the app's URL>",
    )
