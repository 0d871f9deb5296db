"""What a migrations/env.py needs, in one call::

    # migrations/env.py
    from dbops.alembic_env import run_migrations
    run_migrations()

Offline (``--sql``) and online modes; sync drivers (psycopg, pysqlite, pymysql) and async
drivers (asyncpg, aiosqlite) through one ``run_sync`` bridge that also works inside a
running event loop; ``compare_type`` and ``compare_server_default`` on; ``render_as_batch``
on SQLite; ``transaction_per_migration`` from config; objects limited to other dialects
with ``.ddl_if(dialect=...)`` are left out of autogenerate on this dialect.

When run by the plain ``alembic`` CLI (no dbops settings attached), it loads the dbops
configuration itself, so ``alembic upgrade head`` and ``dbops upgrade`` agree.
A connection passed in ``config.attributes["connection"]`` (Alembic's cookbook idiom for
tests) is used as is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from dbops.bridge.env_settings import ATTRIBUTE, BOOKKEEPING_TABLES, EnvSettings, without_bookkeeping
from dbops.db.migration_session import apply_session_settings, capture_statements


def _settings_for(alembic_config: Any) -> EnvSettings:
    settings = alembic_config.attributes.get(ATTRIBUTE)
    if settings is not None:
        return settings  # type: ignore[no-any-return]
    # Plain `alembic ...`: resolve the dbops configuration from alembic.ini's directory.
    from dbops.bridge.project import env_settings
    from dbops.config import load_config

    start = Path(alembic_config.config_file_name).parent if alembic_config.config_file_name else None
    ini_url = alembic_config.get_main_option("sqlalchemy.url")
    config = load_config(cwd=start)
    if config.url_source in ("default", "alembic.ini") and ini_url and ini_url != config.url:
        config = config.with_url(ini_url, "alembic.ini")  # e.g. set by `alembic -x` hooks
    if config.url_source == "default":
        # the embedded SQLite file is the dbops CLI's announced default, never a silent fallback for
        # someone else's process (an app's startup script running `alembic upgrade head`)
        from alembic.util import CommandError

        raise CommandError(
            "dbops's env.py found no database URL: set DATABASE_URL (or DBOPS_DATABASE_URL), url in dbops.toml / "
            "[tool.dbops], or sqlalchemy.url in alembic.ini. (Only the dbops CLI falls back to ./dbops.sqlite, "
            "and says so.)")
    if alembic_config.config_file_name and _has_logging_sections(alembic_config.config_file_name):
        from logging.config import fileConfig

        fileConfig(alembic_config.config_file_name, disable_existing_loggers=False)
    tenant = (getattr(alembic_config.cmd_opts, "x", None) and
              dict(x.split("=", 1) for x in alembic_config.cmd_opts.x if "=" in x).get("tenant"))
    if tenant:  # alembic -x tenant=NAME upgrade head
        from dataclasses import replace

        config = replace(config, tenant_schema=tenant)
    return env_settings(config)


def _has_logging_sections(ini: str) -> bool:
    """fileConfig() raises KeyError('formatters') on an alembic.ini without logging sections."""
    from configparser import ConfigParser

    parser = ConfigParser(interpolation=None)
    try:
        parser.read(ini)
    except Exception:  # noqa: BLE001  alembic reads it too and reports its own errors
        return False
    return all(parser.has_section(s) for s in ("loggers", "handlers", "formatters"))


DBOPS_TABLES = BOOKKEEPING_TABLES


def include_object_for(dialect: str) -> Any:
    """An ``include_object`` hook that skips metadata objects limited to other dialects
    with ``.ddl_if(dialect=...)`` (e.g. a PostgreSQL-only GIN index on SQLite)."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and reflected and compare_to is None and name in DBOPS_TABLES:
            return False  # dbops's own bookkeeping, not the app's schema
        ddl_if = getattr(obj, "_ddl_if", None)
        if ddl_if is not None and ddl_if.dialect is not None and not reflected:
            wanted = ddl_if.dialect if isinstance(ddl_if.dialect, (tuple, list, set)) else (ddl_if.dialect,)
            return dialect in wanted
        return True

    return include_object


def configure_options(settings: EnvSettings, dialect: str) -> dict[str, Any]:
    """The keyword arguments dbops passes to ``context.configure``."""
    opts: dict[str, Any] = {
        "target_metadata": settings.metadata,
        "compare_type": True,
        "compare_server_default": True,
        "render_as_batch": dialect == "sqlite",
        "transaction_per_migration": settings.transaction_per_migration,
        "version_table": settings.version_table,
        "version_table_schema": settings.version_table_schema,
        "include_object": include_object_for(dialect),
        "on_version_apply": list(settings.on_version_apply),
    }
    overrides = dict(settings.configure_overrides)
    own = opts["include_object"]
    if overrides.get("include_object") is not None:  # the app's hook joins dbops's, it does not replace it
        theirs = overrides.pop("include_object")
        opts["include_object"] = without_bookkeeping(
            lambda obj, name, type_, reflected, compare_to: own(obj, name, type_, reflected, compare_to)
            and theirs(obj, name, type_, reflected, compare_to))
    opts.update(overrides)
    return opts


def _search_path(dialect: Any, schema: str) -> str:
    """A tenant's search path: its schema, then public (the name quoted by the dialect: it is data)."""
    return f"SET search_path TO {dialect.identifier_preparer.quote_identifier(schema)}, public"


def _tenant(connection: Any, settings: EnvSettings) -> Any:
    """Point unqualified names at the tenant's schema: SQLAlchemy constructs through the schema
    translate map, raw SQL through search_path (quoted by the dialect: tenant names are data)."""
    from sqlalchemy import text

    schema = settings.tenant_schema
    assert schema is not None  # called for a tenant only
    if connection.dialect.name == "postgresql" and not settings.pooled:  # pooled: per transaction, below
        connection.execute(text(_search_path(connection.dialect, schema)))
        if connection.in_transaction():
            connection.commit()
    return connection.execution_options(schema_translate_map={None: schema})


def _migrate(context: Any, connection: Any, settings: EnvSettings) -> None:
    if settings.tenant_schema:
        connection = _tenant(connection, settings)
    attributes = context.config.attributes
    if not attributes.get("connection") or attributes.get("dbops.guard_connection") or settings.pooled:
        tenant = [_search_path(connection.dialect, settings.tenant_schema)] if settings.tenant_schema else []
        apply_session_settings(connection, settings, extra=tenant)  # not on a connection a user handed in
    capture_statements(connection, settings)
    settings.prepared_connections.add(connection)  # the observer leaves it to this env
    context.configure(connection=connection, **configure_options(settings, connection.dialect.name))
    if settings.session_lock:
        from dbops.db.lock import hold_session_lock, release_session_lock

        hold_session_lock(connection, settings.session_lock)
        try:
            with context.begin_transaction():
                context.run_migrations()
        finally:
            failing = settings.last_statement  # the statement a failure names, not the unlock
            try:
                release_session_lock(connection, settings.session_lock)
            except Exception:  # noqa: BLE001  a broken session: its end releases the lock anyway
                pass
            settings.last_statement = failing
        return
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(context: Any = None, **configure_overrides: Any) -> None:
    """Run the current Alembic command (upgrade, revision --autogenerate, ...) for env.py.

    Extra keyword arguments go to ``context.configure`` (e.g. ``include_schemas=True``).
    """
    if context is None:
        from alembic import context as alembic_context

        context = alembic_context
    acfg = context.config
    settings = _settings_for(acfg)
    if configure_overrides:
        settings.configure_overrides.update(configure_overrides)

    if context.is_offline_mode():
        context.configure(
            url=settings.url,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **configure_options(settings, settings.url.get_backend_name()),
        )
        if settings.tenant_schema and settings.url.get_backend_name() == "postgresql":
            # the online run sets this on the connection; the script must say it too, or its
            # unqualified DDL would land in whatever schema the reader's session points at
            context.execute(_search_path(settings.url.get_dialect()(), settings.tenant_schema))
        with context.begin_transaction():
            context.run_migrations()
        return

    given = acfg.attributes.get("connection")
    if given is not None:
        _migrate(context, given, settings)
        return

    from dbops.db.engine import run_with_connection

    run_with_connection(
        settings.url,
        lambda conn: _migrate(context, conn, settings),
        connect_timeout=settings.connect_timeout,
        pooled=settings.pooled,
        application_name=settings.application_name,
    )
