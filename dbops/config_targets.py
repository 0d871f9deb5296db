"""Named databases and groups of them: ``[tool.dbops.targets.<name>]`` and ``[tool.dbops.groups.<name>]``,
parsed and checked. Part of :mod:`dbops.config`; imports neither SQLAlchemy nor Alembic."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbops.config_values import did_you_mean, paths
from dbops.errors import ConfigError

_GROUP_KEYS = {"targets", "url_template", "names", "names_sql", "schemas_sql", "url"}
_TARGET_KEYS = {"url", "metadata", "script_location", "version_table", "version_table_schema", "version_locations",
                "alembic_ini", "ini_section", "search_path", "revision"}


@dataclass(frozen=True)
class TargetSpec:
    """One named database from ``[tool.dbops.targets.<name>]``."""

    name: str
    url: str | None = None
    metadata: str | None = None
    script_location: str | None = None
    version_table: str | None = None
    version_table_schema: str | None = None
    version_locations: tuple[str, ...] | None = None  # e.g. a per-dialect version directory
    alembic_ini: str | None = None  # the target's own alembic.ini (relative to the project root)
    ini_section: str | None = None  # its section in alembic.ini (alembic --name), default "alembic"
    search_path: tuple[str, ...] | None = None  # schemas set as search_path on the migration's session
    # the revision this target is at when it is up to date: a branch head ("reports@head") for a
    # database that holds one branch of a multi-branch history; `upgrade` goes there by default and
    # `current` counts pending revisions against it
    revision: str | None = None


@dataclass(frozen=True)
class GroupSpec:
    """``[tool.dbops.groups.<name>]``: a static list of ``targets``; or databases from a
    ``url_template`` ("...tenant_{name}") with ``names`` or ``names_sql``; or tenant schemas
    found by ``schemas_sql`` in the database at ``url`` (each migrated with a schema translate map,
    its own version table in its schema)."""

    name: str
    targets: tuple[str, ...] = ()
    url_template: str | None = None
    names: tuple[str, ...] = ()
    names_sql: str | None = None
    schemas_sql: str | None = None
    url: str | None = None


def parse_targets(raw: Any, config_file: Path | None) -> dict[str, TargetSpec]:
    if not isinstance(raw, dict):
        raise ConfigError(f"'targets' in {config_file} must be a table of tables.")
    targets: dict[str, TargetSpec] = {}
    for name, body in raw.items():
        if not isinstance(body, dict):
            raise ConfigError(
                f"Target {name!r} in {config_file} must be a table with at least url = '...'.",
                hint=f"Example: [tool.dbops.targets.{name}] url = 'env:DATABASE_URL'",
            )
        unknown = sorted(set(body) - _TARGET_KEYS)
        if unknown:
            raise ConfigError(
                f"Unknown setting(s) {', '.join(unknown)} for target {name!r} in {config_file}"
                f"{did_you_mean(unknown, _TARGET_KEYS)}; a target takes {', '.join(sorted(_TARGET_KEYS))}."
            )
        for key in ("version_locations", "search_path"):
            if key in body:
                body = {**body, key: paths(body[key], f"target {name!r}", config_file, what=key)}
        if "revision" in body and (not isinstance(body["revision"], str) or not body["revision"].strip()):
            raise ConfigError(
                f"revision for target {name!r} in {config_file} must be a revision or branch head as text, "
                f"got {body['revision']!r}.", hint='Example: revision = "reports@head"')
        targets[name] = TargetSpec(name=name, **body)
    return targets


def parse_groups(raw: Any, targets: Mapping[str, TargetSpec], config_file: Path | None) -> dict[str, GroupSpec]:
    if not isinstance(raw, dict):
        raise ConfigError(f"'groups' in {config_file} must be a table of tables.")
    groups: dict[str, GroupSpec] = {}
    for name, body in raw.items():
        unknown = sorted(set(body) - _GROUP_KEYS) if isinstance(body, dict) else ["(not a table)"]
        if unknown:
            raise ConfigError(
                f"Group {name!r} in {config_file}: unknown setting(s) {', '.join(unknown)}; a group takes "
                f"{', '.join(sorted(_GROUP_KEYS))}.",
                hint=f"Example: [tool.dbops.groups.{name}] schemas_sql = \"SELECT nspname FROM pg_namespace "
                "WHERE nspname LIKE 'tenant_%'\"",
            )
        kinds = [k for k in ("targets", "url_template", "schemas_sql") if body.get(k)]
        if len(kinds) != 1:
            raise ConfigError(
                f"Group {name!r} in {config_file} must set exactly one of targets, url_template or schemas_sql "
                f"(it sets {', '.join(kinds) or 'none'}).")
        missing = [t for t in body.get("targets", []) if t not in targets]
        if missing:
            raise ConfigError(f"Group {name!r} names unknown target(s) {', '.join(missing)}.",
                              hint="Declare them under [tool.dbops.targets.<name>].")
        if body.get("url_template") and "{name}" not in body["url_template"]:
            raise ConfigError(f"Group {name!r}: url_template must contain {{name}}.")
        if body.get("url_template") and not (body.get("names") or body.get("names_sql")):
            raise ConfigError(f"Group {name!r}: url_template needs names = [...] or names_sql = '...'.")
        groups[name] = GroupSpec(
            name=name, targets=tuple(body.get("targets", ())), url_template=body.get("url_template"),
            names=tuple(body.get("names", ())), names_sql=body.get("names_sql"),
            schemas_sql=body.get("schemas_sql"), url=body.get("url"),
        )
    return groups
