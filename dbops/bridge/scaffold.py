"""``dbops init``: scaffold the dbops migration environment into an existing app."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from dbops.errors import ScaffoldError
from dbops.reports import InitReport

DEFAULT_METADATA = "app.models:SQLModel.metadata"


def _template(name: str) -> str:
    return resources.files("dbops.bridge").joinpath("templates", name).read_text(encoding="utf-8")


def init(directory: Path, *, metadata: str | None = None, script_location: str = "migrations",
         config_file: str | None = None) -> InitReport:
    """Write alembic.ini, <script_location>/{env.py,script.py.mako,README,versions/} and dbops.toml.

    In a project that already has Alembic (alembic.ini and an env.py), writes only dbops.toml from
    what it reads there (see :mod:`dbops.bridge.adopt`). Otherwise refuses (writing nothing) when any of
    those files already exists. ``config_file``: write the configuration there instead of
    dbops.toml (a pyproject.toml gets a [tool.dbops] table).
    """
    from dbops.config_files import config_destination, holds_dbops_config, write_dbops_config

    root = directory.resolve()
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root} exists and is not a directory.", hint="Pass a directory: dbops init DIR")
    if Path(script_location).is_absolute() or ".." in Path(script_location).parts:
        raise ScaffoldError(
            f"script_location {script_location!r} must be a relative path inside {root}.",
            hint="Example: dbops init --script-location migrations",
        )
    from dbops.bridge.adopt import adopt, find_existing

    existing = find_existing(root) if root.is_dir() else None
    if existing is not None and config_file is None and existing[0].parent != root:
        # alembic.ini one level down (src/, backend/): the project runs alembic from there, and its models
        # import from there, so dbops.toml goes beside it (dbops finds it from the repository root too)
        root = existing[0].parent
    destination = config_destination(root, config_file)
    if existing is not None:  # an Alembic project already: only dbops.toml, env.py stays the project's
        return adopt(root, *existing, metadata=metadata, config_file=destination)
    meta = metadata or DEFAULT_METADATA
    mig = root / script_location
    files: dict[Path, str] = {
        root / "alembic.ini": _template("alembic.ini.tmpl").replace("{script_location}", script_location),
        mig / "env.py": _template("env.py"),
        mig / "script.py.mako": _template("script.py.mako"),
        mig / "README": _template("README.tmpl"),
        mig / "versions" / ".gitkeep": "",
    }
    pyproject = root / "pyproject.toml"
    config_body = _template("dbops.toml.tmpl").replace("{metadata}", meta).replace("{script_location}", script_location)
    if config_file is None and holds_dbops_config(pyproject):
        config_body = ""  # the project keeps its [tool.dbops]
    elif holds_dbops_config(destination):
        raise ScaffoldError(f"{destination} already holds dbops's configuration; nothing was written.",
                            hint="Edit it by hand, or choose another file with --config.")
    clashes = sorted(str(p.relative_to(root)) for p in files if p.exists())
    if clashes:
        raise ScaffoldError(
            f"dbops init would overwrite {', '.join(clashes)} in {root}; nothing was written. "
            "Usually the project already has a migration environment.",
            hint="Point env.py at dbops by hand (see the README), or run: dbops init <empty-dir>",
        )
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    appended = destination.name == "pyproject.toml" and destination.exists()
    if config_body:
        write_dbops_config(destination, config_body)
        files[destination] = config_body
    steps = []
    if metadata is None:
        steps.append(f"Set metadata in {destination.name} to your models' MetaData (now {meta!r}).")
    steps += [
        "dbops revision --autogenerate -m 'initial schema'",
        "dbops upgrade",
    ]
    return InitReport(
        command="init",
        directory=str(root),
        created=tuple(sorted(str(p.relative_to(root)) + (" ([tool.dbops] added)" if appended and p == destination
                                                         else "") for p in files)),
        next_steps=tuple(steps),
    )
