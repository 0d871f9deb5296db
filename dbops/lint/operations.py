"""Read the Alembic operations a revision file performs, from its AST (no import, no SQL)."""
from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field

# op.<name>: position of the table argument (or None when the operation names no table)
TABLE_ARG = {
    "create_table": 0, "drop_table": 0, "add_column": 0, "drop_column": 0, "alter_column": 0,
    "rename_table": 0, "batch_alter_table": 0, "create_index": 1, "drop_index": 1,
    "create_foreign_key": 1, "create_unique_constraint": 1, "create_check_constraint": 1,
    "create_primary_key": 1, "drop_constraint": 1, "create_exclude_constraint": 1, "create_table_comment": 0,
    "drop_table_comment": 0,
}


@dataclass
class OpCall:
    name: str  # create_index, add_column, execute, ...
    function: str  # upgrade | downgrade
    line: int
    node: ast.Call
    table: str | None
    in_autocommit_block: bool = False
    batch_table: str | None = None  # inside ``with op.batch_alter_table(t) as batch_op``
    kwargs: dict[str, ast.expr] = field(default_factory=dict)
    # the dialects this call can run on, from the branches around it (`if bind.dialect.name == "sqlite":`);
    # None: any
    dialects: frozenset[str] | None = None
    excluded: frozenset[str] = frozenset()  # dialects an enclosing branch rules out (`!= "postgresql"`, else:)
    helper: str | None = None  # the module-level function of the revision it is in, when not upgrade() itself

    def runs_on(self, dialect: str) -> bool:
        return dialect not in self.excluded and (self.dialects is None or dialect in self.dialects)

    def const_kw(self, name: str) -> object:
        value = self.kwargs.get(name)
        return value.value if isinstance(value, ast.Constant) else (... if value is not None else None)

    def const_arg(self, index: int) -> object:
        args = self.node.args
        arg = args[index] if index < len(args) else None
        return arg.value if isinstance(arg, ast.Constant) else None

    def sql_text(self) -> str | None:
        """The SQL of ``op.execute("...")`` or ``op.execute(sa.text("..."))`` when it is a literal."""
        arg = self.node.args[0] if self.node.args else None
        if isinstance(arg, ast.Call) and arg.args and ast.unparse(arg.func).split(".")[-1] == "text":
            arg = arg.args[0]
        return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def _table(call: ast.Call, name: str, batch_table: str | None) -> str | None:
    if batch_table is not None:
        return batch_table
    for kw in call.keywords:
        if kw.arg in ("table_name", "source_table") and isinstance(kw.value, ast.Constant):
            return str(kw.value.value)
    index = TABLE_ARG.get(name)
    arg = call.args[index] if index is not None and index < len(call.args) else None
    return str(arg.value) if isinstance(arg, ast.Constant) else None


def _dialect_test(test: ast.expr) -> tuple[frozenset[str], bool] | None:
    """(dialects, positive) for ``<...>.dialect.name == "sqlite"`` (positive), ``!= "postgresql"``
    (negative) or ``in ("a", "b")`` / ``not in (...)``; None for any other condition."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and len(test.comparators) == 1):
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if not (isinstance(left, ast.Attribute) and left.attr == "name" and "dialect" in ast.unparse(left.value)):
        return None
    if isinstance(right, ast.Constant) and isinstance(right.value, str):
        names = frozenset({right.value})
    elif isinstance(right, ast.Tuple | ast.List | ast.Set) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in right.elts):
        names = frozenset(str(e.value) for e in right.elts)  # type: ignore[attr-defined]
    else:
        return None
    if isinstance(op, ast.Eq | ast.In):
        return names, True
    if isinstance(op, ast.NotEq | ast.NotIn):
        return names, False
    return None


class _Visitor(ast.NodeVisitor):
    def __init__(self, function: str, helpers: dict[str, ast.FunctionDef] | None = None) -> None:
        self.function = function
        self.calls: list[OpCall] = []
        self.autocommit = 0
        self.batch: list[tuple[str, str | None]] = []  # (alias, table)
        self.dialects: frozenset[str] | None = None
        self.excluded: frozenset[str] = frozenset()
        self.helpers = helpers or {}  # module-level functions upgrade() may call
        self.helper: str | None = None
        self.active: set[str] = set()  # helpers being visited (no recursion)

    def visit_If(self, node: ast.If) -> None:
        branch = _dialect_test(node.test)
        if branch is None:
            self.generic_visit(node)
            return
        names, positive = branch
        saved = self.dialects, self.excluded
        # the body runs on `names` (or on anything but them); the else branch on the rest
        for body, only in ((node.body, positive), (node.orelse, not positive)):
            if only:
                self.dialects = names if saved[0] is None else saved[0] & names
            else:
                self.excluded = saved[1] | names
            for child in body:
                self.visit(child)
            self.dialects, self.excluded = saved

    def visit_With(self, node: ast.With) -> None:
        pushed_auto = pushed_batch = 0
        for item in node.items:
            expr = item.context_expr
            text = ast.unparse(expr)
            if "autocommit_block" in text:
                self.autocommit += 1
                pushed_auto += 1
            if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) \
                    and expr.func.attr == "batch_alter_table" and isinstance(item.optional_vars, ast.Name):
                table = str(expr.args[0].value) if expr.args and isinstance(expr.args[0], ast.Constant) else None
                self.batch.append((item.optional_vars.id, table))
                pushed_batch += 1
        self.generic_visit(node)
        self.autocommit -= pushed_auto
        for _ in range(pushed_batch):
            self.batch.pop()

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner, name = func.value.id, func.attr
            batch_table = next((t for alias, t in reversed(self.batch) if alias == owner), None)
            if owner == "op" or batch_table is not None:
                self.calls.append(OpCall(
                    name=name, function=self.function, line=node.lineno, node=node,
                    table=_table(node, name, batch_table), in_autocommit_block=self.autocommit > 0,
                    batch_table=batch_table, kwargs={kw.arg: kw.value for kw in node.keywords if kw.arg},
                    dialects=self.dialects, excluded=self.excluded, helper=self.helper,
                ))
        elif isinstance(func, ast.Name) and func.id in self.helpers and func.id not in self.active:
            # a helper of this revision called from upgrade(): its operations run here, in this branch
            saved = self.helper
            self.active.add(func.id)
            self.helper = func.id
            for child in self.helpers[func.id].body:
                self.visit(child)
            self.helper = saved
            self.active.discard(func.id)
        self.generic_visit(node)


def op_calls(source: str, functions: tuple[str, ...] = ("upgrade", "downgrade")) -> Iterator[OpCall]:
    """The operations each of ``functions`` performs, including those of the module-level helpers it
    calls (followed once per call, in the order they run)."""
    tree = ast.parse(source)
    defs = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    helpers = {name: node for name, node in defs.items() if name not in ("upgrade", "downgrade")}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in functions:
            visitor = _Visitor(node.name, helpers)
            visitor.visit(node)
            yield from visitor.calls


def tables_touched(source: str, function: str = "upgrade") -> set[str]:
    return {c.table for c in op_calls(source, (function,)) if c.table}
