"""What one SQL statement will do to the relations it touches on PostgreSQL: the table lock mode it
takes, and whether it rewrites the table, scans it (a NOT NULL check, a constraint validation) or
builds an index over it. Read with PostgreSQL's own parser (pglast), never by regex. `dbops plan`
asks it about each pending statement (with the live catalog); lint about raw SQL in op.execute.

The lock levels follow PostgreSQL's ``AlterTableGetLockLevel`` and the "Table-Level Locks" page of
its documentation; ``tests/plan/test_plan_reality.py`` runs each operation kind on a real server,
samples ``pg_locks`` and ``pg_class.relfilenode``, and checks the prediction against what it did.

Some answers depend on the live catalog (the column's current type for ALTER ... TYPE, a default's
function volatility, the table an index belongs to): :class:`Catalog` asks for them. Without a
catalog answer the prediction says so (``certain=False``) instead of guessing quietly.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from dbops.lint.ddl_facts import binary_coercible, type_text, typmod_value, volatile_call
from dbops.lint.lock_modes import (
    ACCESS_EXCLUSIVE,
    MODES,
    ROW_EXCLUSIVE,
    ROW_SHARE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
)


class Catalog(Protocol):
    """What the classifier asks the live database (None: unknown)."""

    def column_type(self, schema: str | None, table: str, column: str) -> tuple[str, tuple[int, ...]] | None:
        """(type name as pg_type.typname, typmods as written: varchar(20) -> (20,), numeric(10,2) -> (10, 2))."""

    def volatility(self, function: str) -> str | None:
        """pg_proc.provolatile of a function by name: 'i', 's' or 'v'."""

    def index_table(self, schema: str | None, index: str) -> tuple[str | None, str] | None:
        """The (schema, table) an index belongs to."""

    def referenced_table(self, schema: str | None, table: str, constraint: str) -> tuple[str | None, str] | None:
        """The (schema, table) a foreign key constraint of ``table`` references (None: not a foreign key)."""

    def referenced_tables(self, schema: str | None, table: str) -> list[tuple[str | None, str]]:
        """The tables the foreign keys of ``table`` reference (dropping it drops their triggers there)."""


@dataclass(frozen=True)
class Effect:
    """One statement's effect on one relation."""

    schema: str | None
    relation: str
    mode: str  # the strongest table lock it takes (AccessExclusiveLock, ...)
    rewrite: bool = False  # the whole table is written anew (new relfilenode)
    scan: bool = False  # reads every row under the lock (NOT NULL check, constraint validation)
    index_build: bool = False  # builds an index over every row
    empties: bool = False  # TRUNCATE: a new, empty file (the relfilenode changes, no row is written)
    new: bool = False  # the relation is created by this statement (nobody else can be using it)
    certain: bool = True  # False: a catalog answer was missing, the flags are the conservative guess
    what: str = ""  # the operation, for people: "ADD COLUMN c", "SET NOT NULL a", ...

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.relation}" if self.schema else self.relation


@dataclass(frozen=True)
class Classified:
    kind: str  # pglast node name, or "unparsed"
    effects: tuple[Effect, ...] = ()
    concurrent: bool = False  # CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY: runs outside a transaction
    note: str = ""
    sql: str = ""  # the statement's own text


def classify(sql: str, catalog: Catalog | None = None) -> list[Classified]:
    """Every statement of ``sql`` (one or several), in order."""
    import pglast
    from pglast.parser import ParseError

    try:
        parsed = pglast.parse_sql(sql)
    except ParseError as exc:
        return [Classified("unparsed", sql=sql.strip(),
                           note=f"PostgreSQL's parser could not read it ({exc}); not assessed")]
    encoded = sql.encode()  # pglast's locations are byte offsets
    out = []
    for raw in parsed:
        start = raw.stmt_location or 0
        text = encoded[start:start + raw.stmt_len if raw.stmt_len else None].decode().strip()
        out.append(replace(_statement(raw.stmt, catalog), sql=text))
    return out


def _rel(rangevar: Any) -> tuple[str | None, str]:
    return getattr(rangevar, "schemaname", None), rangevar.relname


def _statement(node: Any, catalog: Catalog | None) -> Classified:
    kind = type(node).__name__
    handler = _HANDLERS.get(kind)
    if handler is None:
        return Classified(kind, note="takes no lock on an existing table that dbops knows of")
    return handler(node, catalog)


def _alter_table(node: Any, catalog: Catalog | None) -> Classified:
    from pglast.enums import AlterTableType as At
    from pglast.enums import ObjectType

    if node.objtype == ObjectType.OBJECT_INDEX:
        return _alter_index(node, catalog)
    if node.objtype != ObjectType.OBJECT_TABLE:
        return Classified("AlterTableStmt", note=f"ALTER {node.objtype.name.removeprefix('OBJECT_')}: not assessed")
    schema, table = _rel(node.relation)
    effects: list[Effect] = []
    for cmd in node.cmds or ():
        sub = cmd.subtype
        if sub == At.AT_AddColumn:
            effects += _add_column(schema, table, cmd.def_, catalog)
        elif sub == At.AT_AlterColumnType:
            effects.append(_alter_type(schema, table, cmd.name, cmd.def_, catalog))
        elif sub == At.AT_SetNotNull:
            effects.append(Effect(schema, table, ACCESS_EXCLUSIVE, scan=True, what=f"SET NOT NULL {cmd.name}"))
        elif sub == At.AT_AddConstraint:
            effects += _constraint_effects(schema, table, cmd.def_, inline=False)
        elif sub == At.AT_ValidateConstraint:
            effects.append(Effect(schema, table, SHARE_UPDATE_EXCLUSIVE, scan=True,
                                  what=f"VALIDATE CONSTRAINT {cmd.name}"))
            referenced = catalog.referenced_table(schema, table, cmd.name) if catalog is not None else None
            if referenced is not None:  # the check reads the referenced rows (SELECT ... FOR KEY SHARE)
                effects.append(Effect(referenced[0], referenced[1], ROW_SHARE,
                                      what=f"read to validate the foreign key {cmd.name}"))
        elif sub == At.AT_AddIndexConstraint:
            effects.append(Effect(schema, table, ACCESS_EXCLUSIVE, what="ADD CONSTRAINT ... USING INDEX"))
        elif sub in (At.AT_SetStatistics, At.AT_SetOptions, At.AT_ResetOptions, At.AT_ClusterOn, At.AT_DropCluster):
            effects.append(Effect(schema, table, SHARE_UPDATE_EXCLUSIVE, what=sub.name.removeprefix("AT_")))
        elif sub in (At.AT_EnableTrig, At.AT_DisableTrig, At.AT_EnableAlwaysTrig, At.AT_EnableReplicaTrig,
                     At.AT_EnableTrigAll, At.AT_DisableTrigAll, At.AT_EnableTrigUser, At.AT_DisableTrigUser):
            effects.append(Effect(schema, table, SHARE_ROW_EXCLUSIVE, what=sub.name.removeprefix("AT_")))
        elif sub in (At.AT_SetTableSpace, At.AT_SetLogged, At.AT_SetUnLogged, At.AT_SetAccessMethod):
            effects.append(Effect(schema, table, ACCESS_EXCLUSIVE, rewrite=True, what=sub.name.removeprefix("AT_")))
        elif sub == At.AT_DropConstraint:
            effects.append(Effect(schema, table, ACCESS_EXCLUSIVE, what=f"DROP CONSTRAINT {cmd.name}"))
            referenced = catalog.referenced_table(schema, table, cmd.name) if catalog is not None else None
            if referenced is not None:  # a foreign key's triggers on the referenced table go with it
                effects.append(Effect(referenced[0], referenced[1], ACCESS_EXCLUSIVE,
                                      what=f"loses the triggers of the dropped foreign key {cmd.name}"))
        else:  # ADD/DROP DEFAULT, DROP NOT NULL, DROP COLUMN, ...: catalog only
            label = sub.name.removeprefix("AT_")
            effects.append(Effect(schema, table, ACCESS_EXCLUSIVE, what=f"{label} {cmd.name or ''}".strip()))
    return Classified("AlterTableStmt", tuple(effects))


def _alter_index(node: Any, catalog: Catalog | None) -> Classified:
    schema, index = _rel(node.relation)
    owner = catalog.index_table(schema, index) if catalog is not None else None
    if owner is None:
        return Classified("AlterTableStmt", note=f"ALTER INDEX {index}: its table is unknown")
    return Classified("AlterTableStmt", (Effect(owner[0], owner[1], SHARE_UPDATE_EXCLUSIVE,
                                                what=f"ALTER INDEX {index}"),))


def _add_column(schema: str | None, table: str, column: Any, catalog: Catalog | None) -> list[Effect]:
    from pglast.enums import ConstrType

    rewrite, certain, why = False, True, ""
    not_null = has_default = False
    for con in column.constraints or ():
        if con.contype in (ConstrType.CONSTR_IDENTITY,):
            rewrite, why = True, " (identity: every row gets a value)"
        elif con.contype == ConstrType.CONSTR_GENERATED:
            rewrite, why = True, " (stored generated column)"
        elif con.contype == ConstrType.CONSTR_NOTNULL:
            not_null = True
        elif con.contype == ConstrType.CONSTR_DEFAULT:
            has_default = True
            volatile = volatile_call(con.raw_expr, catalog.volatility if catalog is not None else None)
            if volatile is None:
                rewrite, certain, why = True, False, " (default of unknown volatility)"
            elif volatile:
                rewrite, why = True, " (volatile default: every row gets its own value)"
    type_names = [n.sval for n in column.typeName.names]
    if type_names[-1] in ("serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"):
        rewrite, why = True, " (serial: every row gets a value)"
    effects = [Effect(schema, table, ACCESS_EXCLUSIVE, rewrite=rewrite, certain=certain,
                      scan=not_null and not has_default and not rewrite,
                      what=f"ADD COLUMN {column.colname}{why}")]
    for con in column.constraints or ():
        effects += _constraint_effects(schema, table, con, inline=True)
    return effects


def _alter_type(schema: str | None, table: str, column: str, coldef: Any, catalog: Catalog | None) -> Effect:
    new_name = coldef.typeName.names[-1].sval
    new_mods = tuple(typmod_value(m) for m in coldef.typeName.typmods or ())
    what = f"ALTER COLUMN {column} TYPE {new_name}{'(' + ','.join(map(str, new_mods)) + ')' if new_mods else ''}"
    if coldef.raw_default is not None:  # USING expr: always computed row by row
        return Effect(schema, table, ACCESS_EXCLUSIVE, rewrite=True, what=what + " USING ...")
    old = catalog.column_type(schema, table, column) if catalog is not None else None
    if old is None:
        return Effect(schema, table, ACCESS_EXCLUSIVE, rewrite=True, certain=False,
                      what=what + " (current type unknown)")
    rewrite = not binary_coercible(old, (new_name, new_mods))
    return Effect(schema, table, ACCESS_EXCLUSIVE, rewrite=rewrite, what=what + f" (from {type_text(old)})")


def _constraint_effects(schema: str | None, table: str, con: Any, *, inline: bool) -> list[Effect]:
    from pglast.enums import ConstrType

    name = f" {con.conname}" if getattr(con, "conname", None) else ""
    validated = not getattr(con, "skip_validation", False)
    if con.contype == ConstrType.CONSTR_FOREIGN:
        mode = SHARE_ROW_EXCLUSIVE
        ref_schema, ref_table = _rel(con.pktable)
        out = [] if inline else [Effect(schema, table, mode, scan=validated,
                                        what=f"ADD FOREIGN KEY{name}" + ("" if validated else " NOT VALID"))]
        out.append(Effect(ref_schema, ref_table, mode, what=f"referenced by the new foreign key{name}"))
        return out
    if inline:
        return []
    if con.contype == ConstrType.CONSTR_CHECK:
        return [Effect(schema, table, ACCESS_EXCLUSIVE, scan=validated,
                       what=f"ADD CHECK{name}" + ("" if validated else " NOT VALID"))]
    if con.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_EXCLUSION):
        label = con.contype.name.removeprefix("CONSTR_")
        if getattr(con, "indexname", None):
            return [Effect(schema, table, ACCESS_EXCLUSIVE, what=f"ADD {label}{name} USING INDEX")]
        return [Effect(schema, table, ACCESS_EXCLUSIVE, index_build=True, what=f"ADD {label}{name}")]
    return [Effect(schema, table, ACCESS_EXCLUSIVE, what=f"ADD CONSTRAINT{name}")]


def _index(node: Any, catalog: Catalog | None) -> Classified:
    schema, table = _rel(node.relation)
    mode = SHARE_UPDATE_EXCLUSIVE if node.concurrent else SHARE
    label = "CREATE UNIQUE INDEX" if node.unique else "CREATE INDEX"
    what = f"{label}{' CONCURRENTLY' if node.concurrent else ''} {node.idxname}"
    return Classified("IndexStmt", (Effect(schema, table, mode, index_build=True, what=what),),
                      concurrent=bool(node.concurrent))


def _drop(node: Any, catalog: Catalog | None) -> Classified:
    from pglast.enums import ObjectType

    names = [tuple(part.sval for part in obj) for obj in node.objects or ()]
    if node.removeType in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_MATVIEW):
        dropped = []
        for n in names:
            schema = n[-2] if len(n) > 1 else None
            dropped.append(Effect(schema, n[-1], ACCESS_EXCLUSIVE, what="DROP"))
            for ref in (catalog.referenced_tables(schema, n[-1]) if catalog is not None else []):
                dropped.append(Effect(ref[0], ref[1], ACCESS_EXCLUSIVE,
                                      what=f"loses the foreign-key triggers of the dropped table {n[-1]}"))
        return Classified("DropStmt", tuple(dropped))
    if node.removeType == ObjectType.OBJECT_INDEX:
        effects = []
        for n in names:
            schema = n[-2] if len(n) > 1 else None
            owner = catalog.index_table(schema, n[-1]) if catalog is not None else None
            if owner is None:
                continue
            mode = SHARE_UPDATE_EXCLUSIVE if node.concurrent else ACCESS_EXCLUSIVE
            effects.append(Effect(owner[0], owner[1], mode,
                                  what=f"DROP INDEX{' CONCURRENTLY' if node.concurrent else ''} {n[-1]}"))
        return Classified("DropStmt", tuple(effects), concurrent=bool(node.concurrent))
    return Classified("DropStmt", note=f"DROP {node.removeType.name.removeprefix('OBJECT_')}: no table lock assessed")


def _rename(node: Any, catalog: Catalog | None) -> Classified:
    from pglast.enums import ObjectType

    if node.renameType == ObjectType.OBJECT_INDEX:
        schema, index = _rel(node.relation)
        owner = catalog.index_table(schema, index) if catalog is not None else None
        if owner is None:
            return Classified("RenameStmt", note=f"RENAME of index {index}: its table is unknown")
        # PostgreSQL 12+: SHARE UPDATE EXCLUSIVE on the index itself, nothing on its table
        return Classified("RenameStmt", (Effect(schema or owner[0], index, SHARE_UPDATE_EXCLUSIVE,
                                                what=f"RENAME INDEX {index} TO {node.newname}"),))
    if node.relation is None:
        return Classified("RenameStmt", note="rename of a non-table object: no table lock assessed")
    schema, table = _rel(node.relation)
    what = {ObjectType.OBJECT_COLUMN: f"RENAME COLUMN {node.subname}",
            ObjectType.OBJECT_TABCONSTRAINT: f"RENAME CONSTRAINT {node.subname}"}.get(node.renameType, "RENAME TABLE")
    return Classified("RenameStmt", (Effect(schema, table, ACCESS_EXCLUSIVE, what=f"{what} TO {node.newname}"),))


def _create_table(node: Any, catalog: Catalog | None) -> Classified:
    from pglast.enums import ConstrType

    schema, table = _rel(node.relation)
    effects = [Effect(schema, table, ACCESS_EXCLUSIVE, new=True, what="CREATE TABLE")]
    for elt in node.tableElts or ():
        constraints = [elt] if type(elt).__name__ == "Constraint" else list(getattr(elt, "constraints", None) or ())
        for con in constraints:
            if con.contype == ConstrType.CONSTR_FOREIGN:
                ref_schema, ref_table = _rel(con.pktable)
                if (ref_schema, ref_table) != (schema, table):
                    effects.append(Effect(ref_schema, ref_table, SHARE_ROW_EXCLUSIVE,
                                          what=f"referenced by a foreign key of the new table {table}"))
    return Classified("CreateStmt", tuple(effects))


def _simple(mode: str, **flags: Any) -> Callable[[Any, Catalog | None], Classified]:
    def handler(node: Any, catalog: Catalog | None) -> Classified:
        kind = type(node).__name__
        one = getattr(node, "relation", None)
        rels = [one] if one is not None else list(getattr(node, "relations", ()) or ())
        label = kind.removesuffix("Stmt").upper()
        return Classified(kind, tuple(Effect(*_rel(r), mode, what=label, **flags) for r in rels))
    return handler


def _dml(node: Any, catalog: Catalog | None) -> Classified:
    kind = type(node).__name__
    schema, table = _rel(node.relation)
    label = kind.removesuffix("Stmt").upper()
    whole = kind in ("UpdateStmt", "DeleteStmt") and getattr(node, "whereClause", None) is None
    return Classified(kind, (Effect(schema, table, ROW_EXCLUSIVE, scan=kind != "InsertStmt",
                                    what=label + (" (every row)" if whole else "")),))


def _lock(node: Any, catalog: Catalog | None) -> Classified:
    mode = MODES[int(node.mode) - 1] if 1 <= int(node.mode) <= len(MODES) else ACCESS_EXCLUSIVE
    return Classified("LockStmt", tuple(Effect(*_rel(r), mode, what="LOCK TABLE") for r in node.relations or ()))


def _reindex(node: Any, catalog: Catalog | None) -> Classified:
    from pglast.enums import ReindexObjectType

    concurrent = any(getattr(p, "defname", "") == "concurrently" for p in node.params or ())
    if node.kind == ReindexObjectType.REINDEX_OBJECT_TABLE and node.relation is not None:
        mode = SHARE_UPDATE_EXCLUSIVE if concurrent else SHARE
        return Classified("ReindexStmt", (Effect(*_rel(node.relation), mode, index_build=True, what="REINDEX TABLE"),),
                          concurrent=concurrent)
    if node.kind == ReindexObjectType.REINDEX_OBJECT_INDEX and node.relation is not None:
        schema, index = _rel(node.relation)
        owner = catalog.index_table(schema, index) if catalog is not None else None
        if owner is not None:
            mode = SHARE_UPDATE_EXCLUSIVE if concurrent else SHARE
            return Classified("ReindexStmt", (Effect(owner[0], owner[1], mode, index_build=True,
                                                     what=f"REINDEX INDEX {index}"),), concurrent=concurrent)
    return Classified("ReindexStmt", note="REINDEX of a schema or database: not assessed")


def _vacuum(node: Any, catalog: Catalog | None) -> Classified:
    full = any(getattr(o, "defname", "") == "full" for o in node.options or ())
    rels = [r.relation for r in node.rels or ()]
    if full:
        return Classified("VacuumStmt", tuple(Effect(*_rel(r), ACCESS_EXCLUSIVE, rewrite=True, what="VACUUM FULL")
                                              for r in rels))
    return Classified("VacuumStmt", tuple(Effect(*_rel(r), SHARE_UPDATE_EXCLUSIVE, scan=True, what="VACUUM")
                                          for r in rels))


_HANDLERS: dict[str, Callable[[Any, Catalog | None], Classified]] = {
    "AlterTableStmt": _alter_table,
    "IndexStmt": _index,
    "DropStmt": _drop,
    "RenameStmt": _rename,
    "CreateStmt": _create_table,
    "TruncateStmt": _simple(ACCESS_EXCLUSIVE, empties=True),
    "CreateTrigStmt": _simple(SHARE_ROW_EXCLUSIVE),
    "ClusterStmt": _simple(ACCESS_EXCLUSIVE, rewrite=True),
    "RefreshMatViewStmt": _simple(ACCESS_EXCLUSIVE),
    "InsertStmt": _dml,
    "UpdateStmt": _dml,
    "DeleteStmt": _dml,
    "LockStmt": _lock,
    "ReindexStmt": _reindex,
    "VacuumStmt": _vacuum,
}
