"""Where a table or column is declared in the models (for GitHub annotations)."""
from __future__ import annotations

import inspect
import re
import sys
from typing import Any

Location = dict[tuple[str | None, str, str | None], tuple[str, int]]


def locate(metadata: Any) -> Location:
    """(schema, table, column-or-None) -> (file, line) for mapped classes of ``metadata``."""
    metas = metadata if isinstance(metadata, (list, tuple)) else [metadata]
    tables = {id(t): t for m in metas for t in m.tables.values()}
    found: Location = {}
    for module in list(sys.modules.values()):
        values = list(vars(module).values()) if hasattr(module, "__dict__") else []
        core = [v for v in values if id(v) in tables and getattr(v, "name", None) is not None]
        if core:
            _locate_core_tables(module, core, found)
        for obj in values:
            table = getattr(obj, "__table__", None) if isinstance(obj, type) else None
            if table is None or id(table) not in tables or getattr(obj, "__module__", None) != module.__name__:
                continue
            try:
                path = inspect.getsourcefile(obj)
                lines, start = inspect.getsourcelines(obj)
            except (OSError, TypeError):
                continue
            if path is None:
                continue
            schema = table.schema
            found.setdefault((schema, table.name, None), (path, start))
            for column in table.columns:
                pattern = re.compile(rf"^\s+{re.escape(column.key)}\s*[:=]")
                for offset, text in enumerate(lines):
                    if pattern.match(text):
                        found.setdefault((schema, table.name, column.name), (path, start + offset))
                        break
    return found


def _locate_core_tables(module: Any, tables: list[Any], found: Location) -> None:
    """Module-level ``Table("name", metadata, Column("col", ...))`` declarations."""
    try:
        path = inspect.getsourcefile(module)
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return
    if path is None:
        return
    for table in tables:
        match = re.search(rf"Table\(\s*[\"']{re.escape(table.name)}[\"']", source)
        if match is None:
            continue
        start = match.start()
        found.setdefault((table.schema, table.name, None), (path, source.count("\n", 0, start) + 1))
        for column in table.columns:
            col = re.compile(rf"Column\(\s*[\"']{re.escape(column.name)}[\"']").search(source, start)
            if col is not None:
                line = source.count("\n", 0, col.start()) + 1
                found.setdefault((table.schema, table.name, column.name), (path, line))
