"""The lint rule registry: what a rule is (id, title, why, severity, which databases it speaks for,
an unsafe and a safe example), what a rule sees of a call (:class:`Context`), and what it reports.

Every rule's two examples are the bodies of an ``upgrade()``: the generated docs and ``dbops lint
--explain`` show them, and ``tests/safety/test_lint_rules.py`` lints both, requiring the rule to
find the unsafe one and not the safe one. A rule cannot ship without its pair.
"""
from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbops.lint.operations import OpCall
from dbops.lint.sql import Statement

SEVERITIES = ("error", "warning")  # warning: reported, never fails lint (a preference, not a hazard)
SCOPES = {"postgresql": ("postgresql",), "mysql": ("mysql", "mariadb"), "any": ()}


@dataclass(frozen=True)
class Context:
    created_tables: frozenset[str]  # tables this revision creates (their DDL cannot hurt anyone yet)
    lock_timeout_set: bool  # an op.execute("SET lock_timeout ...") precedes in upgrade()
    emptied_tables: frozenset[str] = frozenset()  # emptied earlier in upgrade() (DELETE without WHERE, TRUNCATE)
    sql: tuple[Statement, ...] = ()  # what this call's op.execute SQL does (parsed), when it is one
    nodes: tuple[Any, ...] = ()  # the same SQL as PostgreSQL's parse tree (pglast nodes); () when unparsed
    raw: str | None = None  # the literal SQL of op.execute
    dialect: str | None = None  # the project's database (its configured URL, or its version directory)


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    rationale: str
    check: Callable[[OpCall, Context], str | None]
    unsafe: str  # an upgrade() body the rule finds
    safe: str  # the same intent done safely: the rule stays quiet
    severity: str = "error"
    scope: str = "postgresql"  # postgresql | mysql | any

    def applies(self, call: OpCall, dialect: str | None) -> bool:
        """Whether the advice is for the database this call runs on: not PostgreSQL advice inside an
        `if dialect.name == "sqlite":` branch or in a SQLite project; MySQL advice only where the call
        is known to run on MySQL/MariaDB (the project's URL, its version directory or a branch)."""
        names = SCOPES[self.scope]
        if not names:
            return True
        if dialect is not None and dialect not in names:
            return False
        if not any(call.runs_on(n) for n in names):
            return False
        if self.scope == "mysql" and dialect is None:
            return call.dialects is not None and bool(call.dialects & set(names))
        return True


@dataclass(frozen=True)
class Finding:
    rule: str
    title: str
    rationale: str
    line: int
    message: str
    severity: str = "error"


RULES: dict[str, Rule] = {}


def rule(rule_id: str, title: str, rationale: str, *, unsafe: str, safe: str, severity: str = "error",
         scope: str = "postgresql") -> Callable[[Callable[[OpCall, Context], str | None]], Rule]:
    assert severity in SEVERITIES and scope in SCOPES, (rule_id, severity, scope)

    def register(fn: Callable[[OpCall, Context], str | None]) -> Rule:
        assert rule_id not in RULES, f"duplicate lint rule id {rule_id}"
        RULES[rule_id] = Rule(rule_id, title, rationale, fn, _dedent(unsafe), _dedent(safe), severity, scope)
        return RULES[rule_id]

    return register


def _dedent(code: str) -> str:
    import textwrap

    return textwrap.dedent(code).strip("\n")


EXAMPLE_MODULE = '''"""example"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "e1"
down_revision = "e0"


def upgrade():
{body}
'''


def example_module(body: str) -> str:
    """A revision file whose upgrade() is ``body`` (as the examples are written)."""
    import textwrap

    return EXAMPLE_MODULE.format(body=textwrap.indent(body, "    "))


# helpers the rules share


def existing(call: OpCall, ctx: Context) -> bool:
    return call.table is not None and call.table not in ctx.created_tables


def true_kw(call: OpCall, name: str) -> bool:
    return call.const_kw(name) is True


def column_call(call: OpCall) -> ast.Call | None:
    """The ``sa.Column(...)`` of an add_column (positional or ``column=``)."""
    column = next((a for a in call.node.args if isinstance(a, ast.Call)), None)
    if column is None and isinstance(call.kwargs.get("column"), ast.Call):
        column = call.kwargs["column"]  # type: ignore[assignment]
    return column


def column_kw(call: OpCall) -> dict[str, ast.expr]:
    column = column_call(call)
    return {kw.arg: kw.value for kw in column.keywords if kw.arg} if column is not None else {}


def columns_of(call: OpCall) -> list[ast.Call]:
    """The sa.Column(...) calls an add_column or create_table declares."""
    if call.name == "add_column":
        column = column_call(call)
        return [column] if column is not None else []
    if call.name == "create_table":
        return [a for a in call.node.args if isinstance(a, ast.Call) and _callee(a) == "Column"]
    return []


def _callee(node: ast.expr) -> str:
    """``sa.Column`` -> ``Column``; ``postgresql.JSONB()`` -> ``JSONB``."""
    target = node.func if isinstance(node, ast.Call) else node
    return ast.unparse(target).rsplit(".", 1)[-1]


def column_type(column: ast.Call) -> ast.expr | None:
    """The type of ``sa.Column(name, type, ...)`` (second positional, or ``type_=``)."""
    for kw in column.keywords:
        if kw.arg == "type_":
            return kw.value
    args = column.args[1:] if column.args and isinstance(column.args[0], ast.Constant) else column.args
    return next((a for a in args if _callee(a) not in ("ForeignKey", "Computed", "Identity", "Sequence")), None)


def type_name(node: ast.expr | None) -> str:
    return _callee(node) if node is not None else ""


def column_name(column: ast.Call) -> str | None:
    first = column.args[0] if column.args else None
    return str(first.value) if isinstance(first, ast.Constant) else None


def has_arg(column: ast.Call, *names: str) -> ast.Call | None:
    """A positional ``sa.Computed(...)`` / ``sa.Identity(...)`` among the column's arguments."""
    return next((a for a in column.args if isinstance(a, ast.Call) and _callee(a) in names), None)


def explain(rule_id: str) -> dict[str, str] | None:
    """What a rule finds, why, for which databases, and its unsafe and safe examples (None: no such rule)."""
    from dbops.lint.rules import FILE_RULES

    wanted = rule_id.strip().upper()
    found = RULES.get(wanted)
    if found is not None:
        return {"id": found.id, "title": found.title, "severity": found.severity, "scope": found.scope,
                "rationale": found.rationale, "unsafe": found.unsafe, "safe": found.safe}
    if wanted in FILE_RULES:
        title, rationale = FILE_RULES[wanted]
        return {"id": wanted, "title": title, "severity": "error", "scope": "any", "rationale": rationale,
                "unsafe": "", "safe": ""}
    return None
