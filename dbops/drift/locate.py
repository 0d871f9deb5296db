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
        for obj in list(vars(module).values()) if hasattr(module, "__dict__") else []:
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
