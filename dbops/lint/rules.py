"""Lint rules over Alembic operations (Python AST; SQL passed to op.execute read with PostgreSQL's
parser). Each rule has a stable id, a rationale, a severity, the databases it speaks for and an
unsafe/safe pair of examples (registry.py); a reviewed line is silenced with ``# dbops: noqa DB002``.
The rules live here (operations), in rules_columns.py (column types and definitions) and in
rules_sql.py (raw SQL)."""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from dbops.lint.operations import OpCall, op_calls
from dbops.lint.registry import RULES, Context, Finding, column_kw, existing, rule, true_kw
from dbops.lint.sql import Statement
from dbops.lint.sql import read as sql_read

__all__ = ["RULES", "Context", "Finding", "lint_source", "FILE_RULES", "FILENAME_RULE", "revision_id",
           "revision_links"]


def _postgresql(call: OpCall) -> bool:
    """The advice is PostgreSQL's: not for a call in a branch that runs on other dialects only."""
    return call.runs_on("postgresql")



@rule("DB001", "NOT NULL column added without a server default",
      "On a table with rows the ADD COLUMN fails, or (with a volatile default) rewrites the table under an "
      "exclusive lock; add it nullable, backfill, then set NOT NULL.",
      scope="any",
      unsafe="""op.add_column("orders", sa.Column("status", sa.String(20), nullable=False))""",
      safe="""op.add_column("orders", sa.Column("status", sa.String(20), nullable=False, server_default="new"))""")
def _not_null_without_default(call: OpCall, ctx: Context) -> str | None:
    if call.name != "add_column" or not existing(call, ctx) or call.table in ctx.emptied_tables:
        return None
    kw = column_kw(call)
    nullable = kw.get("nullable")
    not_null = isinstance(nullable, ast.Constant) and nullable.value is False
    primary = isinstance(kw.get("primary_key"), ast.Constant) and kw["primary_key"].value is True  # type: ignore[attr-defined]
    if (not_null or primary) and "server_default" not in kw:
        return f"add_column on {call.table} adds a NOT NULL column without server_default"
    return None


@rule("DB002", "create_index without CONCURRENTLY",
      "A plain CREATE INDEX blocks writes to the table for the whole build; use postgresql_concurrently=True "
      "inside op.get_context().autocommit_block().",
      unsafe="""op.create_index("ix_orders_user_id", "orders", ["user_id"])""",
      safe="""
with op.get_context().autocommit_block():
    op.create_index("ix_orders_user_id", "orders", ["user_id"], postgresql_concurrently=True)""")
def _index_not_concurrent(call: OpCall, ctx: Context) -> str | None:
    if not _postgresql(call):
        return None
    if call.name == "execute":  # op.execute("CREATE INDEX ...") on an existing table
        for st in ctx.sql:
            if st.kind == "IndexStmt" and not st.concurrent and st.relation and st.relation not in ctx.created_tables:
                return f"CREATE INDEX on existing table {st.relation} without CONCURRENTLY (in op.execute)"
        return None
    # batch_op.create_index too: on PostgreSQL batch_alter_table runs each operation as it is
    if call.name != "create_index" or not existing(call, ctx):
        return None
    return _not_concurrent(call, "CREATE INDEX")


def _not_concurrent(call: OpCall, statement: str) -> str | None:
    """An index operation on an existing table: CONCURRENTLY, and in an autocommit block (it cannot run
    in a transaction)."""
    if not true_kw(call, "postgresql_concurrently"):
        return f"{call.name} on existing table {call.table} without postgresql_concurrently=True"
    if not call.in_autocommit_block:
        return f"{statement} CONCURRENTLY on {call.table} outside autocommit_block(): it cannot run in a transaction"
    return None


@rule("DB003", "drop_column / drop_table",
      "The running release may still read it, and the data is gone; stop using it in a release first, "
      "drop it in a later one.",
      scope="any",
      unsafe="""op.drop_column("orders", "legacy_code")""",
      safe="""
# release N stopped reading orders.legacy_code; this later revision drops it, reviewed:
op.drop_column("orders", "legacy_code")  # dbops: noqa DB003""")
def _drop(call: OpCall, ctx: Context) -> str | None:
    if call.name in ("drop_column", "drop_table") and existing(call, ctx):
        return f"{call.name} on {call.table}"
    return None


@rule("DB004", "column type change",
      "Most type changes rewrite the table under an ACCESS EXCLUSIVE lock; add a new column, backfill, swap.",
      scope="any",
      unsafe="""op.alter_column("orders", "total", type_=sa.BigInteger(), existing_type=sa.Integer())""",
      safe="""
# widening a VARCHAR (or VARCHAR -> TEXT, a larger NUMERIC precision) touches no row:
op.alter_column("orders", "code", type_=sa.String(40), existing_type=sa.String(10))""")
def _type_change(call: OpCall, ctx: Context) -> str | None:
    if call.name == "alter_column" and "type_" in call.kwargs and existing(call, ctx):
        if _touches_no_row(call.kwargs["type_"], call.kwargs.get("existing_type"), ctx.dialect):
            return None
        return f"alter_column changes the type of a column of {call.table}"
    return None


_SQL_TYPES = {"String": "varchar", "VARCHAR": "varchar", "Unicode": "varchar", "NVARCHAR": "varchar",
              "Text": "text", "TEXT": "text", "UnicodeText": "text", "Numeric": "numeric", "NUMERIC": "numeric",
              "DECIMAL": "numeric"}


def _sql_type(node: ast.expr | None) -> tuple[str, tuple[int, ...]] | None:
    """``sa.String(40)`` -> ("varchar", (40,)); None when not a literal type lint knows."""
    if node is None:
        return None
    call = node if isinstance(node, ast.Call) else None
    name = _SQL_TYPES.get(ast.unparse(call.func if call else node).rsplit(".", 1)[-1])
    if name is None:
        return None
    values = [a.value for a in (call.args if call else [])]  # type: ignore[attr-defined]
    for kw in call.keywords if call else []:
        if kw.arg in ("length", "precision", "scale") and isinstance(kw.value, ast.Constant):
            values.append(kw.value.value)
    if any(not isinstance(v, int) for v in values):
        return None
    return name, tuple(values)


def _touches_no_row(new: ast.expr, old: ast.expr | None, dialect: str | None) -> bool:
    """A change PostgreSQL makes without reading or rewriting a row (VARCHAR widened, VARCHAR -> TEXT,
    a larger NUMERIC precision), known from Alembic's existing_type=. Other databases: not assumed."""
    from dbops.lint.ddl_facts import binary_coercible

    if dialect not in (None, "postgresql"):
        return False
    before, after = _sql_type(old), _sql_type(new)
    return before is not None and after is not None and binary_coercible(before, after)


@rule("DB005", "rename of a column, table or schema",
      "The running release still uses the old name and fails until it is replaced; add the new name, "
      "migrate readers, then drop the old one.",
      scope="any",
      unsafe="""op.alter_column("orders", "total", new_column_name="amount")""",
      safe="""
# a new column next to the old one; backfill, move readers and writers, drop "total" later
op.add_column("orders", sa.Column("amount", sa.Numeric(12, 2)))""")
def _rename(call: OpCall, ctx: Context) -> str | None:
    if call.name == "execute":  # ALTER TABLE/SCHEMA ... RENAME in raw SQL
        for node in ctx.nodes:
            if type(node).__name__ != "RenameStmt":
                continue
            kind = getattr(getattr(node, "renameType", None), "name", "").removeprefix("OBJECT_").lower()
            table = getattr(getattr(node, "relation", None), "relname", None)
            if kind in ("table", "column", "schema", "view", "matview") and table not in ctx.created_tables:
                return f"op.execute renames a {kind} ({node.subname or table} -> {node.newname})"
        return None
    if not existing(call, ctx):  # a table created in this revision: nobody reads the old name yet
        return None
    if call.name == "rename_table" or (call.name == "alter_column" and "new_column_name" in call.kwargs):
        return f"{call.name} renames {'a column of ' if call.name == 'alter_column' else ''}{call.table}"
    return None


@rule("DB006", "foreign key or CHECK added without NOT VALID",
      "Adding it validates every row while holding a lock that blocks writes; add it with "
      "postgresql_not_valid=True, then VALIDATE CONSTRAINT in a later step.",
      unsafe="""op.create_foreign_key("fk_orders_user", "orders", "users", ["user_id"], ["id"])""",
      safe="""
op.create_foreign_key("fk_orders_user", "orders", "users", ["user_id"], ["id"], postgresql_not_valid=True)
op.execute("SET LOCAL lock_timeout = '5s'")
op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user")  # or in a later revision""")
def _not_valid(call: OpCall, ctx: Context) -> str | None:
    if call.name in ("create_foreign_key", "create_check_constraint") and existing(call, ctx) \
            and _postgresql(call) and not true_kw(call, "postgresql_not_valid"):
        return f"{call.name} on {call.table} without postgresql_not_valid=True"
    return None


@rule("DB007", "raw DDL in op.execute without a lock timeout",
      "Raw DDL waits for its lock indefinitely and every query on the table queues behind it; "
      "SET lock_timeout first (dbops upgrade sets one per session, plain alembic does not).",
      unsafe="""op.execute("ALTER TABLE orders ADD COLUMN note text")""",
      safe="""
op.execute("SET LOCAL lock_timeout = '5s'")
op.execute("ALTER TABLE orders ADD COLUMN note text")""")
def _raw_ddl(call: OpCall, ctx: Context) -> str | None:
    if call.name != "execute" or ctx.lock_timeout_set or not _postgresql(call):
        return None
    for st in ctx.sql:
        if st.sets_lock_timeout:
            return None
        # a new table, extension or enum value locks nothing the app uses; CONCURRENTLY (in its
        # autocommit block, as DB002 asks) does not block the table's readers and writers
        if st.locking and not (st.concurrent and call.in_autocommit_block) \
                and (st.relation is None or st.relation not in ctx.created_tables):
            return f"op.execute runs DDL ({_what(st)} ...) without SET lock_timeout"
    return None


@rule("DB011", "unique constraint added to an existing table",
      "ADD CONSTRAINT ... UNIQUE builds its index while blocking writes to the table; build the index first "
      "with op.create_index(..., unique=True, postgresql_concurrently=True) inside autocommit_block(), then "
      "op.execute('ALTER TABLE t ADD CONSTRAINT name UNIQUE USING INDEX name').",
      unsafe="""op.create_unique_constraint("uq_users_email", "users", ["email"])""",
      safe="""
with op.get_context().autocommit_block():
    op.create_index("uq_users_email", "users", ["email"], unique=True, postgresql_concurrently=True)
op.execute("SET LOCAL lock_timeout = '5s'")
op.execute("ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email")""")
def _unique_constraint(call: OpCall, ctx: Context) -> str | None:
    if call.name == "create_unique_constraint" and existing(call, ctx) and _postgresql(call):
        return f"create_unique_constraint on existing table {call.table} builds its index under a write lock"
    return None


@rule("DB012", "SET NOT NULL on an existing column",
      "SET NOT NULL reads the whole table under an ACCESS EXCLUSIVE lock; on PostgreSQL 12+ add "
      "CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later step, then SET NOT NULL skips "
      "the scan (and drop the CHECK).",
      unsafe="""op.alter_column("orders", "user_id", nullable=False)""",
      safe="""
op.create_check_constraint("ck_orders_user_id_nn", "orders", "user_id IS NOT NULL", postgresql_not_valid=True)
# a later revision: VALIDATE CONSTRAINT (no exclusive lock), then SET NOT NULL (no scan), then drop the CHECK""")
def _set_not_null(call: OpCall, ctx: Context) -> str | None:
    if call.name != "alter_column" or not existing(call, ctx) or call.table in ctx.emptied_tables:
        return None
    nullable = call.kwargs.get("nullable")
    if isinstance(nullable, ast.Constant) and nullable.value is False:
        column = call.const_arg(0 if call.batch_table else 1)
        return f"alter_column sets {call.table}.{column} NOT NULL, scanning the table under an exclusive lock"
    return None


@rule("DB013", "drop_index without CONCURRENTLY",
      "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table while it runs; use postgresql_concurrently=True "
      "inside op.get_context().autocommit_block().",
      unsafe="""op.drop_index("ix_orders_code", table_name="orders")""",
      safe="""
with op.get_context().autocommit_block():
    op.drop_index("ix_orders_code", table_name="orders", postgresql_concurrently=True)""")
def _drop_index_not_concurrent(call: OpCall, ctx: Context) -> str | None:
    if call.name != "drop_index" or not existing(call, ctx) or not _postgresql(call):
        return None
    return _not_concurrent(call, "DROP INDEX")


def _what(st: Statement) -> str:
    names = {"AlterTableStmt": "ALTER TABLE", "IndexStmt": "CREATE INDEX", "DropStmt": "DROP", "TruncateStmt":
             "TRUNCATE", "LockStmt": "LOCK", "ReindexStmt": "REINDEX", "VacuumStmt": "VACUUM", "ClusterStmt":
             "CLUSTER", "RenameStmt": "ALTER ... RENAME", "CreateTrigStmt": "CREATE TRIGGER"}
    return names.get(st.kind, st.kind)


_NOQA = re.compile(r"#\s*dbops:\s*noqa(?::?\s*(?P<ids>[A-Z]{2}\d{3}(?:[\s,]+[A-Z]{2}\d{3})*))?")


def _silenced(lines: list[str], call: OpCall, rule_id: str) -> bool:
    end = getattr(call.node, "end_lineno", call.line) or call.line
    for number in {call.line, end}:
        match = _NOQA.search(lines[number - 1]) if 0 < number <= len(lines) else None
        if match and (match["ids"] is None or rule_id in re.split(r"[\s,]+", match["ids"])):
            return True
    return False


def lint_source(source: str, *, dialect: str | None = None) -> Iterator[Finding]:
    """Findings of every rule over a revision's source. ``dialect``: the project's database when known
    (its configured URL or its version directory): PostgreSQL advice is not given to a SQLite chain."""
    lines = source.splitlines()
    calls = list(op_calls(source, ("upgrade",)))
    texts = {id(c): c.sql_text() for c in calls if c.name == "execute"}
    read = {key: sql_read(text) for key, text in texts.items() if text is not None}  # parsed once
    created = frozenset(c.table for c in calls if c.name == "create_table" and c.table) | frozenset(
        st.relation for sql, _ in read.values() for st in sql
        if st.kind in ("CreateStmt", "CreateTableAsStmt") and st.relation)
    seen_timeout = False
    emptied: set[str] = set()
    for call in calls:
        text = texts.get(id(call))
        found, nodes = read.get(id(call), ([], ()))
        sql: tuple[Statement, ...] = tuple(found)
        ctx = Context(created_tables=created, lock_timeout_set=seen_timeout, emptied_tables=frozenset(emptied),
                      sql=sql, nodes=nodes, raw=text, dialect=dialect)
        # what this statement leaves behind counts for the calls after it
        seen_timeout = seen_timeout or any(st.sets_lock_timeout for st in sql)
        emptied.update(t for st in sql for t in st.empties)
        for r in RULES.values():
            if not r.applies(call, dialect):
                continue
            message = r.check(call, ctx)
            if message and not _silenced(lines, call, r.id):
                yield Finding(r.id, r.title, r.rationale, call.line, message, r.severity)


# Rules over the revision file itself rather than its operations (their check is in safety/audit.py).
FILENAME_RULE = "DB008"
FILE_RULES = {
    FILENAME_RULE: ("revision file name",
                    "the project names its revision files one way (revision_filename in its dbops config) so they "
                    "sort and review alike; rename the file (git mv), its revision id stays the same"),
}


def _module_literals(source: str, names: tuple[str, ...]) -> dict[str, object] | None:
    """The literal values ``names`` are assigned at module level (one parse; None: not Python)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    found: dict[str, object] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AnnAssign) else []
        value = getattr(node, "value", None)
        for target in targets:
            if isinstance(target, ast.Name) and target.id in names and value is not None:
                try:
                    found[target.id] = ast.literal_eval(value)
                except ValueError:
                    found[target.id] = ...  # computed: not a literal
    return found


def revision_links(source: str) -> tuple[str, tuple[str, ...]] | None:
    """(revision, down revisions) a revision file assigns at module level as literals; None: not a
    revision file, or one whose ids are computed."""
    found = _module_literals(source, ("revision", "down_revision"))
    rev, down = (found or {}).get("revision"), (found or {}).get("down_revision")
    if not isinstance(rev, str) or "down_revision" not in (found or {}):
        return None
    if down is None:
        return rev, ()
    if isinstance(down, str):
        return rev, (down,)
    if isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
        return rev, tuple(down)
    return None


def revision_id(source: str) -> str | None:
    """The ``revision = "..."`` a revision file assigns at module level (None: not a revision file)."""
    rev = (_module_literals(source, ("revision",)) or {}).get("revision")
    return rev if isinstance(rev, str) else None


# the rules of the other families register themselves on import (after these, for the docs' order)
import dbops.lint.rules_columns  # noqa: E402, F401
import dbops.lint.rules_sql  # noqa: E402, F401
