"""Where the database URL comes from: a flag, a named target, the environment, the config file
(a literal, ``env:VAR`` or ``py:module:attr`` for the app's own settings object), alembic.ini, or
the embedded SQLite default. Part of :mod:`dbops.config`; imports neither SQLAlchemy nor Alembic."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbops.errors import ConfigError
from dbops.redact import redact

if TYPE_CHECKING:
    from dbops.config_targets import TargetSpec

DEFAULT_SQLITE_FILE = "dbops.sqlite"
ALEMBIC_PLACEHOLDER_URLS = {"driver://user:pass@localhost/dbname", ""}


def _python_url(spec: str, where: str, root: Path | None) -> str:
    """``py:module:attr.path`` -> the app's own URL object or string (pydantic DSN, SQLAlchemy URL)."""
    import importlib
    import sys

    module_name, sep, attrs = spec.partition(":")
    if not sep or not module_name or not attrs:
        raise ConfigError(f"The database URL in {where} is 'py:{spec}', not 'py:module:attribute' (for example "
                          "'py:app.core.config:settings.SQLALCHEMY_DATABASE_URI').")
    for entry in (str(root) if root else None, os.getcwd()):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attrs.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # the app's settings failed to load: one paragraph, no traceback
        raise ConfigError(
            f"The database URL in {where} comes from 'py:{spec}', which failed: {type(exc).__name__}: "
            f"{redact(str(exc)).splitlines()[0] if str(exc) else ''}. Usually the app's settings need environment "
            "variables that are not set here, or the module path is wrong.",
            hint=f"Check with: python -c 'import {module_name}' (from {root or os.getcwd()}), set what the app's "
            "settings need, or pass --database-url.") from exc
    render = getattr(obj, "render_as_string", None)  # an SQLAlchemy URL's str() hides the password
    return str(render(hide_password=False) if callable(render) else obj)


def expand_url(value: str, env: Mapping[str, str], where: str, root: Path | None = None) -> str:
    """Expand ``env:VAR`` to the variable's value, ``py:module:attr`` to the app's own URL."""
    if value.startswith("py:"):
        return _python_url(value[3:], where, root)
    if value.startswith("env:"):
        var = value[4:]
        got = env.get(var)
        if not got:
            raise ConfigError(
                f"The database URL in {where} is {value!r}, but the environment variable {var} "
                f"is not set. It usually holds the URL in deployed environments only.",
                hint=f"Export {var}=postgresql+psycopg://user:password@host/db, or pass --database-url.",
            )
        return got
    return value


def url_variable(spec: TargetSpec | None, env: Mapping[str, str], table: Mapping[str, Any]) -> str | None:
    """The environment variable the project's URL is read from, as resolve_url picks it without a flag: a
    target's ``url = "env:VAR"``, else DBOPS_DATABASE_URL / DATABASE_URL when set, else the config's
    ``url = "env:VAR"``; None for a literal or py: URL, alembic.ini or the default. The app most likely reads
    the same variable (replays and plugin checks set it in a child process), also when a flag names the
    database this run uses."""
    if spec is not None:
        return str(spec.url)[4:] if str(spec.url or "").startswith("env:") else None
    for var in ("DBOPS_DATABASE_URL", "DATABASE_URL"):
        if env.get(var):
            return var
    raw = str(table.get("url") or "")
    return raw[4:] if raw.startswith("env:") else None


UNRESOLVED = ("sqlite://", "not resolved (this command needs no database)")


def resolve_url(
    flag: str | None,
    spec: TargetSpec | None,
    env: Mapping[str, str],
    table: Mapping[str, Any],
    ini: Mapping[str, str],
    cwd: Path,
    *,
    needs_database: bool = True,
) -> tuple[str, str]:
    if flag:
        return expand_url(flag, env, "--database-url"), "--database-url"
    if spec is not None:
        if not spec.url:
            raise ConfigError(f"Target {spec.name!r} has no url.", hint="Add url = '...' to the target.")
        return expand_url(spec.url, env, f"target {spec.name!r}"), f"target:{spec.name}"
    for var in ("DBOPS_DATABASE_URL", "DATABASE_URL"):
        if env.get(var):
            return env[var], var
    if table.get("url"):
        if not needs_database and str(table["url"]).startswith("py:"):
            return UNRESOLVED
        try:
            return expand_url(str(table["url"]), env, "the config file", cwd), "config"
        except ConfigError:
            if needs_database:
                raise
            return UNRESOLVED  # e.g. url = "env:VAR" with VAR unset: `dbops lint FILE` needs no URL
    ini_url = ini.get("sqlalchemy.url", "").strip()
    if ini_url not in ALEMBIC_PLACEHOLDER_URLS:
        return expand_url(ini_url, env, "alembic.ini"), "alembic.ini"
    return f"sqlite:///{cwd / DEFAULT_SQLITE_FILE}", "default"
