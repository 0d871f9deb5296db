"""The import arrows of docs/architecture.md, checked on the source (AST, no imports run)."""
from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "dbops"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> dict[str, set[str]]:
    return {str(p.relative_to(PKG)): _imports(p) for p in PKG.rglob("*.py")}


def _uses(imports: set[str], top: str) -> bool:
    return any(name == top or name.startswith(top + ".") for name in imports)


def test_only_cli_imports_click() -> None:
    offenders = [m for m, imps in _modules().items() if _uses(imps, "click") and not m.startswith("cli/")]
    assert offenders == []


def test_only_render_imports_rich() -> None:
    offenders = [m for m, imps in _modules().items() if _uses(imps, "rich") and not m.startswith("render/")]
    assert offenders == []


def test_library_never_imports_cli_or_render() -> None:
    offenders = [
        m for m, imps in _modules().items()
        if not m.startswith(("cli/", "render/", "__main__"))
        and (_uses(imps, "dbops.cli") or _uses(imps, "dbops.render"))
    ]
    assert offenders == []


def test_lower_layers_do_not_import_upper_ones() -> None:
    lower = ("config.py", "errors.py", "faults.py", "reports/", "redact.py", "env_settings.py", "db/")
    upper = ("dbops.command", "dbops.migrate", "dbops.bridge.project", "dbops.alembic_env", "dbops.bridge.scaffold")
    offenders = [
        (m, sorted(i for i in imps if i.startswith(upper)))
        for m, imps in _modules().items()
        if m.startswith(lower) and any(i.startswith(upper) for i in imps)
    ]
    assert offenders == []


def test_library_never_prints() -> None:
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = str(path.relative_to(PKG))
        if rel.startswith(("cli/", "render/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(rel)
    assert offenders == []


def test_bookkeeping_tables_are_known_to_every_consumer() -> None:
    from dbops.alembic_env import DBOPS_TABLES
    from dbops.data.checkpoint import TABLE_NAME as CHECKPOINTS
    from dbops.db.lease import TABLE_NAME as LEASES
    from dbops.drift.history import TABLE_NAME as DRIFT_RUNS
    from dbops.safety.history import TABLE_NAME as HISTORY

    assert DBOPS_TABLES == {CHECKPOINTS, HISTORY, LEASES, DRIFT_RUNS}
