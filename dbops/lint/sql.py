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
    try:
        import pglast
        from pglast.parser import ParseError
    except ImportError:  # pragma: no cover - pglast is a dependency; kept for a broken install
        return _by_first_word(sql)
    try:
        parsed = pglast.parse_sql(sql)
    except ParseError:
        return _by_first_word(sql)
    out = []
    for raw in parsed:
        node: Any = raw.stmt
        kind = type(node).__name__
        if kind == "VariableSetStmt":
            out.append(Statement(kind, False, sets_lock_timeout=getattr(node, "name", None) == "lock_timeout"))
        elif kind == "DeleteStmt":
            table = _name(node.relation)
            out.append(Statement(kind, False, relation=table,
                                 empties=(table,) if table and node.whereClause is None else ()))
        elif kind == "TruncateStmt":
            tables = tuple(t for t in (_name(r) for r in node.relations or ()) if t)
            out.append(Statement(kind, True, relation=tables[0] if tables else None, empties=tables))
        elif kind == "IndexStmt":
            out.append(Statement(kind, True, concurrent=bool(node.concurrent), relation=_name(node.relation)))
        elif kind == "ReindexStmt":
            params = [getattr(p, "defname", "") for p in getattr(node, "params", None) or ()]
            out.append(Statement(kind, True, concurrent="concurrently" in params))
        elif kind == "VacuumStmt":  # a plain VACUUM / ANALYZE blocks neither reads nor writes; FULL rewrites
            full = any(getattr(o, "defname", "") == "full" for o in getattr(node, "options", None) or ())
            out.append(Statement(kind, full))
        elif kind == "CreateStmt":  # a new table: the revision's later statements on it lock nothing in use
            out.append(Statement(kind, False, relation=_name(node.relation)))
        elif kind == "CreateTableAsStmt":  # a new table / materialized view; it only reads (ACCESS SHARE) the rest
            out.append(Statement(kind, False, relation=_name(getattr(node.into, "rel", None))))
        elif kind in LOCKING:
            out.append(Statement(kind, True, concurrent=bool(getattr(node, "concurrent", False)),
                                 relation=_name(getattr(node, "relation", None))))
        else:
            out.append(Statement(kind, False))
    return out


def _by_first_word(sql: str) -> list[Statement]:
    match = _FIRST_WORD_DDL.match(sql)
    word = match.group(1).upper() if match else (sql.strip().split()[0].upper() if sql.strip() else "")
    lowered = sql.lower()
    return [Statement(word, match is not None and "concurrently" not in lowered,
                      sets_lock_timeout=bool(re.match(r"\s*set\s+(local\s+)?lock_timeout\b", lowered)),
                      concurrent="concurrently" in lowered, parsed=False)]
