"""The Alembic code a revision would need for the differences (``upgrade_code`` in JSON)."""
from __future__ import annotations

from typing import Any

from dbops.drift.classify import Verdict


def _tables(metadata: Any) -> dict[tuple[str | None, str], Any]:
    metas = metadata if isinstance(metadata, (list, tuple)) else [metadata]
    return {(t.schema, t.name): t for m in metas for t in m.tables.values()}


def upgrade_code(verdicts: list[Verdict], metadata: Any) -> str | None:
    """Render Alembic ``op.*`` calls that bring the compared side to the models; None if nothing."""
    if not verdicts:
        return None
    from alembic.autogenerate import render_python_code
    from alembic.operations import ops

    tables = _tables(metadata)
    out: list[Any] = []
    notes: list[str] = []
    for v in verdicts:
        d = v.diff
        if d.table is None and d.kind != "table":
            notes.append(d.detail)
            continue
        tname = d.table or d.name
        table = tables.get((d.schema, d.table or "")) if d.table else None
        column = table.columns.get(d.name) if table is not None and d.kind != "table" else None
        if d.kind == "table" and d.change == "missing" and table is not None:
            out.append(ops.CreateTableOp.from_table(table))
        elif d.kind == "table" and d.change == "extra":
            out.append(ops.DropTableOp(d.name, schema=d.schema))
        elif d.kind == "column" and d.change == "missing" and column is not None:
            out.append(ops.AddColumnOp.from_column_and_tablename(d.schema, tname, column._copy()))
        elif d.kind == "column" and d.change == "extra":
            out.append(ops.DropColumnOp(tname, d.name, schema=d.schema))
        elif d.kind in ("nullable", "type", "default") and column is not None:
            kw: dict[str, Any] = {"existing_type": column.type, "schema": d.schema}
            if d.kind == "nullable":
                kw["modify_nullable"] = column.nullable
            elif d.kind == "type":
                kw["modify_type"] = column.type
            else:
                kw["modify_server_default"] = column.server_default.arg if column.server_default is not None \
                    and hasattr(column.server_default, "arg") else None
            out.append(ops.AlterColumnOp(tname, d.name, **kw))
        elif d.kind == "index" and d.change in ("missing", "changed") and table is not None:
            index = next((i for i in table.indexes if i.name == d.name), None)
            if index is None:
                notes.append(d.detail)
                continue
            if d.change == "changed":  # an index exists under that name with another definition: replace it
                out.append(ops.DropIndexOp(d.name, table_name=d.table, schema=d.schema))
            out.append(ops.CreateIndexOp.from_index(index))
        elif d.kind == "index" and d.change == "extra":
            out.append(ops.DropIndexOp(d.name, table_name=d.table, schema=d.schema))
        else:
            notes.append(d.detail)
    code = _render(out, render_python_code, ops) if out else ""
    if notes:
        code += "".join(f"\n# TODO by hand: {n}" for n in notes)
    return code.strip() or None


def _render(out: list[Any], render_python_code: Any, ops: Any) -> str:
    """All operations as Alembic renders them; one it cannot render (a server default or type made
    of a construct Alembic has no renderer for) becomes a commented placeholder, never a crash."""
    try:
        return str(render_python_code(ops.UpgradeOps(ops=out)))
    except Exception:  # noqa: BLE001  find the one(s) that cannot be rendered
        pass
    lines = []
    for op in out:
        try:
            body = str(render_python_code(ops.UpgradeOps(ops=[op])))
            lines += [line for line in body.splitlines() if not line.strip().startswith("# ###")]
        except Exception as exc:  # noqa: BLE001
            what = type(op).__name__.removesuffix("Op")
            target = getattr(op, "table_name", None) or getattr(op, "index_name", None) or ""
            column = getattr(op, "column_name", None)
            lines.append(f"# op.execute(...)  # {what} {target}{'.' + column if column else ''}: Alembic cannot "
                         f"render it ({type(exc).__name__}); write this one by hand")
    return "\n".join(lines)
