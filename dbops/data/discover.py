"""Load data migrations from the project's ``data_migrations/`` directory: each module
defines ``migration = DataMigration(...)`` (or ``migrations = [...]``)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from dbops.data.declaration import DataMigration
from dbops.errors import ConfigError


def load_directory(directory: Path) -> list[DataMigration]:
    if not directory.is_dir():
        return []
    found: dict[str, DataMigration] = {}
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module_name = f"dbops_data_migrations.{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        try:
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ConfigError(
                f"Data migration file {path} fails to import: {type(exc).__name__}: {exc}.",
                hint=f"Fix {path.name}; check with: dbops data-migrate --list",
            ) from exc
        items = list(getattr(module, "migrations", []))
        if getattr(module, "migration", None) is not None:
            items.append(module.migration)
        if not items or not all(isinstance(i, DataMigration) for i in items):
            raise ConfigError(
                f"{path} defines no data migration: it must set migration = DataMigration(...) "
                "(or migrations = [...]).",
                hint="See the README section on data-migrate.",
            )
        for item in items:
            if item.name in found:
                raise ConfigError(
                    f"Two data migrations are named {item.name!r} ({found[item.name].source} and {path}).",
                    hint="Names are the checkpoint keys: make them unique.",
                )
            found[item.name] = DataMigration(**{**item.__dict__, "source": str(path)})
    return list(found.values())
