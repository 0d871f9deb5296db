"""Where dbops's configuration is found, and how the files are read: the nearest dbops.toml or
pyproject.toml with [tool.dbops] (or --config), alembic.ini, and the migrations directory they
name. config.py turns what these return into one Config. Neither SQLAlchemy nor Alembic here.
"""
from __future__ import annotations

import configparser
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dbops.errors import ConfigError


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}. The file is read for dbops settings.",
            hint=f"Fix the syntax in {path}, then re-run the command.",
        ) from exc
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.", hint="Check the --config path.") from exc


def table_of(path: Path) -> dict[str, Any] | None:
    """The dbops table of a config file, or None when it has none."""
    if path.name == "pyproject.toml":
        tool = read_toml(path).get("tool", {})
        return tool.get("dbops") if isinstance(tool.get("dbops"), dict) else None
    if path.suffix == ".toml":
        data = read_toml(path)
        inner = data.get("tool", {}).get("dbops") if isinstance(data.get("tool"), dict) else None
        return inner if isinstance(inner, dict) else data
    return None


def find_config(start: Path, explicit: Path | None) -> tuple[Path | None, dict[str, Any]]:
    if explicit is not None:
        path = explicit if explicit.is_absolute() else (start / explicit)
        if not path.is_file():
            raise ConfigError(
                f"Config file {explicit} does not exist. --config takes a dbops.toml, a "
                f"pyproject.toml with [tool.dbops], or an alembic.ini.",
                hint="Run: dbops init to create one, or fix the path.",
            )
        path = path.resolve()
        if path.suffix == ".ini":
            return path, {"alembic_ini": path.name}
        return path, table_of(path) or {}
    for directory in (start, *start.parents):
        for name in ("dbops.toml", "pyproject.toml"):
            candidate = directory / name
            if candidate.is_file():
                table = table_of(candidate)
                if table is not None:
                    return candidate, table
        if (directory / "alembic.ini").is_file():
            return directory / "alembic.ini", {"alembic_ini": "alembic.ini"}
    # one level down, as for alembic.ini: the project keeps its migrations and dbops.toml in a subdirectory
    # (FastAPI-boilerplate's src/) while pytest's rootdir, CI and the plugin start at the repository root
    below = sorted(p for p in start.glob("*/dbops.toml") if p.is_file())
    if len(below) == 1 and (table := table_of(below[0])) is not None:
        return below[0].resolve(), table
    return None, {}


def find_alembic_ini(root: Path, table: Mapping[str, Any], config_file: Path | None) -> Path | None:
    named = table.get("alembic_ini")
    if named:
        path: Path = (root / str(named)).resolve()
        if not path.is_file():
            raise ConfigError(
                f"alembic.ini not found at {path} (set by alembic_ini in {config_file}).",
                hint="Fix alembic_ini, or run: dbops init to scaffold one.",
            )
        return path
    if (root / "alembic.ini").is_file():
        return root / "alembic.ini"
    # alembic.ini one level down (backend/alembic.ini) when there is exactly one.
    below = sorted(p for p in root.glob("*/alembic.ini") if p.is_file())
    return below[0] if len(below) == 1 else None


def read_alembic_ini(path: Path, name: str = "alembic") -> dict[str, str]:
    parser = configparser.ConfigParser(defaults={"here": str(path.parent)})
    try:
        parser.read(path, encoding="utf-8")
        section = name if parser.has_section(name) else None
        out: dict[str, str] = {}
        if section:
            for key in ("script_location", "sqlalchemy.url", "databases", "version_locations"):
                if parser.has_option(section, key):
                    value = parser.get(section, key)
                    if value.strip().strip("'\"") or key != "sqlalchemy.url":  # `sqlalchemy.url = ""`: none
                        out[key] = value
        if parser.has_option("dbops", "metadata") if parser.has_section("dbops") else False:
            out["dbops_metadata"] = parser.get("dbops", "metadata")
        return out
    except configparser.Error as exc:
        raise ConfigError(
            f"{path} cannot be parsed: {exc}.", hint=f"Fix the syntax of {path.name}."
        ) from exc


def resolve_script_location(root: Path, table: Mapping[str, Any], ini: Mapping[str, str],
                            alembic_ini: Path | None) -> Path:
    """The migrations directory: the config file's script_location, else alembic.ini's (relative to
    it; a "package:dir" resource as it is), else the directory of a Flask-Migrate alembic.ini that sits
    next to its env.py, else ./migrations."""
    chosen = table.get("script_location")
    if chosen:
        path = Path(chosen)
        return path if path.is_absolute() else (root / path).resolve()
    if ini.get("script_location") and alembic_ini is not None:
        raw = ini["script_location"]
        if ":" in raw and not Path(raw).is_absolute() and not (alembic_ini.parent / raw).exists():
            # package resource form "mypkg:migrations" (Prefect: "prefect:server:database:_migrations"): the
            # directory Alembic would use, found without importing the package; as it is when not found
            return package_directory(raw, alembic_ini.parent) or Path(raw)
        path = Path(raw)
        return path if path.is_absolute() else (alembic_ini.parent / path).resolve()
    if alembic_ini is not None and (alembic_ini.parent / "env.py").is_file():
        # Flask-Migrate keeps alembic.ini inside the migrations directory, without script_location
        return alembic_ini.parent.resolve()
    return (root / "migrations").resolve()


def package_directory(resource: str, near: Path) -> Path | None:
    """The directory of Alembic's package-resource form ``pkg[.sub]:dir[:dir...]``, found with the
    import system's path finder (the package itself is not imported: Prefect's takes seconds), on
    sys.path and the directory of alembic.ini (its usual ``prepend_sys_path = .``)."""
    import importlib.machinery
    import sys

    package, *parts = resource.split(":")
    top, *sub = package.split(".")
    try:
        spec = importlib.machinery.PathFinder.find_spec(top, [str(near), *sys.path])
    except (ImportError, ValueError):
        return None
    for base in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(base, *sub, *parts)
        if candidate.is_dir():
            return candidate.resolve()
    return None


def config_destination(root: Path, config_file: str | None) -> Path:
    """Where ``dbops init`` writes dbops's configuration: ``root/dbops.toml``, or the ``--config`` file,
    which must be in ``root`` (paths written in it are relative to its directory)."""
    from dbops.errors import ScaffoldError

    if not config_file:
        return root / "dbops.toml"
    path = Path(config_file)
    path = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if path.parent != root or path.suffix != ".toml":
        raise ScaffoldError(
            f"--config {config_file} must name a .toml file in the project directory {root} (the paths written "
            "in it are relative to its directory); nothing was written.",
            hint="Example: dbops init --config pyproject.toml, or --config dbops.toml",
        )
    return path


def holds_dbops_config(path: Path) -> bool:
    """True when ``path`` already carries dbops's configuration (a dbops-style file, or pyproject.toml
    with a [tool.dbops] table)."""
    if not path.is_file():
        return False
    if path.name == "pyproject.toml":
        return "dbops" in (read_toml(path).get("tool") or {})
    return True


def write_dbops_config(path: Path, body: str) -> None:
    """Write ``body`` (dbops.toml syntax: keys at the top level, ``[targets.x]`` tables) to ``path``; a
    pyproject.toml gets it appended as ``[tool.dbops]`` (tables renamed ``[tool.dbops.x]``, commented
    examples too), the rest of the file untouched."""
    if path.name != "pyproject.toml":
        path.write_text(body, encoding="utf-8")
        return
    out = []
    for line in body.splitlines():
        stripped = line.lstrip("# ")
        if stripped.startswith("[") and not stripped.startswith("[tool."):
            line = line.replace("[", "[tool.dbops.", 1)
        out.append(line)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    separator = "" if not existing or existing.endswith("\n\n") else ("\n" if existing.endswith("\n") else "\n\n")
    path.write_text(existing + separator + "[tool.dbops]\n" + "\n".join(out) + "\n", encoding="utf-8")
