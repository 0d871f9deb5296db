"""upgrade, downgrade and stamp: the verbs that change the database's revision.

Each runs under the migration guard (safety/guard.py): a per-target session lock held for the
whole command, per-statement lock/statement timeouts, retries when a lock timeout hits, a
pre-flight scan, and one dbops_history row per revision (written even when it fails).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbops.bridge.env_settings import ATTRIBUTE
from dbops.bridge.project import alembic_config, as_alembic_cli, env_settings, script_directory
from dbops.config import Config
from dbops.errors import MULTIPLE_HEADS_HINT, MigrationFailed, RevisionError
from dbops.migrate.preflight import edited_warnings, preflight, refuse_if_strict
from dbops.reports import MigrationReport

if TYPE_CHECKING:
    from dbops.migrate.environment import Run

# The runner (Alembic's environment, the audit rows) is imported where a revision runs: a no-op
# upgrade, every deploy's common case, never needs it.


@dataclass(frozen=True)
class Safety:
    """How cautiously to apply: lock wait, per-statement timeouts, retries, strictness."""

    lock_wait: float = 60.0
    lock_timeout: float | None = 5.0
    statement_timeout: float | None = None
    retries: int = 3
    strict: bool = False
    share_connection: bool = False  # run the migration on the lock connection (fan-out)
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_config(cls, config: Config, **overrides: Any) -> Safety:
        base = cls(lock_wait=config.lock_wait, lock_timeout=config.lock_timeout,
                   statement_timeout=config.statement_timeout)
        values = {k: v for k, v in overrides.items() if v is not None}
        return cls(**{**base.__dict__, **values})


def _report(command: str, config: Config, revision: str, run: Run, **extra: Any) -> MigrationReport:
    return MigrationReport(
        command=command,
        database=config.masked_url,
        target=config.target,
        revision=revision,
        from_revisions=run.before,
        to_revisions=run.after or (),
        steps=tuple(run.steps),
        duration_ms=run.duration_ms,
        sql=run.sql,
        **extra,
    )


def _prepare(config: Config, *, with_metadata: bool = False, runs_env: bool = True) -> tuple[Any, Any]:
    # Reading the scripts does not need the models; running revisions does (_with_models).
    if runs_env:
        _refuse_multidb(config)
    settings = env_settings(config, with_metadata=with_metadata)
    acfg = alembic_config(config, settings)
    return acfg, script_directory(acfg)


def _refuse_multidb(config: Config) -> None:
    """Alembic's multidb template migrates every database alembic.ini lists, in one run; dbops
    migrates the one database it is given and verifies it, so it refuses before env.py runs."""
    from dbops.bridge.project import uses_dbops_env
    from dbops.errors import ConfigError

    if config.multidb and not uses_dbops_env(config):
        raise ConfigError(
            f"This project's env.py migrates several databases in one run (alembic.ini: databases = "
            f"{config.multidb}), and dbops migrates one database per run, the one it was given, so nothing "
            "was run. Usually the project was made with `alembic init -t multidb`.",
            hint="Keep running plain alembic for this project, or give each database an env of its own and "
            "declare each as a dbops target ([targets.<name>] url, script_location); heads, history and "
            "lint work as they are.",
        )


def _with_models(config: Config, acfg: Any) -> list[str]:
    """Hand env.py the models' MetaData before revisions run: Alembic builds each operation's
    constraints on a MetaData with target_metadata's naming_convention, so without it existing
    revisions would emit other constraint names than a stock env does. Models that cannot be
    imported here do not stop a migration: it runs without them, and the warning says so."""
    from dbops.bridge.project import import_metadata
    from dbops.errors import ConfigError

    settings = acfg.attributes[ATTRIBUTE]
    if not config.metadata or settings.metadata is not None:
        return []
    try:
        settings.metadata = import_metadata(config.metadata, config.root, config.metadata_imports)
    except ConfigError as exc:
        return [f"the models ({config.metadata}) could not be imported, so revisions ran without their "
                f"naming_convention (constraint and index names Alembic makes up may differ from a run with "
                f"them): {exc.message}"]
    return []


def upgrade(
    config: Config, revision: str = "head", *, sql: bool = False, safety: Safety | None = None,
    quick_check: bool = True, start: str | None = None,
) -> MigrationReport:
    """``sql``: render the SQL instead (Alembic's offline mode), from the database's real revision, or from
    ``start`` when given (the database is then not asked)."""
    acfg, script = _prepare(config)
    as_alembic_cli(acfg, "upgrade", revision=revision, sql=sql)
    heads = tuple(sorted(script.get_heads()))
    if revision == "head" and len(heads) > 1:
        raise RevisionError(
            f"There are several head revisions ({', '.join(heads)}), so 'head' is ambiguous. "
            + _why_several_heads(script, heads), hint=MULTIPLE_HEADS_HINT,
        )
    if sql:
        return _upgrade_sql(config, acfg, script, revision, start)
    safety = safety or Safety.from_config(config)
    quick = _nothing_to_apply(config, script, revision) if quick_check else None
    if quick is not None:
        refuse_if_strict(list(quick.warnings), safety.strict)
        return quick
    return _guarded("upgrade", config, revision, acfg, script, lambda h: script._upgrade_revs(revision, h), safety)


def _why_several_heads(script: Any, heads: tuple[str, ...]) -> str:
    """Two branches from one parent (a merge is the usual answer), or histories with roots of their own
    (usually labelled branches, each upgraded on its own: BRANCH@head)."""
    roots = [{s.revision for s in script.iterate_revisions(head, "base") if not s.down_revision} for head in heads]
    if all(a.isdisjoint(b) for i, a in enumerate(roots) for b in roots[i + 1:]):
        labels = sorted({label for head in heads for s in script.iterate_revisions(head, "base")
                         for label in (s.branch_labels or ())})
        named = f" (branches {', '.join(labels)})" if labels else ""
        return (f"They are independent histories, each with a root of its own{named}: upgrade one with "
                "dbops upgrade BRANCH@head, or every one with dbops upgrade heads.")
    return "Usually two branches each added a revision on the same parent."


def _nothing_to_apply(config: Config, script: Any, revision: str) -> MigrationReport | None:
    """An upgrade with nothing to apply takes no lock: it reads the version table (writing nothing)
    and returns, so a deploy never waits behind a running data migration or another runner only to
    learn there was nothing to do. None when there is something to apply (or the revision does not
    resolve: the guarded run reports that properly)."""
    from dbops.bridge.project import database_heads
    from dbops.db.engine import run_with_connection
    from dbops.db.url import parse_url

    def read(conn: Any) -> tuple[tuple[str, ...], list[str]] | None:
        current = database_heads(conn, config)
        try:
            if list(script._upgrade_revs(revision, current)):
                return None
        except Exception:
            return None
        return current, edited_warnings(conn, config, script, current)

    started = time.perf_counter()
    seen = run_with_connection(parse_url(config.url), read, connect_timeout=config.connect_timeout)
    if seen is None:
        return None
    current, warnings = seen
    return MigrationReport(command="upgrade", database=config.masked_url, target=config.target, revision=revision,
                           from_revisions=current, to_revisions=current, steps=(),
                           duration_ms=round((time.perf_counter() - started) * 1000, 3), sql=None,
                           warnings=tuple(warnings))


def _upgrade_sql(config: Config, acfg: Any, script: Any, revision: str, start_at: str | None = None) -> MigrationReport:
    """SQL for the revisions the database really lacks (alembic issue 935), or those after ``start_at``.
    Writes nothing: the current revision is read on a connection that never creates the version table,
    and a SQLite file that does not exist yet is at base (connecting would create it)."""
    from dbops.db.url import sqlite_file_missing
    from dbops.migrate.environment import run_env

    model_warnings = _with_models(config, acfg)
    if start_at is not None:
        current: tuple[str, ...] = (start_at,)
    else:
        current = () if sqlite_file_missing(acfg.attributes[ATTRIBUTE].url) else read_heads(acfg, script)
    if len(current) > 1:
        raise RevisionError(
            f"The database is at several revisions ({', '.join(current)}); --sql can only start "
            "from one revision.",
            hint="Preview each branch with: alembic upgrade <from>:<to> --sql",
        )
    start = current[0] if current else None
    run = run_env(
        acfg, script, lambda heads: script._upgrade_revs(revision, start),
        as_sql=True, starting_rev=start, destination_rev=revision,
    )
    run.before = current
    return _report("upgrade", config, revision, run, warnings=tuple(model_warnings))


def downgrade(config: Config, revision: str, *, safety: Safety | None = None) -> MigrationReport:
    acfg, script = _prepare(config)
    as_alembic_cli(acfg, "downgrade", revision=revision)
    return _guarded("downgrade", config, revision, acfg, script, lambda h: script._downgrade_revs(revision, h),
                    safety or Safety.from_config(config))


def stamp(config: Config, revision: str, *, purge: bool = False, safety: Safety | None = None) -> MigrationReport:
    acfg, script = _prepare(config)
    as_alembic_cli(acfg, "stamp", revision=revision, purge=purge)
    targets = tuple(r for r in revision.split(",") if r)
    return _guarded("stamp", config, revision, acfg, script, lambda h: script._stamp_revs(targets, h),
                    safety or Safety.from_config(config), destination_rev=targets, purge=purge)


def read_heads(acfg: Any, script: Any) -> tuple[str, ...]:
    """The revisions recorded in the database (one connection, writes nothing)."""
    from dbops.migrate.environment import run_env

    run = run_env(acfg, script, lambda heads: [], dont_mutate=True)
    return run.before


def _guarded(command: str, config: Config, revision: str, acfg: Any, script: Any,
             make_steps: Callable[[tuple[str, ...]], Iterable[Any]], safety: Safety, **env_kw: Any) -> MigrationReport:
    from dbops.migrate.environment import Run, run_env
    from dbops.migrate.history_rows import failed_row, now, row, step_row
    from dbops.safety.guard import migration_guard

    model_warnings = _with_models(config, acfg)
    settings = acfg.attributes[ATTRIBUTE]
    settings.lock_timeout = safety.lock_timeout
    settings.statement_timeout = safety.statement_timeout
    env_kw.setdefault("destination_rev", revision)
    with migration_guard(config, lock_wait=safety.lock_wait, shared=safety.share_connection) as guard:
        if safety.share_connection:  # the migration runs on the lock's own session
            acfg.attributes["connection"] = guard.conn
            acfg.attributes["dbops.guard_connection"] = True
        elif not guard.pooled:  # a session lock would strand on a pooled server connection
            from dbops.db.lock import session_lock_name
            from dbops.safety.guard import lock_name

            settings.session_lock = session_lock_name(lock_name(config))
        settings.pooled = guard.pooled
        from dbops.safety.guard import migration_application_name

        settings.application_name = migration_application_name(config)
        current = guard.heads(config)
        if command != "stamp" or not env_kw.get("purge"):  # stamp --purge is the way out of this state
            from dbops.bridge.project import require_known

            require_known(script, current, config, purge_hint=True)
        if command == "upgrade" and not current and config.bootstrap:
            _bootstrap(config, guard)
        warnings: list[str] = list(model_warnings)
        # the pre-flight's findings are warnings; a fan-out target's table row has no place for them, so
        # there it runs only when --strict turns them into a refusal
        if command == "upgrade" and (safety.strict or not safety.share_connection):
            found = preflight(guard, config, script, revision, current)
            refuse_if_strict(found, safety.strict)
            warnings += found
        import uuid

        run_id = uuid.uuid4().hex
        guard.prepare_history()  # DDL now, never inside a revision's transaction

        def record(conn: Any, step: Any, started_at: Any, path: str) -> None:
            entry = step_row(run_id, command, path, step, started_at)
            if step.schema and not guard.target:  # env.py's own schema loop: say which schema
                entry["target"] = step.schema
            guard.write_in(conn, [entry])

        attempt = 0
        first_before: tuple[str, ...] | None = None
        steps: list[Any] = []
        while True:
            started = now()
            try:
                run = run_env(acfg, script, make_steps, recorder=record, **env_kw)
            except MigrationFailed as failure:
                partial: Run = failure.run or Run()
                first_before = partial.before if first_before is None else first_before
                exc, moved = _state_after_failure(failure, guard, config, partial)
                if not moved:
                    # rolled back with the failure: none of them is applied (an env.py looping over
                    # schemas committed the earlier schemas' steps)
                    failed_in = partial.version_table[1] if partial.version_table else None
                    partial.steps = [s for s in partial.steps if s.schema != failed_in]
                steps += partial.steps
                # the committed revisions' rows were written in their own transactions
                try:
                    guard.record([failed_row(run_id, command, partial, exc, started)], success=False)
                except Exception as unrecorded:  # noqa: BLE001  the failure itself is what must be reported
                    from dbops.migrate.environment import _first_line
                    from dbops.redact import redact

                    exc = exc.evolve(message=exc.message + " (Its audit row could not be written either: "
                                     f"{redact(_first_line(unrecorded))}.)")
                if exc.retryable and attempt < safety.retries:
                    attempt += 1
                    safety.sleep(min(0.5 * 2 ** attempt, 10.0))
                    continue
                raise exc.evolve(warnings=tuple(warnings)) from failure.__cause__  # shown with the error
            first_before = run.before if first_before is None else first_before
            steps += run.steps
            rows = []
            if command == "stamp" or (not run.steps and run.before != run.after):
                rows = [row(run_id, command, None, None, run.before, run.after or (), started, None, "success")]
            guard.record(rows)
            # read, not inferred from the run (a run that applied steps has written the table)
            observed = guard.heads(config, table=run.version_table, known_table=bool(run.steps))
            if command != "stamp" and observed != tuple(sorted(run.after or ())):
                warnings.append(f"the version table says {', '.join(observed) or 'base'} after the run, but the "
                                f"run observed {', '.join(run.after or ()) or 'base'}; check with: dbops current")
            break
    run.before = first_before
    run.steps = steps
    if guard.lease is not None and guard.lease.lost:
        warnings.append("the migration lease expired during the run (no renewal reached the database for "
                        f"{config.lease_seconds:g}s) and another runner may have started; check dbops history "
                        "--applied and dbops current")
    return _report(command, config, revision, run, warnings=tuple(warnings), attempts=attempt + 1)


def _bootstrap(config: Config, guard: Any) -> None:
    """The configured bootstrap(connection), once, on an empty database, under the migration lock."""
    import logging

    from dbops.bridge.project import import_attr

    fn = import_attr(config.bootstrap or "", config.root, "bootstrap", "app.db:bootstrap")
    conn = guard.history_conn
    try:
        fn(conn)
    except Exception as exc:
        if conn.in_transaction():
            conn.rollback()
        from dbops.redact import redact

        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise MigrationFailed(
            f"bootstrap = {config.bootstrap!r} failed on the empty database before the first revision: "
            f"{type(exc).__name__}: {redact(first)}. Nothing of the chain ran.",
            hint="Fix the bootstrap function (it gets a SQLAlchemy Connection), then re-run dbops upgrade.",
        ) from exc
    if conn.in_transaction():
        conn.commit()
    logging.getLogger("dbops.bootstrap").info("bootstrap %s ran on the empty database", config.bootstrap)


def _state_after_failure(exc: MigrationFailed, guard: Any, config: Config,
                         run: Run) -> tuple[MigrationFailed, bool]:
    """Say where the database is after a failed run, as read from its version table (on the guard's
    own connection: committed state only), never as inferred from transaction settings: the error,
    told so, and whether the version table moved (False: the steps this run took before the failure
    were rolled back with it)."""
    if guard.conn.in_transaction():  # fan-out: the failed migration ran on this connection
        guard.conn.rollback()
    after = guard.heads(config, table=run.version_table)
    moved = tuple(sorted(after)) != tuple(sorted(run.before))
    if run.failing_revision is None:
        return exc, moved
    at = ", ".join(after) or "base"
    if run.version_table and run.version_table[1] and run.version_table[1] != config.version_table_schema:
        at += f" in {run.version_table[1]}.{run.version_table[0]}"  # env.py's own version table
    schema = run.version_table[1] if run.version_table else None
    ran = [s.revision for s in run.steps if s.schema == schema]  # an env's loop over schemas: this one
    if not moved:
        fact = (f" The version table still says {at} (read after the failure)"
                + (f": the {len(ran)} revision(s) this run applied before it ({_some(ran)}) were rolled "
                   "back with it, as env.py runs them in one transaction." if ran else "."))
    else:
        fact = f" The version table now says {at} (read after the failure): {_some(ran)} stayed applied."
    told = exc.evolve(message=exc.message + fact, details={
        **exc.details, "current_revisions": list(after), "failed_revision": run.failing_revision.revision,
        "applied": ran if moved else [], "reverted": [] if moved else ran})
    return told, moved


def _some(revisions: list[str], most: int = 6) -> str:
    """A list of revision ids for a sentence: all of a short one; the first and last few of a long one."""
    if len(revisions) <= most:
        return ", ".join(revisions)
    return f"{', '.join(revisions[:3])}, ... {', '.join(revisions[-2:])}: {len(revisions)} in all"
