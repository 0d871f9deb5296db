"""Data steps in the squashed revisions: what a schema baseline does not carry.

A baseline is rendered from the catalog, so rows a revision inserted (seed data, lookup tables) or
changed are not in it. Each revision's ``upgrade()`` is read with ``ast`` (nothing imported): calls to
``op.bulk_insert``, ``op.execute`` / ``<connection>.execute`` of DML (INSERT, UPDATE, DELETE, MERGE,
COPY; ``sa.insert``/``update``/``delete``; ``table.insert()``), and ``run_data_migration``. With
``--keep-data REV``, that revision's data statements are copied into the baseline, after the schema,
inside a function of their own together with the module-level code they may use (imports, helpers).
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

from dbops.lint.sql import statements

# the statements that write rows, by PostgreSQL's parse-tree names -> what the report says
_DML = {"InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE", "MergeStmt": "MERGE",
        "CopyStmt": "COPY", "REPLACE": "REPLACE"}
_LEAVE_OUT = {"revision", "down_revision", "branch_labels", "depends_on"}
_HARMLESS_OPS = ("get_bind", "get_context", "f", "inline_literal")  # op.* calls that change nothing


@dataclass(frozen=True)
class DataStep:
    line: int
    what: str  # "op.bulk_insert", "op.execute(INSERT ...)", "run_data_migration"
    source: str  # the top-level statement of upgrade() holding it


def _string(node: ast.AST | None, constants: dict[str, str]) -> str | None:
    """The text of ``node`` as far as it is known: a string, a module constant (``constants``),
    text("..."), "a" + b."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _string(node.left, constants)
        return left + (_string(node.right, constants) or "") if left is not None else None
    if isinstance(node, ast.Call) and node.args and _name(node.func) == "text":
        return _string(node.args[0], constants)
    return None


def _constants(tree: ast.Module) -> dict[str, str]:
    return {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
            and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
            for t in n.targets if isinstance(t, ast.Name)}


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_dml_expression(node: ast.AST | None, constants: dict[str, str]) -> str | None:
    sql = _string(node, constants)
    if sql is not None:  # read by lint's SQL reader (PostgreSQL's parser; the first word when it cannot parse)
        kinds = [_DML.get(st.kind, st.kind if st.kind in _DML.values() else None) for st in statements(sql)]
        return next((f"{kind} ..." for kind in kinds if kind), None)
    if isinstance(node, ast.Call):
        inner = _name(node.func)
        if inner in ("insert", "update", "delete"):
            return f"{inner}()"
        if isinstance(node.func, ast.Attribute) and inner in ("values", "where", "returning", "on_conflict_do_nothing"):
            return _is_dml_expression(node.func.value, constants)
    return None


def _data_call(call: ast.Call, constants: dict[str, str]) -> str | None:
    name = _name(call.func)
    owner = call.func.value if isinstance(call.func, ast.Attribute) else None
    if name == "bulk_insert" and isinstance(owner, ast.Name) and owner.id == "op":
        return "op.bulk_insert"
    if name == "run_data_migration":
        return "run_data_migration"
    if name in ("execute", "exec_driver_sql") and call.args:
        kind = _is_dml_expression(call.args[0], constants)
        if kind:
            prefix = "op" if isinstance(owner, ast.Name) and owner.id == "op" else "connection"
            return f"{prefix}.execute({kind})"
    return None


def _upgrade(tree: ast.Module) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)


def data_steps(path: str | Path) -> list[DataStep]:
    source = Path(path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    upgrade = _upgrade(tree)
    if upgrade is None:
        return []
    constants = _constants(tree)
    helpers = {n.name: n for n in tree.body
               if isinstance(n, ast.FunctionDef) and n.name not in ("upgrade", "downgrade")}
    steps = []
    for stmt in upgrade.body:
        found = []
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call):
                what = _data_call(node, constants)
                if what is None and _name(node.func) in helpers:  # a helper of the revision doing the inserts
                    inner = [_data_call(n, constants) for n in ast.walk(helpers[_name(node.func)])
                             if isinstance(n, ast.Call)]
                    what = next((f"{w} in {_name(node.func)}()" for w in inner if w), None)
                if what:
                    found.append(what)
        if found:
            steps.append(DataStep(stmt.lineno, ", ".join(dict.fromkeys(found)),
                                  ast.get_source_segment(source, stmt) or ""))
    return steps


def kept_function(path: str | Path, revision: str, steps: list[DataStep]) -> str:
    """The baseline's copy of a revision's data steps: a function holding the revision's module-level
    code (imports, helpers, table definitions) and the data statements of its upgrade(), in order."""
    source = Path(path).read_text(encoding="utf-8")
    tree = ast.parse(source)
    module_code = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # the docstring
            continue
        if isinstance(node, ast.FunctionDef) and node.name in ("upgrade", "downgrade"):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if all(isinstance(t, ast.Name) and t.id in _LEAVE_OUT for t in targets):
                continue
        module_code.append(ast.get_source_segment(source, node, padded=True) or "")
    data_lines = {s.line for s in steps}
    upgrade = _upgrade(tree)
    kept = []
    for stmt in upgrade.body if upgrade is not None else []:
        if stmt.lineno in data_lines:
            kept.append(textwrap.dedent(ast.get_source_segment(source, stmt, padded=True) or ""))
        elif isinstance(stmt, ast.Assign):  # what the data steps may use: t = sa.table(...), t = op.create_table(...)
            value = stmt.value
            if isinstance(value, ast.Call) and _op_call(value) == "create_table":
                # the baseline already created it: the same Table object, without the DDL
                value.func = ast.Attribute(ast.Name("sa", ast.Load()), "Table", ast.Load())
                metadata = ast.Call(ast.Attribute(ast.Name("sa", ast.Load()), "MetaData", ast.Load()), [], [])
                value.args.insert(1, metadata)
                kept.append(ast.unparse(stmt))
            elif not any(_op_call(n) not in (None, *_HARMLESS_OPS) for n in ast.walk(stmt) if isinstance(n, ast.Call)):
                kept.append(textwrap.dedent(ast.get_source_segment(source, stmt, padded=True) or ""))
    imports = [] if any(c.strip() == "import sqlalchemy as sa" for c in module_code) else ["import sqlalchemy as sa"]
    body = "\n".join([*imports, *module_code, *kept])
    name = "_data_from_" + "".join(c if c.isalnum() else "_" for c in revision)
    return (f"def {name}() -> None:\n    # the data steps of revision {revision} ({Path(path).name}), "
            "kept by --keep-data\n" + textwrap.indent(body, "    ") + "\n")


def _op_call(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "op":
        return func.attr
    return None
