"""What dbops hands to env.py through ``alembic.config.Config.attributes``."""
from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ATTRIBUTE = "dbops.bridge.env_settings"

#: dbops's own tables (dbops.safety.history, dbops.data.checkpoint): never part of the app's schema
BOOKKEEPING_TABLES = frozenset({"dbops_history", "dbops_data_migrations", "dbops_lock", "dbops_drift_runs"})


def without_bookkeeping(include_object: Callable[..., bool] | None) -> Callable[..., bool]:
    """An autogenerate ``include_object`` that never proposes to drop dbops's own tables, then asks
    the app's own hook (if any): dbops's filter is added to the app's, never instead of it."""
    if getattr(include_object, "_dbops_filtered", False):
        return include_object  # type: ignore[return-value]

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and reflected and compare_to is None and name in BOOKKEEPING_TABLES:
            return False
        return include_object(obj, name, type_, reflected, compare_to) if include_object else True

    include._dbops_filtered = True  # type: ignore[attr-defined]
    return include


def not_app_tables(version_table: str) -> set[str]:
    """Tables schema comparisons leave out: Alembic's version table(s) and dbops's bookkeeping."""
    return {version_table, "alembic_version", *BOOKKEEPING_TABLES}


@dataclass
class EnvSettings:
    """Resolved settings for one env.py run (not frozen: callbacks are attached per run)."""

    url: Any  # sqlalchemy.engine.URL
    metadata: Any = None  # sqlalchemy.MetaData | list[MetaData] | None
    version_table: str = "alembic_version"
    version_table_schema: str | None = None
    transaction_per_migration: bool = True
    connect_timeout: float = 5.0
    on_version_apply: list[Callable[..., None]] = field(default_factory=list)
    tenant_schema: str | None = None  # migrate this schema (schema_translate_map + search_path)
    search_path: tuple[str, ...] | None = None  # a target's search_path for the migration's session
    lock_timeout: float | None = None  # seconds, per statement while migrating (PostgreSQL, MariaDB)
    statement_timeout: float | None = None  # seconds (PostgreSQL)
    last_statement: str | None = None  # the statement running when a migration failed
    # the statements that completed in the revision now running (reset per revision): on MariaDB/MySQL
    # each DDL commits as it runs, so a failed revision reports which of its statements stayed applied
    step_statements: list[str] = field(default_factory=list)
    configure_overrides: dict[str, Any] = field(default_factory=dict)
    # a lock the migration's own session holds while it runs (PostgreSQL, MariaDB): the next runner
    # waits on it, so a statement still executing on the backend of a killed run is never run twice
    session_lock: str | None = None
    # behind a transaction pooler: timeouts as SET LOCAL in each transaction (a session SET would stay
    # on a server connection other clients get), no named prepared statements
    pooled: bool = False
    application_name: str = "dbops"  # of the migration's own connection (pg_stat_activity)
    env_context: Any = None  # a callable returning a context manager env.py runs inside (config env_context)
    foreign_env: bool = False  # the project's own env.py, not dbops's (project.uses_dbops_env)
    # connections dbops's own env already set up (timeouts, statements, lock): the observer of
    # context.configure() sets up only the ones a project's own env.py opened
    prepared_connections: Any = field(default_factory=weakref.WeakSet)
