"""upgrade, downgrade and stamp: the verbs that change the database's revision."""
from __future__ import annotations

from typing import Any

from dbops.config import Config
from dbops.errors import RevisionError
from dbops.migrate.runner import MULTIPLE_HEADS_HINT, Run, run_env
from dbops.project import alembic_config, env_settings, script_directory
from dbops.reports import MigrationReport


def _report(command: str, config: Config, revision: str, run: Run) -> MigrationReport:
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
    )


def _prepare(config: Config, *, with_metadata: bool = False) -> tuple[Any, Any]:
    # Applying revisions does not need the models; importing them only costs start-up time.
    settings = env_settings(config, with_metadata=with_metadata)
    acfg = alembic_config(config, settings)
    return acfg, script_directory(acfg)


def upgrade(config: Config, revision: str = "head", *, sql: bool = False) -> MigrationReport:
    acfg, script = _prepare(config)
    heads = tuple(sorted(script.get_heads()))
    if revision == "head" and len(heads) > 1:
        raise RevisionError(
            f"There are several head revisions ({', '.join(heads)}), so 'head' is ambiguous. "
            "Usually two branches each added a revision on the same parent.",
            hint=MULTIPLE_HEADS_HINT,
        )
    if sql:
        return _upgrade_sql(config, acfg, script, revision)
    run = run_env(
        acfg, script, lambda heads: script._upgrade_revs(revision, heads), destination_rev=revision
    )
    return _report("upgrade", config, revision, run)


def _upgrade_sql(config: Config, acfg: Any, script: Any, revision: str) -> MigrationReport:
    """SQL for the revisions the database really lacks (alembic issue 935)."""
    current = read_heads(acfg, script)
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
    return _report("upgrade", config, revision, run)


def downgrade(config: Config, revision: str) -> MigrationReport:
    acfg, script = _prepare(config)
    run = run_env(
        acfg, script, lambda heads: script._downgrade_revs(revision, heads), destination_rev=revision
    )
    return _report("downgrade", config, revision, run)


def stamp(config: Config, revision: str, *, purge: bool = False) -> MigrationReport:
    acfg, script = _prepare(config)
    targets = tuple(r for r in revision.split(",") if r)
    run = run_env(
        acfg, script, lambda heads: script._stamp_revs(targets, heads),
        destination_rev=targets, purge=purge,
    )
    # a stamp step carries no revision script; the heads come from the callback
    run.steps = []
    return _report("stamp", config, revision, run)


def read_heads(acfg: Any, script: Any) -> tuple[str, ...]:
    """The revisions recorded in the database (one connection, writes nothing)."""
    run = run_env(acfg, script, lambda heads: [], dont_mutate=True)
    return run.before
