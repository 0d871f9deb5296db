"""data-migrate at the command level: find the migrations, check the schema revision, run
them one by one on one connection (async URLs through the run_sync bridge), list them."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from dbops.config import Config
from dbops.data import checkpoint
from dbops.data.batches import Progress, run_data_migration
from dbops.data.declaration import DataMigration
from dbops.data.discover import load_directory
from dbops.db.engine import run_with_connection
from dbops.db.lease import migration_or_lease_lock, pooled_url
from dbops.db.lock import migration_lock_name
from dbops.db.url import parse_url
from dbops.errors import DataMigrationError, RevisionError
from dbops.reports import DataMigrateReport, DataMigrationInfo, DataMigrationListReport, DataMigrationRun


def _migrations(config: Config) -> list[DataMigration]:
    directory = config.data_migrations or config.root / "data_migrations"
    found = load_directory(directory)
    if not found:
        raise DataMigrationError(
            f"No data migrations found in {directory}. Each module there sets "
            "migration = DataMigration(name=..., table=..., key=..., set={...}).",
            hint="Create one, or point data_migrations in [tool.dbops] at the right directory.",
        )
    needing = [m for m in found if m.requires]
    if needing:
        from dbops.bridge.project import load_scripts

        script = load_scripts(config)
        for m in needing:
            try:
                known = script.get_revision(m.requires) is not None
            except Exception:  # noqa: BLE001  Alembic's ResolutionError for an unknown or ambiguous id
                known = False
            if not known:
                raise DataMigrationError(
                    f"Data migration {m.name!r} requires revision {m.requires!r}, which is no revision file in "
                    f"{config.script_location}. Usually a typo, or the revision was renamed or squashed; until "
                    "it names a real revision dbops cannot tell when the migration may run.",
                    hint=f"Fix requires= in {m.source or m.name} (see the ids with: dbops history)",
                )
    return found


def _in_tenant(conn: sa.Connection, config: Config, *, pooled: bool = False) -> sa.Connection:
    """A tenant of a schema group: its tables, version table and checkpoints are in its schema. The
    schema translate map qualifies what SQLAlchemy builds; search_path covers raw SQL fragments and
    reflection (per transaction behind a pooler, where a session setting would stay on a server
    connection other clients get)."""
    schema = config.tenant_schema
    if not schema:
        return conn
    if conn.dialect.name == "postgresql":
        statement = f"SET search_path TO {conn.dialect.identifier_preparer.quote_identifier(schema)}, public"
        if pooled:  # behind a transaction pooler: SET LOCAL in each transaction
            from dbops.db.migration_session import per_transaction

            per_transaction(conn, [statement])
        else:
            conn.execute(sa.text(statement))
            if conn.in_transaction():
                conn.commit()
    return conn.execution_options(schema_translate_map={None: schema})


def _applied_revisions(conn: sa.Connection, config: Config) -> tuple[set[str], tuple[str, ...]]:
    from dbops.bridge.project import database_heads, load_scripts

    heads = database_heads(conn, config)
    if not heads:
        return set(), heads
    script = load_scripts(config)
    try:
        applied = {s.revision for s in script.iterate_revisions(heads, "base")}
    except Exception as exc:
        raise RevisionError(
            f"The database is at revision {', '.join(heads)}, which is not among the revision files in "
            f"{config.script_location}, so dbops cannot tell which revisions the data migrations' "
            "'requires' are satisfied by. Usually the wrong project or database.",
            hint="Check with: dbops current",
        ) from exc
    return applied, heads


def data_migrate(
    config: Config,
    name: str | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **options: Any,
) -> DataMigrateReport:
    if options.get("lock_timeout") is None:  # the same default as a migration's: lock_timeout from the config
        options["lock_timeout"] = config.lock_timeout or 0.0
    migrations = _migrations(config)
    if name is not None:
        chosen = [m for m in migrations if m.name == name]
        if not chosen:
            raise DataMigrationError(
                f"Unknown data migration {name!r}; known: {', '.join(m.name for m in migrations)}.",
                hint="List them with: dbops data-migrate --list",
            )
    else:
        chosen = migrations

    def work(conn: sa.Connection) -> list[DataMigrationRun]:
        needs_revisions = any(m.requires for m in chosen)
        applied, heads = _applied_revisions(conn, config) if needs_revisions else (set(), ())
        done = checkpoint.read_all(conn)
        if conn.in_transaction():
            conn.commit()
        runs = []
        for m in chosen:
            if name is None and done.get(m.name) is not None and done[m.name].status == "done" \
                    and not options.get("reset"):
                continue
            if m.requires and m.requires not in applied:
                raise DataMigrationError(
                    f"Data migration {m.name!r} needs schema revision {m.requires}, which is not applied "
                    f"(the database is at {', '.join(heads) or 'base'}). Running it first would touch columns "
                    "that do not exist yet, or skip rows the revision still creates.",
                    hint=f"Run: dbops upgrade {m.requires}",
                )
            run = run_data_migration(conn, m, progress=progress, should_stop=should_stop, **options)
            runs.append(run)
            if run.status == "paused":
                break
        return runs

    def locked(conn: sa.Connection) -> list[DataMigrationRun]:
        # The migration lock, shared: data migrations may run side by side, but not while a schema
        # upgrade/downgrade/stamp holds it exclusively (and those wait for running data migrations).
        with migration_or_lease_lock(conn, migration_lock_name(config.version_table, config.version_table_schema),
                                     lock_mode=options["lock_mode"], wait=config.lock_wait, ttl=config.lease_seconds,
                                     shared=True, what="migrations on this database (data-migrate needs it shared)",
                                     hint="A schema migration is running; wait for it, or raise lock_wait."):
            if conn.in_transaction():
                conn.commit()
            return work(_in_tenant(conn, config, pooled=options["lock_mode"] == "lease"))

    url = parse_url(config.url)
    pooled = pooled_url(url, config.lock_mode, connect_timeout=config.connect_timeout)
    options.setdefault("lock_mode", "lease" if pooled else "session")
    options.setdefault("lease_seconds", config.lease_seconds)
    runs = run_with_connection(url, locked, connect_timeout=config.connect_timeout, pooled=pooled,
                               application_name="dbops-data-migrate")
    return DataMigrateReport(command="data-migrate", database=config.masked_url, target=config.target,
                             runs=tuple(runs))


def list_data_migrations(config: Config) -> DataMigrationListReport:
    migrations = _migrations(config)

    def read(conn: sa.Connection) -> DataMigrationListReport:
        conn = _in_tenant(conn, config)
        applied, _ = _applied_revisions(conn, config)
        states = checkpoint.read_all(conn)
        infos = []
        for m in migrations:
            cp = states.get(m.name)
            infos.append(DataMigrationInfo(
                name=m.name, table=m.table, requires=m.requires,
                revision_applied=m.requires is None or m.requires in applied,
                status=cp.status if cp else "pending", rows_done=cp.rows_done if cp else 0,
                last_key=cp.last_key if cp else None, updated_at=cp.updated_at if cp else None,
                error=cp.error if cp else None, source=m.source,
            ))
        return DataMigrationListReport(command="data-migrate", database=config.masked_url, target=config.target,
                                       directory=str(config.data_migrations), migrations=tuple(infos))

    return run_with_connection(parse_url(config.url), read, connect_timeout=config.connect_timeout)
