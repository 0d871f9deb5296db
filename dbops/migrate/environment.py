"""Run env.py for one Alembic operation, time each revision, translate failures.

This mirrors ``alembic.command`` (an ``EnvironmentContext`` around ``script.run_env()``)
so every verb can see the database's heads, wrap the revision steps and read the SQL
buffer, while the user's env.py stays the one place that connects.
"""
from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dbops.bridge.env_settings import ATTRIBUTE, EnvSettings
from dbops.bridge.project import revision_message
from dbops.errors import MULTIPLE_HEADS_HINT, DbopsError, MigrationFailed, RevisionError
from dbops.faults import is_lock_timeout, is_read_only, runtime_fault
from dbops.logs import enable_dbops_loggers
from dbops.migrate.observe import entered, hand_connection, in_env_thread, observe_configure, release_foreign
from dbops.redact import redact
from dbops.reports import StepTiming


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
    # the version table: (connection, timing, started_at, revision file). dbops writes the audit row
    # there, so a committed revision always has its row, whatever kills the run afterwards.
    recorder: Callable[[Any, StepTiming, datetime, str], None] | None = None
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
            message=revision_message(script),
            direction="upgrade" if current.is_upgrade else "downgrade",
            duration_ms=round(elapsed, 3),
            schema=getattr(ctx, "version_table_schema", None),
        )
        if self.recorder is not None and not self.as_sql:
            self.recorder(ctx.connection, timing, self._started_at or datetime.now(timezone.utc), script.path)
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


def _same_versions(script: Any, read_from: Any) -> None:
    """Refuse, before any revision runs, an env.py that pointed the script at other revision directories
    than dbops read the chain from (Prefect's env.py: context.script.version_locations = [versions/<dialect>]):
    what dbops would apply and record is not what Alembic would run."""
    import os
    from pathlib import Path

    from alembic.util import coerce_resource_to_filename

    def dirs(locations: Any) -> list[str]:  # as Alembic resolves them (none: script_location/versions)
        paths = [coerce_resource_to_filename(str(p)) for p in locations] if locations else [
            Path(script.dir, "versions")]
        return sorted(os.path.realpath(p) for p in paths)

    now = script.version_locations
    if now is read_from:
        return
    script.version_locations = read_from
    chosen, read = dirs(now), dirs(read_from)
    if chosen != read:
        from dbops.errors import VersionsOverridden

        raise VersionsOverridden(
            f"The project's env.py set the revision directories to {', '.join(chosen)} at run time, but dbops read "
            f"the chain from {', '.join(read)}; nothing was run. What dbops would apply and record would not be what "
            "Alembic runs.",
            hint=f"Name the same directory in dbops.toml: version_locations = [\"{chosen[0] if chosen else ''}\"] "
            "(per target under [targets.NAME] when env.py picks one per database)",
        )


def run_env(
    acfg: Any,
    script: Any,
    make_steps: Callable[[tuple[str, ...]], Iterable[Any]],
    *,
    as_sql: bool = False,
    starting_rev: str | None = None,
    destination_rev: Any = None,
    recorder: Callable[[Any, StepTiming, datetime, str], None] | None = None,
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

    read_from = script.version_locations  # what dbops read the chain from (env.py may assign another)

    def observing_configure(*args: Any, **kw: Any) -> None:
        run.filters = (kw.get("include_object"), kw.get("include_name"))  # the app's, before dbops adds its own
        _same_versions(script, read_from)
        configure(*args, **observe_configure(kw, settings, known, check=not as_sql,
                                             on_version_apply=run.on_version_apply))

    env.configure = observing_configure  # type: ignore[method-assign]  # the context proxy picks it up

    def body() -> None:
        try:
            with entered(settings), env:
                script.run_env()
        finally:
            script.version_locations = read_from  # the loaded script is shared by later runs in this process

    started = time.perf_counter()
    try:
        in_env_thread(body, known)
    except DbopsError as exc:
        raise exc.evolve(run=run) from exc.__cause__
    except Exception as exc:
        error = translate_error(exc, run, dialect=settings.url.get_backend_name(),
                                sqlite_autocommit_ddl=bool(known.get("sqlite_autocommit_ddl")))
        # what was applied before the failure, the statement that failed, whether a retry may help
        raise error.evolve(run=run, statement=settings.last_statement, retryable=is_lock_timeout(exc)) from exc
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


def _committed_part(run: Run, *, until_first_write: bool = False) -> list[str]:
    """The failing revision's completed statements that changed something (reads left out);
    ``until_first_write``: only those before the first INSERT/UPDATE/DELETE/REPLACE (the sqlite3
    module opens a transaction there, and the failure rolled back what followed)."""
    out = []
    for statement in run.step_statements:
        text = " ".join(statement.split())
        verb = text.split(" ", 1)[0].upper() if text else ""
        if until_first_write and verb in ("INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"):
            break
        if text and verb not in ("SELECT", "SHOW", "DESCRIBE", "EXPLAIN", "SET"):
            out.append(redact(text if len(text) <= 160 else text[:157] + "..."))
    return out


def translate_error(exc: Exception, run: Run, *, dialect: str = "", sqlite_autocommit_ddl: bool = False) -> DbopsError:
    """Alembic / driver exceptions -> one-paragraph dbops errors. ``sqlite_autocommit_ddl``: the project's
    env.py ran on its own SQLite connection in the sqlite3 module's default mode, where DDL commits as
    it runs until the first INSERT/UPDATE/DELETE opens a transaction."""
    from alembic.script.revision import MultipleHeads as AlembicMultipleHeads
    from alembic.script.revision import RangeNotAncestorError, ResolutionError
    from alembic.util import CommandError

    failing = run.failing_revision
    if failing is not None and run.as_sql:
        return MigrationFailed(
            f"Generating SQL for revision {failing.revision} ({revision_message(failing) or 'no message'}) failed: "
            + redact(f"{type(exc).__name__}: {_first_line(exc)}")
            + ". Nothing was run against the database. Some operations need a live connection "
            "(e.g. SQLite batch mode needs copy_from, data migrations that read rows).",
            hint=f"Make {failing.path.rsplit('/', 1)[-1]} offline-aware with context.is_offline_mode(), "
            "or apply it with: dbops upgrade",
        )
    if failing is not None and is_lock_timeout(exc):
        return MigrationFailed(
            f"Revision {failing.revision} ({revision_message(failing) or 'no message'}) could not get its lock in time "
            f"({redact(_first_line(exc))}). Usually a long transaction or an idle-in-transaction session holds a "
            "lock on the table; dbops gave up rather than queue every other query behind the ALTER.",
            hint="See who holds it with: dbops upgrade --strict (pre-flight), end that session, then re-run "
            "dbops upgrade (or raise --lock-timeout / --retries)",
        )
    # What the database is left at is not guessed here: the runner reads the version table after the
    # failure and adds it (see dbops.migrate.apply); this says only what is known at this point.
    if dialect in NON_TRANSACTIONAL_DDL:
        committed, how = _committed_part(run), "This database commits each DDL statement as it runs"
    elif sqlite_autocommit_ddl:
        committed = _committed_part(run, until_first_write=True)
        how = ("The project's env.py runs SQLite through the sqlite3 module's default mode, which commits DDL "
               "as it runs (until an INSERT, UPDATE or DELETE opens a transaction)")
    else:
        committed, how = [], ""
    fault = runtime_fault(exc) if failing is not None else None
    if failing is not None and committed:
        detail = redact(f"{type(exc).__name__}: {_first_line(exc)}")
        if fault is not None:
            detail = f"it {fault.happened} ({detail})"
        listed = "; ".join(f"({i}) {c}" for i, c in enumerate(committed[:10], 1))
        return MigrationFailed(
            f"Revision {failing.revision} ({revision_message(failing) or 'no message'}) failed: {detail}. {how}, "
            f"so {len(committed)} statement(s) of {failing.revision} stayed applied: "
            f"{listed}{' ...' if len(committed) > 10 else ''}. The schema is now partly {failing.revision}; "
            "re-running will fail on what already exists.",
            hint=f"Either undo those statements by hand and re-run dbops upgrade after fixing "
            f"{failing.path.rsplit('/', 1)[-1]}, or finish the revision by hand and record it with: "
            f"dbops stamp {failing.revision}",
        )
    if failing is not None and fault is not None:
        nothing = " It had changed nothing yet." if dialect in NON_TRANSACTIONAL_DDL else ""
        return MigrationFailed(
            f"Revision {failing.revision} ({revision_message(failing) or 'no message'}) {fault.happened} "
            f"({redact(_first_line(exc))}).{' ' + fault.means + '.' if fault.means else ''}{nothing}",
            hint=fault.hint,
        )
    if failing is not None and is_read_only(exc):
        return MigrationFailed(
            f"Revision {failing.revision} ({revision_message(failing) or 'no message'}) could not be applied: the "
            f"database refused to write ({redact(_first_line(exc))}). It is read-only for this connection: a SQLite "
            "file or directory this user may not write, a replica or standby, or default_transaction_read_only.",
            hint="Point dbops at the writable primary, or make the file and its directory writable for this user; "
            "see where the database stands with: dbops current",
        )
    if failing is not None:
        detail = redact(f"{type(exc).__name__}: {_first_line(exc)}")
        nothing = " It had changed nothing yet." if dialect in NON_TRANSACTIONAL_DDL else ""
        return MigrationFailed(
            f"Revision {failing.revision} ({revision_message(failing) or 'no message'}) failed: {detail}.{nothing}",
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."
