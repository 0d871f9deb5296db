"""Run env.py for one Alembic operation, time each revision, translate failures.

This mirrors ``alembic.command`` (an ``EnvironmentContext`` around ``script.run_env()``)
so every verb can see the database's heads, wrap the revision steps and read the SQL
buffer, while the user's env.py stays the one place that connects.
"""
from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dbops.db.connect_errors import is_read_only
from dbops.env_settings import ATTRIBUTE, EnvSettings, without_bookkeeping
from dbops.errors import DbopsError, MigrationFailed, RevisionError
from dbops.logs import enable_dbops_loggers
from dbops.redact import redact
from dbops.reports import StepTiming

MULTIPLE_HEADS_HINT = (
    "Run: dbops heads to see them; merge them with: dbops merge -m 'merge heads', "
    "or apply every head with: dbops upgrade heads"
)


@dataclass
class Run:
    """What one env.py run saw: heads before and after, each step's timing, SQL output."""

    before: tuple[str, ...] = ()
    after: tuple[str, ...] | None = None
    steps: list[StepTiming] = field(default_factory=list)
    sql: str | None = None
    duration_ms: float = 0.0
    as_sql: bool = False
    # called inside each revision's own transaction, on its connection, right after Alembic moved
    # the version table: (connection, timing, started_at). dbops writes the audit row there, so a
    # committed revision always has its row, whatever kills the run afterwards.
    recorder: Callable[[Any, StepTiming, datetime], None] | None = None
    step_statements: list[str] = field(default_factory=list)  # shared with EnvSettings.step_statements
    # (name, schema) of the version table env.py's last context used: an env may choose its own
    version_table: tuple[str, str | None] | None = None
    # (include_object, include_name) env.py passed to context.configure(): check-drift applies them too
    filters: tuple[Any, Any] = (None, None)
    _current: Any = None
    _t0: float = 0.0
    _started_at: datetime | None = None

    def wrap(self, steps: Iterable[Any]) -> Iterator[Any]:
        """Yield Alembic's revision steps, remembering which one is running and since when."""
        for step in steps:
            self._current = step
            self.step_statements.clear()
            self._t0 = time.perf_counter()
            self._started_at = datetime.now(timezone.utc)
            yield step

    def on_version_apply(self, *, ctx: Any, step: Any, heads: set[str], run_args: Any) -> None:
        elapsed = (time.perf_counter() - self._t0) * 1000.0
        current = self._current
        self._current = None
        self.after = tuple(sorted(heads))
        if current is None or not hasattr(current, "revision"):
            return
        script = current.revision
        timing = StepTiming(
            revision=script.revision,
            down_revisions=revision_ids(script.down_revision),
            message=script.doc,
            direction="upgrade" if current.is_upgrade else "downgrade",
            duration_ms=round(elapsed, 3),
            schema=getattr(ctx, "version_table_schema", None),
        )
        if self.recorder is not None and not self.as_sql:
            self.recorder(ctx.connection, timing, self._started_at or datetime.now(timezone.utc))
        self.steps.append(timing)

    @property
    def failing_revision(self) -> Any:
        step = self._current
        return getattr(step, "revision", None)


def revision_ids(value: Any) -> tuple[str, ...]:
    """Alembic's down_revision / heads (None, a string, or a sequence) as a tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def run_env(
    acfg: Any,
    script: Any,
    make_steps: Callable[[tuple[str, ...]], Iterable[Any]],
    *,
    as_sql: bool = False,
    starting_rev: str | None = None,
    destination_rev: Any = None,
    recorder: Callable[[Any, StepTiming, datetime], None] | None = None,
    **env_kw: Any,
) -> Run:
    """Run env.py once. ``make_steps(current_heads)`` returns Alembic's steps to apply;
    ``recorder`` is called in each revision's transaction (see :attr:`Run.recorder`)."""
    from alembic.runtime.environment import EnvironmentContext

    run = Run(as_sql=as_sql, recorder=recorder)
    settings: EnvSettings = acfg.attributes[ATTRIBUTE]
    settings.on_version_apply = [run.on_version_apply]
    settings.last_statement = None
    settings.step_statements = run.step_statements
    buffer = io.StringIO() if as_sql else None
    acfg.output_buffer = buffer

    def fn(rev: Any, context: Any) -> Iterable[Any]:
        run.before = tuple(sorted(revision_ids(rev)))
        run.version_table = (context.version_table, context.version_table_schema)
        return run.wrap(make_steps(revision_ids(rev)))

    known: dict[str, Any] = {}
    handed = hand_connection(acfg, settings) if not as_sql else None
    env = EnvironmentContext(acfg, script, fn=fn, as_sql=as_sql, starting_rev=starting_rev,
                             destination_rev=destination_rev, **env_kw)
    configure = env.configure

    def observing_configure(*args: Any, **kw: Any) -> None:
        run.filters = (kw.get("include_object"), kw.get("include_name"))  # the app's, before dbops adds its own
        configure(*args, **_observed(kw, settings, known, check=not as_sql, on_version_apply=run.on_version_apply))

    env.configure = observing_configure  # type: ignore[method-assign]  # the context proxy picks it up

    def body() -> None:
        with entered(settings), env:
            script.run_env()

    started = time.perf_counter()
    try:
        in_env_thread(body, known)
    except DbopsError as exc:
        exc.run = run  # type: ignore[attr-defined]
        raise
    except Exception as exc:
        error = translate_error(exc, run, dialect=settings.url.get_backend_name())
        error.run = run  # type: ignore[attr-defined]  # what was applied before the failure
        error.statement = settings.last_statement  # type: ignore[attr-defined]
        error.retryable = is_lock_timeout(exc)  # type: ignore[attr-defined]
        raise error from exc
    finally:
        release_foreign(known)
        if handed is not None:
            handed.close()
        settings.prepared_connections.clear()
        settings.on_version_apply = []
        acfg.output_buffer = None
        enable_dbops_loggers()  # env.py's fileConfig() may have disabled them
    run.duration_ms = round((time.perf_counter() - started) * 1000.0, 3)
    if run.after is None:
        run.after = run.before
    if buffer is not None:
        run.sql = buffer.getvalue()
    return run


NON_TRANSACTIONAL_DDL = ("mysql", "mariadb")  # each DDL statement commits as it runs


def _committed_part(run: Run) -> list[str]:
    """The failing revision's completed statements that changed something (reads left out)."""
    out = []
    for statement in run.step_statements:
        text = " ".join(statement.split())
        if text and text.split(" ", 1)[0].upper() not in ("SELECT", "SHOW", "DESCRIBE", "EXPLAIN", "SET"):
            out.append(redact(text if len(text) <= 160 else text[:157] + "..."))
    return out


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
            from sqlalchemy import create_engine, pool

            from dbops.db.engine import connect_args
            from dbops.db.url import sync_url

            url = sync_url(self._settings.url)
            try:
                self._engine = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args(
                    url, connect_timeout=self._settings.connect_timeout,
                    application_name=self._settings.application_name, pooled=self._settings.pooled))
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
            return self._handed() if self._handed() is not None else default
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
        original(self, *args, **_observed(kw, settings, known, check=True))

    EnvironmentContext.configure = configure  # type: ignore[method-assign]
    try:
        with entered(settings):
            yield lambda call: in_env_thread(call, known)
    finally:
        release_foreign(known)
        EnvironmentContext.configure = original  # type: ignore[method-assign]


def _observed(kw: dict[str, Any], settings: EnvSettings, known: dict[str, Any], *, check: bool,
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


def translate_error(exc: Exception, run: Run, *, dialect: str = "") -> DbopsError:
    """Alembic / driver exceptions -> one-paragraph dbops errors."""
    from alembic.script.revision import MultipleHeads as AlembicMultipleHeads
    from alembic.script.revision import RangeNotAncestorError, ResolutionError
    from alembic.util import CommandError

    failing = run.failing_revision
    if failing is not None and run.as_sql:
        return MigrationFailed(
            f"Generating SQL for revision {failing.revision} ({failing.doc or 'no message'}) failed: "
            + redact(f"{type(exc).__name__}: {_first_line(exc)}")
            + ". Nothing was run against the database. Some operations need a live connection "
            "(e.g. SQLite batch mode needs copy_from, data migrations that read rows).",
            hint=f"Make {failing.path.rsplit('/', 1)[-1]} offline-aware with context.is_offline_mode(), "
            "or apply it with: dbops upgrade",
        )
    if failing is not None and is_lock_timeout(exc):
        return MigrationFailed(
            f"Revision {failing.revision} ({failing.doc or 'no message'}) could not get its lock in time "
            f"({redact(_first_line(exc))}). Usually a long transaction or an idle-in-transaction session holds a "
            "lock on the table; dbops gave up rather than queue every other query behind the ALTER.",
            hint="See who holds it with: dbops upgrade --strict (pre-flight), end that session, then re-run "
            "dbops upgrade (or raise --lock-timeout / --retries)",
        )
    # What the database is left at is not guessed here: the runner reads the version table after the
    # failure and adds it (see dbops.migrate.apply); this says only what is known at this point.
    committed = _committed_part(run) if dialect in NON_TRANSACTIONAL_DDL else []
    if failing is not None and committed:
        detail = redact(f"{type(exc).__name__}: {_first_line(exc)}")
        listed = "; ".join(f"({i}) {c}" for i, c in enumerate(committed[:10], 1))
        return MigrationFailed(
            f"Revision {failing.revision} ({failing.doc or 'no message'}) failed: {detail}. This database commits "
            f"each DDL statement as it runs, so {len(committed)} statement(s) of {failing.revision} stayed applied: "
            f"{listed}{' ...' if len(committed) > 10 else ''}. The schema is now partly {failing.revision}; "
            "re-running will fail on what already exists.",
            hint=f"Either undo those statements by hand and re-run dbops upgrade after fixing "
            f"{failing.path.rsplit('/', 1)[-1]}, or finish the revision by hand and record it with: "
            f"dbops stamp {failing.revision}",
        )
    if failing is not None and is_read_only(exc):
        return MigrationFailed(
            f"Revision {failing.revision} ({failing.doc or 'no message'}) could not be applied: the database "
            f"refused to write ({redact(_first_line(exc))}). It is read-only for this connection: a SQLite file or "
            "directory this user may not write, a replica or standby, or default_transaction_read_only.",
            hint="Point dbops at the writable primary, or make the file and its directory writable for this user; "
            "see where the database stands with: dbops current",
        )
    if failing is not None:
        detail = redact(f"{type(exc).__name__}: {_first_line(exc)}")
        nothing = " It had changed nothing yet." if dialect in NON_TRANSACTIONAL_DDL else ""
        return MigrationFailed(
            f"Revision {failing.revision} ({failing.doc or 'no message'}) failed: {detail}.{nothing}",
            hint=f"Fix {failing.path.rsplit('/', 1)[-1]}, then re-run; see where the database "
            "stands with: dbops current",
        )
    if isinstance(exc, AlembicMultipleHeads):
        return RevisionError(
            f"There are several head revisions ({', '.join(exc.heads)}), so {exc.argument!r} is "
            "ambiguous. Usually two branches each added a revision on the same parent.",
            hint=MULTIPLE_HEADS_HINT,
        )
    if isinstance(exc, (ResolutionError, RangeNotAncestorError)):
        return RevisionError(
            f"{_first_line(exc)}. Usually the revision id is mistyped, or the database was "
            "migrated from a branch whose revision files are not here.",
            hint="List the known revisions with: dbops history",
        )
    if isinstance(exc, CommandError):
        text = _first_line(exc)
        if "can't locate revision" in text.lower() or "no such revision" in text.lower():
            return RevisionError(
                f"{text.rstrip('.')}. Usually the revision id is mistyped, or the database was "
                "migrated from a branch whose revision files are not here.",
                hint="List the known revisions with: dbops history",
            )
        if "not up to date" in text:
            return RevisionError(
                "The database is not at the head revision, so autogenerate cannot compare it "
                "with the models (it would re-create what pending revisions already add).",
                hint="Run: dbops upgrade, then re-run dbops revision --autogenerate",
            )
        return RevisionError(f"Alembic refused: {text}.", hint="See: dbops history and dbops current")
    return MigrationFailed(
        redact(f"{type(exc).__name__}: {_first_line(exc)}") + ". The migration environment "
        "failed before any revision ran; usually env.py or the models raise on import.",
        hint="Re-run with -v for the traceback.",
    )


LOCK_TIMEOUT_CODES = ("55P03", "40P01", "1205", "1213")  # PG lock_not_available/deadlock, MySQL wait/deadlock


def is_lock_timeout(exc: BaseException) -> bool:
    """True when a migration failed because it could not get a lock in time (worth a retry)."""
    cur: BaseException | None = exc
    while cur is not None:
        orig = getattr(cur, "orig", cur)
        code = str(getattr(orig, "sqlstate", "") or getattr(orig, "pgcode", "") or "")
        args = getattr(orig, "args", ())
        mysql_code = str(args[0]) if args and isinstance(args[0], int) else ""
        if code in LOCK_TIMEOUT_CODES or mysql_code in LOCK_TIMEOUT_CODES:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."
