"""``dbops init``: scaffold the dbops migration environment into an existing app."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from dbops.errors import ScaffoldError
from dbops.reports import InitReport

DEFAULT_METADATA = "app.models:SQLModel.metadata"


def _template(name: str) -> str:
    return resources.files("dbops").joinpath("templates", name).read_text(encoding="utf-8")


def init(directory: Path, *, metadata: str | None = None, script_location: str = "migrations") -> InitReport:
    """Write alembic.ini, <script_location>/{env.py,script.py.mako,README,versions/} and dbops.toml.

    In a project that already has Alembic (alembic.ini and an env.py), writes only dbops.toml from
    what it reads there (see :mod:`dbops.adopt`). Otherwise refuses (writing nothing) when any of
    those files already exists.
    """
    root = directory.resolve()
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root} exists and is not a directory.", hint="Pass a directory: dbops init DIR")
    if Path(script_location).is_absolute() or ".." in Path(script_location).parts:
        raise ScaffoldError(
            f"script_location {script_location!r} must be a relative path inside {root}.",
            hint="Example: dbops init --script-location migrations",
        )
    from dbops.adopt import adopt, find_existing

    existing = find_existing(root) if root.is_dir() else None
    if existing is not None:  # an Alembic project already: only dbops.toml, env.py stays the project's
        return adopt(root, *existing, metadata=metadata)
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
    if not (pyproject.is_file() and "[tool.dbops]" in pyproject.read_text(encoding="utf-8")):
        files[root / "dbops.toml"] = (
            _template("dbops.toml.tmpl").replace("{metadata}", meta).replace("{script_location}", script_location)
        )
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
    steps = []
    if metadata is None:
        steps.append(f"Set metadata in dbops.toml to your models' MetaData (now {meta!r}).")
    steps += [
        "dbops revision --autogenerate -m 'initial schema'",
        "dbops upgrade",
    ]
    return InitReport(
        command="init",
        directory=str(root),
        created=tuple(sorted(str(p.relative_to(root)) for p in files)),
        next_steps=tuple(steps),
    )
