"""From a dbops :class:`Config` to what Alembic needs: the alembic Config, the script
directory, the user's MetaData and the settings env.py reads."""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from pathlib import Path
from typing import Any

from dbops.bridge.env_settings import ATTRIBUTE, EnvSettings
from dbops.config import Config
from dbops.errors import ConfigError, RevisionError


def _add_to_path(root: Path) -> None:
    entry = str(root)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def _import_module(module_name: str, root: Path, origin: str) -> Any:
    _add_to_path(root)
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" at {Path(where.filename).name}:{where.lineno}" if where else ""
        raise ConfigError(
            f"Could not import {module_name!r} (from {origin}): "
            f"{type(exc).__name__}: {exc}{at}. Usually the module path is wrong, the app's "
            f"package is not importable from {root}, or the module itself fails on import.",
            hint=f"Check with: python -c 'import {module_name}' (run from {root}); -v shows the traceback.",
        ) from exc


def import_attr(spec: str, root: Path, key: str, example: str) -> Any:
    """Import ``module:attr`` (attr may be dotted) for config key ``key``; one-paragraph errors."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"{key} = {spec!r} is not in the form 'module:attr' (for example {example!r}).",
            hint=f"Fix {key} in [tool.dbops] / dbops.toml.",
        )
    obj = _import_module(module_name, root, f"{key} = {spec!r}")
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(
                f"{module_name!r} has no attribute {attr!r} (from {key} = {spec!r}).",
                hint=f"Point {key} at an existing object, e.g. {example!r}.",
            ) from None
    return obj


def import_metadata(spec: str, root: Path, imports: tuple[str, ...] = ()) -> Any:
    """Import ``module:attr`` (attr may be dotted) and return a MetaData (or a list of them), after the
    ``imports`` (``metadata_imports``: the modules env.py imports for their side effect of registering
    the models' tables).

    A class with a ``metadata`` attribute (``SQLModel``, a ``DeclarativeBase``) is accepted
    for its metadata.
    """
    from sqlalchemy import MetaData

    for module_name in imports:
        _import_module(module_name, root, f"metadata_imports = {list(imports)!r}")

    obj = import_attr(spec, root, "metadata", "app.models:SQLModel.metadata")
    if not isinstance(obj, MetaData) and isinstance(getattr(obj, "metadata", None), MetaData):
        obj = obj.metadata
    items = obj if isinstance(obj, (list, tuple)) else [obj]
    if not items or not all(isinstance(m, MetaData) for m in items):
        raise ConfigError(
            f"metadata = {spec!r} points at a {type(obj).__name__}, not a sqlalchemy MetaData.",
            hint="Point it at your models' MetaData, e.g. 'app.models:SQLModel.metadata'.",
        )
    return obj


def env_settings(config: Config, *, with_metadata: bool = True) -> EnvSettings:
    from dbops.db.url import parse_url

    metadata = import_metadata(config.metadata, config.root, config.metadata_imports) \
        if (with_metadata and config.metadata) else None
    return EnvSettings(
        url=parse_url(config.url),
        metadata=metadata,
        env_context=import_attr(config.env_context, config.root, "env_context", "app:app.app_context")
        if config.env_context else None,
        version_table=config.version_table,
        version_table_schema=config.tenant_schema or config.version_table_schema,
        tenant_schema=config.tenant_schema,
        search_path=config.search_path,
        foreign_env=not uses_dbops_env(config),
        transaction_per_migration=config.transaction_per_migration,
        connect_timeout=config.connect_timeout,
    )


def alembic_config(config: Config, settings: EnvSettings | None = None) -> Any:
    """An ``alembic.config.Config`` for this project with the dbops settings attached."""
    from alembic.config import Config as AlembicConfig

    # cmd_opts as the alembic CLI builds them (env.py files read .x, .cmd, .autogenerate, ...); quiet:
    # Alembic's own "Generating ... done" lines would pollute stdout (dbops renders results)
    cmd_opts = argparse.Namespace(config=str(config.alembic_ini or "alembic.ini"), name="alembic",
                                  raiseerr=False, quiet=True, x=None, cmd=None)
    cmd_opts.name = config.ini_section
    cmd_opts.x = list(config.x_arguments) or None
    if config.alembic_ini is not None:
        acfg = AlembicConfig(file_=str(config.alembic_ini), ini_section=config.ini_section, cmd_opts=cmd_opts)
    else:
        acfg = AlembicConfig(ini_section=config.ini_section, cmd_opts=cmd_opts)
    _add_to_path(config.root)
    location = config.script_location
    if location.is_absolute() and not location.is_dir():
        raise ConfigError(
            f"The migrations directory {location} does not exist (script_location). Usually "
            "dbops runs from the wrong directory, or the project has no migration environment yet.",
            hint="Run from the project root, set script_location in [tool.dbops], or run: dbops init",
        )
    acfg.set_main_option("script_location", str(location).replace("%", "%%"))
    if config.version_locations:
        _set_version_locations(acfg, [str((config.root / p).resolve()) for p in config.version_locations])
    acfg.attributes[ATTRIBUTE] = settings if settings is not None else env_settings(config)
    # a project's own env.py reads its URL here (the stock template does): hand it the one dbops was given
    url = acfg.attributes[ATTRIBUTE].url
    acfg.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    return acfg


def _set_version_locations(acfg: Any, paths: list[str]) -> None:
    """Alembic's version_locations, joined the way this alembic.ini says its paths are separated."""
    import os

    separators = {"space": " ", "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}
    raw = acfg.get_main_option("path_separator") or acfg.get_main_option("version_path_separator")
    # alembic's own template once wrote "version_path_separator = os  # Use os.pathsep." and configparser
    # keeps the comment: Alembic never reads it until version_locations is set, as dbops does here
    name = raw.split("#", 1)[0].strip() if raw else "newline"
    if name not in separators:
        name = "newline"
    acfg.set_main_option("path_separator", name)
    acfg.set_main_option("version_locations", separators.get(name, "\n").join(paths).replace("%", "%%"))


def as_alembic_cli(acfg: Any, verb: str, **values: Any) -> None:
    """Make ``acfg.cmd_opts`` what ``alembic VERB ...`` would have built: ``cmd = (fn, positional,
    kwarg)`` and one attribute per argument of ``alembic.command.VERB`` (given ``values``, else the
    CLI's defaults: False for flags, None otherwise)."""
    import inspect

    from alembic import command

    fn = getattr(command, verb)
    spec = inspect.getfullargspec(fn)
    names = spec.args[1:]
    n = len(spec.defaults or ())
    positional, kwarg = (names[:-n], names[-n:]) if n else (names, [])
    defaults = dict(zip(kwarg, spec.defaults or (), strict=False))
    acfg.cmd_opts.cmd = (fn, positional, kwarg)
    for name in (*positional, *kwarg):
        setattr(acfg.cmd_opts, name, values.get(name, defaults.get(name)))


_SCRIPTS: dict[tuple[Any, ...], Any] = {}  # loaded ScriptDirectory by directories and their files' identity


def _scripts_key(acfg: Any) -> tuple[Any, ...] | None:
    """What the loaded revision map depends on: the directories, and each revision file's name, size and
    mtime (a file added, removed or edited since is a new key). None when it cannot be told."""
    import os

    try:
        location = acfg.get_main_option("script_location")
        dirs = acfg.get_version_locations_list() or [os.path.join(str(location), "versions")]
        files = []
        for directory in dirs:
            with os.scandir(directory) as entries:
                files += sorted((directory, e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries
                                if e.name.endswith(".py"))
        return (str(location), tuple(dirs), tuple(files), acfg.get_main_option("recursive_version_locations"))
    except (OSError, TypeError, ValueError):
        return None


def _raising_file(exc: BaseException, acfg: Any) -> tuple[str, int] | None:
    """(file, line) of the revision file the exception was raised in, from its traceback."""
    import os
    import traceback

    location = str(acfg.get_main_option("script_location") or "")
    dirs = [os.path.realpath(d) for d in (acfg.get_version_locations_list() or [os.path.join(location, "versions")])]
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = os.path.realpath(frame.filename)
        if any(path.startswith(d + os.sep) for d in dirs):
            return frame.filename, frame.lineno or 0
    return None


def _refuse_broken_graph(script: Any, warnings_: list[str]) -> None:
    """A revision id in two files, or a down_revision that names no file: one paragraph naming the
    files (Alembic only warns, keeps one of the two, and fails later with a KeyError)."""
    import re

    duplicated = sorted({m.group(1) for w in warnings_ for m in [re.match(r"Revision (\S+) is present more than once",
                                                                           w)] if m})
    missing = [m.groups() for w in warnings_ for m in [re.match(r"Revision (\S+) referenced from \S+ -> (\S+)", w)]
               if m and w.endswith("is not present")]
    if not duplicated and not missing:
        return
    files: dict[str, list[str]] = {}
    for found in script._load_revisions():  # every file, duplicates included
        files.setdefault(found.revision, []).append(Path(found.path).name)
    if duplicated:
        rev = duplicated[0]
        raise RevisionError(
            f"Revision id {rev} is in {len(files.get(rev, []))} files ({', '.join(sorted(files.get(rev, [])))}); "
            "each revision needs an id of its own. Usually a file was copied to start a new revision.",
            hint="Give the copy a new id (revision = '...') and point its down_revision where it belongs, then: "
            "dbops heads --check",
        )
    absent, child = missing[0]
    raise RevisionError(
        f"Revision {child} ({', '.join(files.get(child, [])) or 'its file'}) names down_revision {absent}, which is "
        "in no revision file. Usually the file it followed was deleted or renamed, or the id has a typo.",
        hint=f"Fix down_revision in {', '.join(files.get(child, [])) or child}, then: dbops history",
    )


def _refuse_hidden_revisions(script: Any) -> None:
    """No revision file in the version directories, but revision files in their subdirectories (Prefect's
    versions/postgresql and versions/sqlite, chosen by its env.py at run time): refuse rather than report an
    empty chain ("nothing to do" on a database the project's own env.py would migrate)."""
    if script.recursive_version_locations:
        return
    hidden: dict[str, int] = {}
    for location in script._version_locations:
        if not location.is_dir():
            continue
        for sub in sorted(p for p in location.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))):
            count = sum(1 for f in sub.rglob("*.py") if "down_revision" in f.read_text(errors="replace"))
            if count:
                hidden[str(sub)] = count
    if hidden:
        where = ", ".join(f"{path} ({n} file(s))" for path, n in hidden.items())
        raise ConfigError(
            f"The version directory {', '.join(str(p) for p in script._version_locations)} holds no revision file, "
            f"but its subdirectories do: {where}. Alembic reads subdirectories only with recursive_version_locations "
            "= true; an env.py that picks one per database at run time (context.script.version_locations = ...) "
            "does so after dbops has read the chain, so dbops refuses instead of reporting an empty one.",
            hint="Name the directory in dbops.toml: version_locations = [\"<the directory env.py uses>\"] (per target "
            "under [targets.NAME] when it depends on the database); dbops init suggests it",
        )


def script_directory(acfg: Any) -> Any:
    """Alembic's ScriptDirectory with its revision files loaded, errors made readable. Loaded once per
    process for the same files (check-drift and a replay would otherwise import every revision file
    several times)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    key = _scripts_key(acfg)
    if key is not None and key in _SCRIPTS:
        return _SCRIPTS[key]
    try:
        import warnings

        script = ScriptDirectory.from_config(acfg)
        with warnings.catch_warnings(record=True) as caught:  # Alembic warns, then fails obscurely later
            warnings.simplefilter("always")
            try:
                script.revision_map.heads  # noqa: B018  (loads every revision file now)
            except Exception:
                _refuse_broken_graph(script, [str(w.message) for w in caught])
                raise
        _refuse_broken_graph(script, [str(w.message) for w in caught])
        if not script.revision_map.heads:
            _refuse_hidden_revisions(script)
        if key is not None:
            if len(_SCRIPTS) >= 8:
                _SCRIPTS.clear()
            _SCRIPTS[key] = script
    except (RevisionError, ConfigError):
        raise
    except SyntaxError as exc:
        raise RevisionError(
            f"Revision file {exc.filename} has a syntax error at line {exc.lineno}: {exc.msg}. "
            "Alembic imports every revision file, so one broken file stops every command.",
            hint=f"Fix {Path(exc.filename or '?').name}, then check with: dbops history",
        ) from exc
    except CommandError as exc:
        raise ConfigError(
            f"Alembic could not load the migration scripts: {exc}.",
            hint="Check script_location, or run: dbops init",
        ) from exc
    except Exception as exc:
        where = _raising_file(exc, acfg)
        if where is not None:
            raise RevisionError(
                f"Revision file {where[0]} raised {type(exc).__name__}: {exc} at line {where[1]} while Alembic "
                "imported it. Alembic imports every revision file, so one broken file stops every command.",
                hint=f"Fix {Path(where[0]).name} (run with -v for the traceback), then: dbops history",
            ) from exc
        raise RevisionError(
            f"Loading the revision files failed: {type(exc).__name__}: {exc}. A revision file "
            "raises on import or its revision identifiers are inconsistent.",
            hint="Run with -v for the traceback, fix the file, then: dbops history",
        ) from exc
    return script


def load_scripts(config: Config) -> Any:
    """The project's revision scripts (Alembic ScriptDirectory), without importing the models."""
    return script_directory(alembic_config(config, env_settings(config, with_metadata=False)))


def revision_message(script: Any) -> str:
    """A revision's message, one line: the first line of Alembic's ``doc`` (the docstring's first paragraph,
    which in hand-written files often runs on into "Revision ID: ..." lines)."""
    doc = (script.doc or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def find_revision(script: Any, rev: str) -> Any | None:
    """The chain's Script for ``rev``; None when it has no such revision (Alembic raises for an unknown
    or ambiguous id)."""
    try:
        return script.get_revision(rev)
    except Exception:  # noqa: BLE001  Alembic's ResolutionError / KeyError for an unknown id
        return None


def require_known(script: Any, heads: tuple[str, ...], config: Config, *, purge_hint: bool = False) -> None:
    # purge_hint: a verb that would have run something (upgrade, downgrade, stamp) says nothing was
    """Refuse, in one paragraph, a database whose version table names revisions that have no file here."""
    unknown = [head for head in heads if find_revision(script, head) is None]
    if unknown:
        from dbops.bridge.squashed import archives

        for archive in archives(Path(config.script_location)):
            squashed = {r.revision for r in archive.revisions} & set(unknown)
            if squashed:
                raise RevisionError(
                    f"The database is at revision {', '.join(sorted(squashed))}, which `dbops squash` replaced with "
                    f"the baseline {archive.baseline} on {archive.squashed_at}: the database is behind the squash, "
                    "so this chain cannot continue it" + ("; nothing was run." if purge_hint else "."),
                    hint=f"Upgrade it to {archive.baseline} with the code from before the squash (the old files are "
                    f"in {archive.directory}), then with this code; see: dbops history",
                )
        hint = "Check out the code that matches the database, or see: dbops history"
        if purge_hint:
            hint += ("; if you know what the database holds, record it with: dbops stamp <revision> --purge")
        raise RevisionError(
            f"The database is at revision {', '.join(unknown)}, which is not among the revision files in "
            f"{config.script_location}. Usually the database was migrated from another branch or a newer release "
            "of the app" + ("; nothing was run." if purge_hint else "."),
            hint=hint,
        )


def uses_dbops_env(config: Config) -> bool:
    """Whether the project's env.py is dbops's (it imports dbops.alembic_env) rather than its own."""
    env = Path(config.script_location) / "env.py"
    try:
        return "dbops.alembic_env" in env.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # no env.py to read: dbops's own rules (and its errors) apply


def database_heads(conn: Any, config: Config, *, table: tuple[str, str | None] | None = None,
                   exists: bool | None = None) -> tuple[str, ...]:
    """The revisions recorded in the database's version table (sorted; empty for base); ``table``
    (name, schema) when env.py chose its own. What Alembic's MigrationContext.get_current_heads reads
    (the table's ``version_num`` rows, none when the table is missing), without building a context.
    ``exists``: the caller knows whether the table exists (None: ask)."""
    from sqlalchemy import text

    name, schema = table or (config.version_table, config.version_table_schema)
    if exists is False or (exists is None and not conn.dialect.has_table(conn, name, schema=schema)):
        return ()
    prep = conn.dialect.identifier_preparer
    qualified = (f"{prep.quote_schema(schema)}." if schema else "") + prep.quote(name)
    return tuple(sorted(str(r[0]) for r in conn.execute(text(f"SELECT version_num FROM {qualified}"))))
