"""Every model of the app is on the metadata dbops (and autogenerate) compares against.

The classic miss: a model module that nothing imports before ``target_metadata`` is read, so its
table is not on the metadata; autogenerate then proposes to drop the table, and check-drift
cannot see it. The check runs in a fresh interpreter (the test process may already have imported
every module): import the configured metadata, note its tables, import every module of the app's
package, and report the tables that appeared only then, and mapped classes whose table lives on
another MetaData.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

_PROBE = r"""
import importlib, json, pkgutil, sys
from pathlib import Path

root, spec, package_name = sys.argv[1], sys.argv[2], sys.argv[3]
imports = tuple(m for m in sys.argv[4].split(",") if m) if len(sys.argv) > 4 else ()
from dbops.bridge.project import import_metadata

found = import_metadata(spec, Path(root), imports)
metadatas = list(found) if isinstance(found, (list, tuple)) else [found]
keys = lambda: sorted({key for m in metadatas for key in m.tables})
before = keys()
package = importlib.import_module(package_name)
modules, failed = [package_name], []
for info in pkgutil.walk_packages(getattr(package, "__path__", []), package_name + "."):
    try:
        importlib.import_module(info.name)
        modules.append(info.name)
    except Exception as exc:  # reported: a module that cannot be imported was not looked at
        failed.append([info.name, f"{type(exc).__name__}: {exc}"])
after = keys()
new = {}
for m in metadatas:
    for key, table in m.tables.items():
        if key not in before:
            new[key] = None
elsewhere = []
from sqlalchemy.orm import mapperlib

for registry in list(mapperlib._mapper_registries):
    for mapper in registry.mappers:
        cls = mapper.class_
        table = mapper.local_table
        if not cls.__module__.startswith(package_name) or getattr(table, "metadata", None) is None:
            continue
        if all(table.metadata is not m for m in metadatas):
            elsewhere.append([f"{cls.__module__}.{cls.__qualname__}", table.fullname])
origin = {}
for key in new:
    for name in modules:
        module = sys.modules.get(name)
        if module is not None and any(getattr(v, "fullname", None) == key or getattr(getattr(v, "__table__", None),
                                      "fullname", None) == key for v in vars(module).values()):
            origin[key] = name
            break
print(json.dumps({"before": before, "unregistered": [[k, origin.get(k)] for k in sorted(new)],
                  "elsewhere": sorted(elsewhere), "failed": failed, "modules": len(modules)}))
"""


@dataclass(frozen=True)
class Registration:
    package: str
    modules: int  # modules of the package imported
    tables: tuple[str, ...]  # on the metadata before the package was imported
    unregistered: tuple[tuple[str, str | None], ...] = ()  # (table, module defining it)
    elsewhere: tuple[tuple[str, str], ...] = ()  # (mapped class, its table) on another MetaData
    failed: tuple[tuple[str, str], ...] = field(default=())  # (module, error) that could not be imported


def default_package(metadata_spec: str) -> str:
    """The app's top-level package, from ``metadata = "app.models:Base.metadata"`` -> ``app``."""
    return metadata_spec.partition(":")[0].split(".")[0]


def read_registration(root: Path, metadata_spec: str, package: str, *, timeout: float = 120.0,
                      imports: tuple[str, ...] = ()) -> Registration:
    """Run the probe in a fresh interpreter from ``root``; raise RuntimeError with its stderr when it
    cannot even import the metadata."""
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(root), metadata_spec, package, ",".join(imports)],
                          cwd=root,
                          capture_output=True, text=True, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError((proc.stderr or proc.stdout).strip()[-2000:])
    data = json.loads(lines[-1])
    return Registration(
        package=package, modules=data["modules"], tables=tuple(data["before"]),
        unregistered=tuple((k, m) for k, m in data["unregistered"]),
        elsewhere=tuple((c, t) for c, t in data["elsewhere"]),
        failed=tuple((m, e) for m, e in data["failed"]),
    )
