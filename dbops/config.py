"""Resolve dbops configuration into one frozen :class:`Config`.

Precedence, highest first:

1. flags (``--database-url``, ``--target``, ``--metadata``),
2. environment (``DBOPS_DATABASE_URL``, then ``DATABASE_URL``; ``DBOPS_METADATA``),
3. the config file (``--config PATH``, else the nearest ``dbops.toml`` or
   ``pyproject.toml`` with ``[tool.dbops]``, searching upward from the working directory),
4. ``alembic.ini`` (``sqlalchemy.url``, ``script_location``),
5. the embedded default: a SQLite file ``dbops.sqlite`` in the working directory.

``--target NAME`` is a flag, so it beats the environment: asking for a target by name
and silently getting ``DATABASE_URL`` instead would be the worst surprise.

This module imports neither SQLAlchemy nor Alembic.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dbops.config_files import find_alembic_ini, find_config, read_alembic_ini, resolve_script_location
from dbops.config_targets import GroupSpec, TargetSpec, parse_groups, parse_targets
from dbops.config_url import resolve_url, url_variable
from dbops.config_values import (
    did_you_mean,
    drift_ignore,
    lint_settings,
    lock_mode,
    module_list,
    paths,
    pattern,
    seconds,
)
from dbops.errors import ConfigError
from dbops.redact import redact

_KNOWN_KEYS = {
    "url", "metadata", "script_location", "alembic_ini", "version_table", "version_table_schema",
    "transaction_per_migration", "connect_timeout", "targets", "drift", "data_migrations",
    "lock_timeout", "statement_timeout", "lock_wait", "groups", "lock_mode", "lease_seconds", "env_context",
    "bootstrap", "version_locations", "ini_section", "search_path", "entities", "revision_filename",
    "lint", "metadata_imports",
}
@dataclass(frozen=True)
class Config:
    """Everything a command needs; built by :func:`load_config`.

    ``url`` is the real URL (it may hold a password): render ``masked_url`` instead.
    """

    root: Path
    url: str
    url_source: str
    script_location: Path
    # the environment variable the URL was read from (DATABASE_URL, or url = "env:VAR"); the app likely reads
    # it too, so a scratch replay refused by its env.py can be retried with it naming the scratch database
    url_env: str | None = None
    config_file: Path | None = None
    alembic_ini: Path | None = None
    metadata: str | None = None
    target: str | None = None
    version_table: str = "alembic_version"
    version_table_schema: str | None = None
    # directories of revision files (Alembic's version_locations), relative to root; None: alembic.ini's
    version_locations: tuple[str, ...] | None = None
    # alembic.ini's `databases = a, b` (the multidb template): env.py migrates several databases at once
    multidb: str | None = None
    ini_section: str = "alembic"  # the section of alembic.ini env.py reads (alembic --name)
    search_path: tuple[str, ...] | None = None  # set on the migration's session (quoted schema names)
    head_revision: str = "head"  # where `upgrade` goes by default; a target's `revision` (e.g. "reports@head")
    metadata_forced: bool = False  # metadata came from --metadata / DBOPS_METADATA: a target's does not replace it
    x_arguments: tuple[str, ...] = ()  # -x KEY=VALUE for env.py (context.get_x_argument), as alembic -x
    transaction_per_migration: bool = True
    connect_timeout: float = 5.0
    targets: Mapping[str, TargetSpec] = field(default_factory=dict)
    drift_ignore: tuple[str, ...] = ()
    lint_disable: tuple[str, ...] = ()  # [lint] disable: rule ids lint never reports for this project
    lint_exclude: tuple[str, ...] = ()  # [lint] exclude: globs of revision files (relative to the config file)
    data_migrations: Path | None = None  # directory of data migration modules
    lock_timeout: float | None = 5.0  # seconds per DDL statement while migrating; None/0 = no limit
    statement_timeout: float | None = None  # seconds per statement while migrating
    lock_wait: float = 60.0  # seconds to wait for another runner's migration lock
    # session: advisory lock / GET_LOCK held by a session; lease: a dbops_lock row renewed by a heartbeat
    # (correct behind PgBouncer in transaction mode); auto: lease when a pooler/proxy is detected
    lock_mode: str = "auto"
    lease_seconds: float = 30.0  # a lease not renewed for this long is taken over
    # "module:attr": a callable returning a context manager that env.py needs to run inside, e.g. a Flask
    # app's app_context for a Flask-Migrate env.py ("microblog:app.app_context")
    env_context: str | None = None
    # "module:function(connection)": run on an empty database (no revision applied) before the first
    # revision, in scratch replays too; for chains whose first revision expects what the app made outside
    # Alembic (an extension, a schema, tables from create_all)
    bootstrap: str | None = None
    # "module:attr": the app's alembic_utils entities (functions, triggers, views) check-drift compares
    entities: str | None = None
    metadata_imports: tuple[str, ...] = ()  # modules imported before `metadata` (env.py's side-effect imports)
    # a regular expression every revision file's name must match (lint rule DB008), e.g. r"^\d{4}_[a-z0-9_]+\.py$"
    revision_filename: str | None = None
    groups: Mapping[str, GroupSpec] = field(default_factory=dict)
    tenant_schema: str | None = None  # set on per-tenant configs made by fan-out

    @property
    def masked_url(self) -> str:
        return redact(self.url)

    @property
    def uses_default_database(self) -> bool:
        return self.url_source == "default"

    def with_url(self, url: str, source: str = "--database-url") -> Config:
        return replace(self, url=url, url_source=source)


def load_config(
    *,
    config_path: str | os.PathLike[str] | None = None,
    database_url: str | None = None,
    target: str | None = None,
    metadata: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    needs_database: bool = True,
) -> Config:
    """Build the :class:`Config` for a command from flags, environment and files. ``needs_database``
    False (heads, history, lint): a ``py:`` URL is not imported (the app's settings may need a whole
    runtime environment), and the URL is a placeholder that is never connected to."""
    env = os.environ if environ is None else environ
    start = Path(cwd or os.getcwd()).resolve()
    config_file, table = find_config(start, Path(config_path) if config_path else None)
    root = config_file.parent if config_file else start
    _check_keys(table, config_file)

    alembic_ini = find_alembic_ini(root, table, config_file)
    ini = read_alembic_ini(alembic_ini, str(table.get("ini_section") or "alembic")) if alembic_ini else {}

    targets = parse_targets(table.get("targets", {}), config_file)
    spec: TargetSpec | None = None
    if target is not None:
        spec = targets.get(target)
        if spec is None:
            known = ", ".join(sorted(targets)) or "none are configured"
            raise ConfigError(
                f"Unknown target {target!r} (known targets: {known}). Targets are declared as "
                f"[tool.dbops.targets.<name>] in pyproject.toml or [targets.<name>] in dbops.toml.",
                hint="Run: dbops current --target <name> with one of the names above.",
            )

    url, source = resolve_url(database_url, spec, env, table, ini, start, needs_database=needs_database)
    script_location = resolve_script_location(root, table, ini, alembic_ini)
    forced = metadata or env.get("DBOPS_METADATA")
    meta = forced or table.get("metadata") or ini.get("dbops_metadata")

    lint = lint_settings(table.get("lint", {}), config_file)
    config = Config(
        root=root,
        url=url,
        url_source=source,
        url_env=url_variable(spec, env, table),
        script_location=script_location,
        config_file=config_file,
        alembic_ini=alembic_ini,
        metadata=meta,
        metadata_forced=bool(forced),
        version_table=table.get("version_table", "alembic_version"),
        version_table_schema=table.get("version_table_schema"),
        version_locations=paths(table["version_locations"], "the project", config_file)
        if "version_locations" in table else None,
        multidb=ini.get("databases"),
        ini_section=str(table.get("ini_section") or "alembic"),
        search_path=paths(table["search_path"], "the project", config_file, what="search_path")
        if "search_path" in table else None,
        transaction_per_migration=bool(table.get("transaction_per_migration", True)),
        connect_timeout=float(env.get("DBOPS_CONNECT_TIMEOUT") or table.get("connect_timeout", 5.0)),
        targets=targets,
        drift_ignore=drift_ignore(table.get("drift", {}), config_file),
        lint_disable=lint["disable"],
        lint_exclude=lint["exclude"],
        data_migrations=(root / str(table.get("data_migrations", "data_migrations"))).resolve(),
        lock_timeout=seconds(table, "lock_timeout", 5.0, config_file),
        statement_timeout=seconds(table, "statement_timeout", None, config_file),
        lock_wait=seconds(table, "lock_wait", 60.0, config_file) or 0.0,
        lock_mode=lock_mode(env.get("DBOPS_LOCK_MODE") or table.get("lock_mode", "auto"), config_file),
        lease_seconds=seconds(table, "lease_seconds", 30.0, config_file) or 30.0,
        env_context=str(table["env_context"]) if table.get("env_context") else None,
        bootstrap=str(table["bootstrap"]) if table.get("bootstrap") else None,
        entities=str(table["entities"]) if table.get("entities") else None,
        metadata_imports=module_list(table.get("metadata_imports"), config_file),
        revision_filename=pattern(table.get("revision_filename"), "revision_filename", config_file),
        groups=parse_groups(table.get("groups", {}), targets, config_file),
    )
    if config.search_path and not config.version_table_schema:  # where an unqualified version table lands
        config = replace(config, version_table_schema=config.search_path[0])
    return apply_target(config, spec) if spec is not None else config


def apply_target(config: Config, spec: TargetSpec) -> Config:
    """``config`` for one named target: its settings replace the project's (the URL is resolved by the
    caller). The one place this is done, for --target and for fan-out alike; --metadata still wins."""
    alembic_ini = config.alembic_ini
    ini: dict[str, str] = {}
    if spec.alembic_ini:
        alembic_ini = (config.root / spec.alembic_ini).resolve()
        if not alembic_ini.is_file():
            raise ConfigError(
                f"alembic.ini not found at {alembic_ini} (alembic_ini of target {spec.name!r} in "
                f"{config.config_file}).",
                hint="Fix the target's alembic_ini (relative to the project root).",
            )
        ini = read_alembic_ini(alembic_ini, spec.ini_section or "alembic")
    elif spec.ini_section and alembic_ini is not None:
        ini = read_alembic_ini(alembic_ini, spec.ini_section)
    if spec.script_location:
        script_location = (config.root / spec.script_location).resolve()
    elif ini:
        script_location = resolve_script_location(config.root, {}, ini, alembic_ini)
    else:
        script_location = config.script_location
    return replace(
        config,
        target=spec.name,
        metadata=config.metadata if config.metadata_forced else (spec.metadata or config.metadata),
        script_location=script_location,
        alembic_ini=alembic_ini,
        version_table=spec.version_table or config.version_table,
        version_table_schema=spec.version_table_schema or (spec.search_path[0] if spec.search_path else None)
        or config.version_table_schema,
        version_locations=spec.version_locations or config.version_locations,
        multidb=ini.get("databases") if ini else config.multidb,
        ini_section=spec.ini_section or config.ini_section,
        search_path=spec.search_path or config.search_path,
        head_revision=spec.revision or config.head_revision,
    )


# -- config file discovery -------------------------------------------------------------

def _check_keys(table: Mapping[str, Any], config_file: Path | None) -> None:
    unknown = sorted(set(table) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"Unknown dbops setting(s) {', '.join(unknown)} in {config_file}{did_you_mean(unknown, _KNOWN_KEYS)}. "
            f"Usually a typo; the known settings are {', '.join(sorted(_KNOWN_KEYS))}.",
            hint="Fix the key names, then re-run the command.",
        )


