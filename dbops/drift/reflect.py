"""Live or scratch database -> SchemaSpec, with a constant number of catalog queries.

PostgreSQL: five pg_catalog queries for every table of every schema (pg_catalog.py).
Other dialects: SQLAlchemy 2's ``Inspector.get_multi_*`` (one call per kind; SQLite and
MariaDB have no cheaper catalog, and their schemas are small). Alembic's comparison reflects
table by table (N+12 statements).
"""
from __future__ import annotations

import warnings
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from dbops.drift.normalize import (
    dialect_family,
    fold_type_text,
    norm_action,
    norm_default,
    norm_default_for,
    norm_sql,
    norm_type,
    split_parenthesized,
)
from dbops.drift.pg_catalog import read_columns, read_constraints, read_indexes
from dbops.drift.schema import CheckSpec, ColumnSpec, ForeignKeySpec, IndexSpec, SchemaSpec, TableSpec, UniqueSpec

# Sequences not owned by a column (serial/identity sequences belong to their column).
PG_FREE_SEQUENCES = text(
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'S' AND n.nspname = ANY(:schemas) AND NOT EXISTS ("
    "SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass "
    "AND d.deptype IN ('a', 'i'))"
)
PG_ENUMS = text(
    "SELECT n.nspname, t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) "
    "FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace "
    "WHERE n.nspname = ANY(:schemas) GROUP BY n.nspname, t.typname"
)


def _is_nextval(default: str | None) -> bool:
    return default is not None and default.lower().startswith("nextval(")


def reflect_schema(
    conn: Connection,
    *,
    schemas: tuple[str | None, ...] = (None,),
    exclude_tables: set[str] = frozenset(),  # type: ignore[assignment]
    tenant_schema: str | None = None,
) -> SchemaSpec:
    """``tenant_schema``: read that schema as if it were the default one (tenant fan-out)."""
    if conn.dialect.name == "postgresql":
        return _reflect_postgresql(conn, schemas, exclude_tables, tenant_schema)
    return _reflect_generic(conn, schemas, exclude_tables)


def default_schema_of(conn: Connection) -> str | None:
    if conn.dialect.name == "postgresql":
        return conn.execute(text("SELECT current_schema()")).scalar()
    return inspect(conn).default_schema_name


# -- PostgreSQL ----------------------------------------------------------------------------

def _reflect_postgresql(conn: Connection, schemas: tuple[str | None, ...], exclude: set[str],
                        tenant_schema: str | None = None) -> SchemaSpec:
    default_schema = tenant_schema or default_schema_of(conn)
    wanted: list[str] = sorted({s for s in (default_schema if x is None else x for x in schemas) if s})
    spec = SchemaSpec(dialect=conn.dialect.name)
    columns = read_columns(conn, wanted)
    constraints = read_constraints(conn, wanted)
    indexes = read_indexes(conn, wanted)

    def local(nsp: str | None) -> str | None:
        return None if nsp == default_schema else nsp

    for (nsp, rel), cols in columns.items():
        if rel in exclude:
            continue
        ts = TableSpec(schema=local(nsp), name=rel, comment=cols[0]["table_comment"] if cols else None)
        for col in cols:
            auto = col["identity"] or _is_nextval(col["default"])
            ts.columns[col["name"]] = ColumnSpec(
                name=col["name"], type=fold_type_text(col["type"], "postgresql"), nullable=col["nullable"],
                default=None if auto and (col["default"] is None or _is_nextval(col["default"]))
                else norm_default(col["default"]),
                comment=col["comment"], autoincrement=auto,
            )
        for con in constraints.get((nsp, rel), []):
            kind = con["kind"]
            if kind == "p":
                ts.primary_key = con["columns"]
            elif kind == "u":
                ts.uniques.append(UniqueSpec(con["name"], con["columns"]))
            elif kind == "f":
                ts.foreign_keys.append(ForeignKeySpec(
                    name=con["name"], columns=con["columns"], ref_schema=local(con["ref_schema"]),
                    ref_table=con["ref_table"], ref_columns=con["ref_columns"],
                    ondelete=norm_action(con["ondelete"]), onupdate=norm_action(con["onupdate"]),
                ))
            elif kind == "c":
                ts.checks.append(CheckSpec(con["name"], norm_sql(con["check"]) or ""))
        for idx in indexes.get((nsp, rel), []):
            keys = tuple(norm_sql(k) or "" if expr else k for k, expr in zip(idx["keys"], idx["expression"],
                                                                           strict=True))
            ts.indexes.append(IndexSpec(idx["name"], keys, idx["unique"], idx["method"], norm_sql(idx["where"]),
                                        idx["include"], tuple(" ".join(k.split()) for k in idx["keys"])))
        spec.tables[(ts.schema, ts.name)] = ts
    for nsp, name, labels in conn.execute(PG_ENUMS, {"schemas": wanted}):
        spec.enums[(local(nsp), name)] = tuple(labels)
    for nsp, name in conn.execute(PG_FREE_SEQUENCES, {"schemas": wanted}):
        spec.sequences.add((local(nsp), name))
    return spec


# -- other dialects ------------------------------------------------------------------------

def _reflect_generic(conn: Connection, schemas: tuple[str | None, ...], exclude: set[str]) -> SchemaSpec:
    insp = inspect(conn)
    dialect = conn.dialect
    family = dialect_family(dialect.name)
    default_schema = insp.default_schema_name
    spec = SchemaSpec(dialect=dialect.name)
    for schema in schemas:
        query_schema = None if schema in (None, default_schema) else schema
        names = [n for n in insp.get_table_names(schema=query_schema) if n not in exclude]
        if not names:
            continue
        kw: dict[str, Any] = {"schema": query_schema, "filter_names": names}
        columns = insp.get_multi_columns(**kw)
        pks = insp.get_multi_pk_constraint(**kw)
        fks = insp.get_multi_foreign_keys(**kw)
        # SQLite: read from the stored statements (_sqlite_indexes); SQLAlchemy's would warn about every
        # expression index it skips
        indexes = insp.get_multi_indexes(**kw) if family != "sqlite" else {}
        sqlite_indexes = _sqlite_indexes(conn, query_schema) if family == "sqlite" else None
        with warnings.catch_warnings():  # SQLite's unique-constraint reflection reads the indexes too
            warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
            uniques = insp.get_multi_unique_constraints(**kw)
        checks = _optional(insp.get_multi_check_constraints, kw)
        comments = _optional(insp.get_multi_table_comment, kw)
        for key, cols in columns.items():
            ts = TableSpec(schema=None if key[0] in (None, default_schema) else key[0], name=key[1])
            for col in cols:
                auto = bool(col.get("identity")) or (family == "mysql" and col.get("autoincrement") is True)
                ts.columns[col["name"]] = ColumnSpec(
                    name=col["name"], type=norm_type(col["type"], dialect), nullable=bool(col["nullable"]),
                    default=None if auto and col.get("default") is None
                    else norm_default_for(col.get("default"), dialect.name),
                    comment=col.get("comment"), autoincrement=auto,
                )
            pk: Any = pks.get(key) or {}
            ts.primary_key = tuple(pk.get("constrained_columns") or ())
            if family == "sqlite" and len(ts.primary_key) == 1:
                only = ts.columns.get(ts.primary_key[0])
                if only is not None and only.type == "INTEGER":  # SQLite's rowid alias: autoincrements, never NULL
                    ts.columns[only.name] = ColumnSpec(only.name, only.type, False, only.default, only.comment, True)
            fk_names = set()
            for fk in fks.get(key, []):
                opts = fk.get("options") or {}
                ref_schema = fk.get("referred_schema")
                ts.foreign_keys.append(ForeignKeySpec(
                    name=fk.get("name"), columns=tuple(fk["constrained_columns"]),
                    ref_schema=None if ref_schema in (None, default_schema) else ref_schema,
                    ref_table=fk["referred_table"], ref_columns=tuple(fk["referred_columns"]),
                    ondelete=norm_action(opts.get("ondelete")), onupdate=norm_action(opts.get("onupdate")),
                ))
                fk_names.add((fk.get("name"), tuple(fk["constrained_columns"])))
            if family != "mysql":  # MySQL: a UNIQUE constraint *is* a unique index (kept below)
                for uq in uniques.get(key, []):
                    ts.uniques.append(UniqueSpec(uq.get("name"), tuple(uq["column_names"])))
            stored = sqlite_indexes.get(key[1], []) if sqlite_indexes is not None else None
            for idx in indexes.get(key, []) if stored is None else ():
                if idx.get("duplicates_constraint") and family != "mysql":
                    continue  # the index behind a UNIQUE constraint
                names_ = idx.get("column_names") or []
                exprs = idx.get("expressions") or names_
                cols_ = tuple(n if n is not None else (norm_sql(e) or "") for n, e in zip(names_, exprs, strict=False))
                if family == "mysql" and (idx["name"], cols_) in fk_names:
                    continue  # MySQL's implicit index for a foreign key
                where = norm_sql((idx.get("dialect_options") or {}).get("sqlite_where")) if family == "sqlite" else None
                ts.indexes.append(IndexSpec(idx["name"], cols_, bool(idx.get("unique")), None, where))
            ts.indexes.extend(stored or ())
            for ck in (checks or {}).get(key, []):
                ts.checks.append(CheckSpec(ck.get("name"), norm_sql(ck.get("sqltext")) or ""))
            ts.comment = ((comments or {}).get(key) or {}).get("text")
            spec.tables[(ts.schema, ts.name)] = ts
    return spec


def _sqlite_indexes(conn: Connection, schema: str | None) -> dict[str, list[IndexSpec]]:
    """A SQLite schema's indexes by table, read (in one query) from the CREATE INDEX statements SQLite stores:
    SQLAlchemy's reflection drops the sort order (``created DESC`` came back as ``created``) and skips
    expression indexes altogether (``lower(name)``: every such model index was reported missing). Indexes
    SQLite makes for UNIQUE and PRIMARY KEY constraints store no statement and are left out, as SQLAlchemy
    leaves them out."""
    quoted = '"' + (schema or "main").replace('"', '""') + '"'
    rows = conn.exec_driver_sql(f"SELECT tbl_name, name, sql FROM {quoted}.sqlite_master WHERE type = 'index' "
                                "AND sql IS NOT NULL ORDER BY tbl_name, name").fetchall()
    out: dict[str, list[IndexSpec]] = {}
    for table, name, sql in rows:
        parsed = _parse_create_index(str(sql))
        if parsed is None:
            continue
        unique, keys, where, shown = parsed
        out.setdefault(table, []).append(IndexSpec(name, tuple(keys), unique, None, norm_sql(where) if where else None,
                                                   (), shown))
    return out


def _parse_create_index(sql: str) -> tuple[bool, list[str], str | None, tuple[str, ...]] | None:
    """``CREATE [UNIQUE] INDEX [IF NOT EXISTS] name ON table (key, ...) [WHERE expr]`` as SQLite stores it:
    (unique, keys, predicate, keys as written). A key that is a column (quoted or not) is its name, with
    `` desc`` folded in as the models' side spells it; an expression is normalised; ASC (the default) is
    dropped."""
    split = split_parenthesized(sql)
    words = split[0].split() if split else []
    if split is None or len(words) < 4 or words[0].upper() != "CREATE":
        return None
    tail = split[2].strip()
    where = tail[5:].strip() if tail[:5].upper() == "WHERE" else None
    return (words[1].upper() == "UNIQUE", [_index_key(p) for p in split[1]], where,
            tuple(" ".join(p.split()) for p in split[1]))


def _index_key(text: str) -> str:
    words = text.split()
    descending = len(words) > 1 and words[-1].upper() == "DESC"
    if len(words) > 1 and words[-1].upper() in ("ASC", "DESC"):
        words = words[:-1]
    body = " ".join(words)
    plain = body.strip('"`[]') if body[:1] in '"`[' else body
    if plain.replace("_", "").isalnum() and not descending:
        return plain
    return norm_sql(body + (" desc" if descending else "")) or ""  # as the models' side: "createddesc"


def _optional(fn: Any, kw: dict[str, Any]) -> Any:
    """Optional reflection (a dialect may not implement it)."""
    try:
        return fn(**kw)
    except NotImplementedError:
        return None
