"""Validation of single dbops settings (seconds, lock mode, [lint], [drift], lists of paths and modules,
patterns): each returns the value or raises a one-paragraph ConfigError naming the file. Part of
:mod:`dbops.config`; imports neither SQLAlchemy nor Alembic."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dbops.errors import ConfigError

LOCK_MODES = ("auto", "session", "lease")


def lock_mode(value: Any, config_file: Path | None) -> str:
    if value not in LOCK_MODES:
        raise ConfigError(f"lock_mode in {config_file or 'DBOPS_LOCK_MODE'} must be one of {', '.join(LOCK_MODES)}, "
                          f"not {value!r}.",
                          hint="auto (the default) uses a lease when a pooler such as PgBouncer is in between.")
    return str(value)


def seconds(table: Mapping[str, Any], key: str, default: float | None, config_file: Path | None) -> float | None:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{key} in {config_file} must be a number of seconds (0 = none), not {value!r}.")
    return float(value) or None


def lint_settings(raw: Any, config_file: Path | None) -> dict[str, tuple[str, ...]]:
    example = "Example: [tool.dbops.lint] disable = ['DB003'], exclude = ['migrations/versions/2019_*.py']"
    if not isinstance(raw, dict) or set(raw) - {"disable", "exclude"}:
        wrong = sorted(set(raw) - {"disable", "exclude"}) if isinstance(raw, dict) else ["(not a table)"]
        raise ConfigError(f"Unknown setting(s) {', '.join(wrong)} under [lint] in {config_file}"
                          f"{did_you_mean(wrong, ['disable', 'exclude'])}; [lint] takes disable and exclude.",
                          hint=example)
    values: dict[str, tuple[str, ...]] = {}
    for key in ("disable", "exclude"):
        items = raw.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"[lint] {key} in {config_file} must be a list of strings.", hint=example)
        values[key] = tuple(items)
    import re

    bad = [r for r in values["disable"] if not re.fullmatch(r"DB\d{3}", r)]
    if bad:
        raise ConfigError(f"[lint] disable in {config_file} names {', '.join(map(repr, bad))}, which are not rule ids.",
                          hint="Rule ids look like DB002; see them with: dbops lint --help")
    return values


def drift_ignore(raw: Any, config_file: Path | None) -> tuple[str, ...]:
    from dbops.drift.kinds import KINDS, unknown_kind

    if isinstance(raw, dict) and set(raw) - {"ignore"}:
        wrong = sorted(set(raw) - {"ignore"})
        raise ConfigError(
            f"Unknown setting(s) {', '.join(wrong)} under [drift] in {config_file}{did_you_mean(wrong, ['ignore'])}; "
            "[drift] takes ignore.",
            hint="Example: [tool.dbops.drift] ignore = ['index:ix_*_gin', 'table:celery_*']",
        )
    ignore = raw.get("ignore", []) if isinstance(raw, dict) else None
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise ConfigError(
            f"[drift] ignore in {config_file} must be a list of 'kind:glob' strings.",
            hint="Example: [tool.dbops.drift] ignore = ['index:ix_*_gin', 'table:celery_*']",
        )
    bad = [p for p in ignore if unknown_kind(p)]
    if bad:
        raise ConfigError(
            f"[drift] ignore in {config_file} names unknown kind(s): {', '.join(repr(p) for p in bad)}; the kinds are "
            f"{', '.join(KINDS)} (or a bare glob for any kind).",
            hint="Fix the patterns, e.g. 'index:ix_*_gin'.",
        )
    return tuple(ignore)


def did_you_mean(wrong: list[str], known: list[str] | set[str]) -> str:
    import difflib

    close = [m for w in wrong for m in difflib.get_close_matches(w, sorted(known), n=1)]
    return f" (did you mean {', '.join(close)}?)" if close else ""


def pattern(raw: Any, key: str, config_file: Path | None) -> str | None:
    if raw is None or raw == "":
        return None
    import re

    try:
        re.compile(str(raw))
    except re.error as exc:
        raise ConfigError(f"{key} in {config_file} is not a regular expression ({exc}): {raw!r}.",
                          hint=f'Example: {key} = "^\\d{{4}}_[a-z0-9_]+\\.py$"') from exc
    return str(raw)


def paths(raw: Any, where: str, config_file: Path | None, *, what: str = "version_locations") -> tuple[str, ...]:
    """version_locations (directories relative to the project root) or search_path (schema names): a
    list of names, or one."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) and p for p in raw):
        example = ('version_locations = ["migrations/versions", "migrations/versions_postgresql"]'
                   if what == "version_locations" else 'search_path = ["app", "public"]')
        raise ConfigError(f"{what} for {where} in {config_file} must be a list of names.", hint=f"Example: {example}")
    return tuple(raw)


def module_list(value: Any, config_file: Path | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"metadata_imports in {config_file} must be a list of module names, not {value!r}.",
                          hint='For example: metadata_imports = ["app.models"]')
    return tuple(v.strip() for v in value)
