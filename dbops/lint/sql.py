"""What the SQL a revision passes to ``op.execute`` does, read with PostgreSQL's own parser (pglast):
which statements take locks on existing tables, which set a lock timeout, which empty a table.

SQL pglast cannot parse (another dialect's syntax, a template) is classified by its first keyword,
the way lint did before it had a parser; :attr:`Statement.parsed` says which way it was read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# statements that lock an existing relation for their whole run (and so queue everything behind them)
LOCKING = frozenset({
    "AlterTableStmt", "IndexStmt", "DropStmt", "TruncateStmt", "LockStmt", "ReindexStmt", "VacuumStmt",
    "ClusterStmt", "RenameStmt", "CreateTrigStmt", "AlterObjectSchemaStmt", "CreateTableAsStmt",
    "RefreshMatViewStmt",
})
# DDL that does not hold a lock on existing tables that the application uses: a new extension, a new
# enum value (a brief lock on the type only), a new table, function, view, sequence or schema
HARMLESS = frozenset({
    "CreateExtensionStmt", "AlterEnumStmt", "CreateStmt", "CreateFunctionStmt", "ViewStmt", "CreateSeqStmt",
    "CreateSchemaStmt", "CreateEnumStmt", "CommentStmt", "GrantStmt", "CreateDomainStmt", "DefineStmt",
    "CompositeTypeStmt", "AlterSeqStmt",
})
_FIRST_WORD_DDL = re.compile(r"^\s*(ALTER|CREATE|DROP|LOCK|TRUNCATE|REINDEX|VACUUM|CLUSTER)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Statement:
    kind: str  # pglast node name (AlterTableStmt, ...) or the first keyword when it did not parse
    locking: bool  # takes a lock on an existing relation for its whole run
    sets_lock_timeout: bool = False  # SET [LOCAL] lock_timeout ...
    concurrent: bool = False  # CREATE INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY
    relation: str | None = None  # the table it works on, when there is one
    empties: tuple[str, ...] = ()  # tables left empty: DELETE FROM t without WHERE, TRUNCATE t
    parsed: bool = True


def _name(rangevar: object) -> str | None:
    return getattr(rangevar, "relname", None)


def statements(sql: str) -> list[Statement]:
    return read(sql)[0]


def read(sql: str) -> tuple[list[Statement], tuple[Any, ...]]:
    """(what each statement does, PostgreSQL's parse tree of each) from one parse; the tree is () and the
    statements are read by their first keyword when it is not PostgreSQL's syntax."""
    try:
        import pglast
        from pglast.parser import ParseError
    except ImportError:  # pragma: no cover - pglast is a dependency; kept for a broken install
        return _by_first_word(sql), ()
    try:
        parsed = pglast.parse_sql(sql)
    except ParseError:
        return _by_first_word(sql), ()
    nodes = tuple(raw.stmt for raw in parsed)
    return [_classify(node) for node in nodes], nodes


def _classify(node: Any) -> Statement:
    kind = type(node).__name__
    if kind == "VariableSetStmt":
        return Statement(kind, False, sets_lock_timeout=getattr(node, "name", None) == "lock_timeout")
    if kind == "DeleteStmt":
        table = _name(node.relation)
        return Statement(kind, False, relation=table, empties=(table,) if table and node.whereClause is None else ())
    if kind == "TruncateStmt":
        tables = tuple(t for t in (_name(r) for r in node.relations or ()) if t)
        return Statement(kind, True, relation=tables[0] if tables else None, empties=tables)
    if kind == "IndexStmt":
        return Statement(kind, True, concurrent=bool(node.concurrent), relation=_name(node.relation))
    if kind == "ReindexStmt":
        params = [getattr(p, "defname", "") for p in getattr(node, "params", None) or ()]
        return Statement(kind, True, concurrent="concurrently" in params)
    if kind == "VacuumStmt":  # a plain VACUUM / ANALYZE blocks neither reads nor writes; FULL rewrites
        full = any(getattr(o, "defname", "") == "full" for o in getattr(node, "options", None) or ())
        return Statement(kind, full)
    if kind == "CreateStmt":  # a new table: the revision's later statements on it lock nothing in use
        return Statement(kind, False, relation=_name(node.relation))
    if kind == "CreateTableAsStmt":  # a new table / materialized view; it only reads (ACCESS SHARE) the rest
        return Statement(kind, False, relation=_name(getattr(node.into, "rel", None)))
    if kind in LOCKING:
        return Statement(kind, True, concurrent=bool(getattr(node, "concurrent", False)),
                         relation=_name(getattr(node, "relation", None)))
    return Statement(kind, False)


def _by_first_word(sql: str) -> list[Statement]:
    match = _FIRST_WORD_DDL.match(sql)
    word = match.group(1).upper() if match else (sql.strip().split()[0].upper() if sql.strip() else "")
    lowered = sql.lower()
    return [Statement(word, match is not None and "concurrently" not in lowered,
                      sets_lock_timeout=bool(re.match(r"\s*set\s+(local\s+)?lock_timeout\b", lowered)),
                      concurrent="concurrently" in lowered, parsed=False)]
