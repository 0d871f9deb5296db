"""Live or scratch database -> SchemaSpec, with batched catalog reads.

SQLAlchemy 2's ``Inspector.get_multi_*`` reads every table of a schema in one query per
kind on PostgreSQL (Alembic's comparison reflects table by table: N+12 statements), so the
number of catalog queries is constant in the number of tables.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from dbops.drift.normalize import dialect_family, norm_action, norm_default, norm_sql, norm_type
from dbops.drift.spec import CheckSpec, ColumnSpec, ForeignKeySpec, IndexSpec, SchemaSpec, TableSpec, UniqueSpec

# Sequences not owned by a column (serial/identity sequences belong to their column).
PG_FREE_SEQUENCES = text(
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'S' AND n.nspname = ANY(:schemas) AND NOT EXISTS ("
    "SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass "
    "AND d.deptype IN ('a', 'i'))"
)


def _is_nextval(default: str | None) -> bool:
    return default is not None and default.lower().startswith("nextval(")


def reflect_schema(
    conn: Connection,
    *,
    schemas: tuple[str | None, ...] = (None,),
    exclude_tables: set[str] = frozenset(),  # type: ignore[assignment]
) -> SchemaSpec:
    insp = inspect(conn)
    dialect = conn.dialect
    family = dialect_family(dialect.name)
    default_schema = insp.default_schema_name
    spec = SchemaSpec(dialect=dialect.name)
    for schema in schemas:
        query_schema = None if schema in (None, default_schema) else schema
        names = [n for n in insp.get_table_names(schema=query_schema) if n not in exclude_tables]
        if not names:
            continue
        kw: dict[str, Any] = {"schema": query_schema, "filter_names": names}
        columns = insp.get_multi_columns(**kw)
        pks = insp.get_multi_pk_constraint(**kw)
        fks = insp.get_multi_foreign_keys(**kw)
        indexes = insp.get_multi_indexes(**kw)
        uniques = insp.get_multi_unique_constraints(**kw)
        checks = _safe(insp.get_multi_check_constraints, kw)
        comments = _safe(insp.get_multi_table_comment, kw)
        for key, cols in columns.items():
            table_schema = None if key[0] in (None, default_schema) else key[0]
            ts = TableSpec(schema=table_schema, name=key[1])
            for col in cols:
                raw_default = col.get("default")
                auto = bool(col.get("identity")) or (family == "postgresql" and _is_nextval(raw_default))
                if family == "mysql" and col.get("autoincrement") is True:
                    auto = True
                ts.columns[col["name"]] = ColumnSpec(
                    name=col["name"],
                    type=norm_type(col["type"], dialect),
                    nullable=bool(col["nullable"]),
                    default=None if auto and (raw_default is None or _is_nextval(raw_default))
                    else norm_default(raw_default),
                    comment=col.get("comment"),
                    autoincrement=auto,
                )
            pk: Any = pks.get(key) or {}
            ts.primary_key = tuple(pk.get("constrained_columns") or ())
            if family == "sqlite" and len(ts.primary_key) == 1:
                only = ts.columns.get(ts.primary_key[0])
                if only is not None and only.type == "INTEGER":
                    ts.columns[only.name] = ColumnSpec(only.name, only.type, only.nullable, only.default,
                                                       only.comment, True)
            fk_names = set()
            for fk in fks.get(key, []):
                opts = fk.get("options") or {}
                ref_schema = fk.get("referred_schema")
                ts.foreign_keys.append(ForeignKeySpec(
                    name=fk.get("name"),
                    columns=tuple(fk["constrained_columns"]),
                    ref_schema=None if ref_schema in (None, default_schema) else ref_schema,
                    ref_table=fk["referred_table"],
                    ref_columns=tuple(fk["referred_columns"]),
                    ondelete=norm_action(opts.get("ondelete")),
                    onupdate=norm_action(opts.get("onupdate")),
                ))
                fk_names.add((fk.get("name"), tuple(fk["constrained_columns"])))
            if family != "mysql":  # MySQL: a UNIQUE constraint *is* a unique index (kept below)
                for uq in uniques.get(key, []):
                    ts.uniques.append(UniqueSpec(uq.get("name"), tuple(uq["column_names"])))
            for idx in indexes.get(key, []):
                if idx.get("duplicates_constraint") and family != "mysql":
                    continue  # the index behind a UNIQUE constraint
                cols_ = tuple(
                    name if name is not None else (norm_sql(expr) or "")
                    for name, expr in zip(
                        idx.get("column_names") or [], idx.get("expressions") or idx.get("column_names") or [],
                        strict=False,
                    )
                )
                if family == "mysql" and (idx["name"], cols_) in fk_names:
                    continue  # MySQL's implicit index for a foreign key
                opts = idx.get("dialect_options") or {}
                method = where = None
                if family == "postgresql":
                    method = (opts.get("postgresql_using") or "btree").lower()
                    where = norm_sql(opts.get("postgresql_where"))
                elif family == "sqlite":
                    where = norm_sql(opts.get("sqlite_where"))
                ts.indexes.append(IndexSpec(idx["name"], cols_, bool(idx.get("unique")), method, where))
            for ck in (checks or {}).get(key, []):
                ts.checks.append(CheckSpec(ck.get("name"), norm_sql(ck.get("sqltext")) or ""))
            ts.comment = ((comments or {}).get(key) or {}).get("text")
            spec.tables[(ts.schema, ts.name)] = ts
    if family == "postgresql":
        _pg_enums_and_sequences(conn, insp, spec, schemas, default_schema)
    return spec


def _pg_enums_and_sequences(
    conn: Connection, insp: Any, spec: SchemaSpec, schemas: tuple[str | None, ...], default_schema: str | None
) -> None:
    wanted = {default_schema if s is None else s for s in schemas}
    for enum in insp.get_enums(schema="*"):
        if enum["schema"] in wanted:
            key = (None if enum["schema"] == default_schema else enum["schema"], enum["name"])
            spec.enums[key] = tuple(enum["labels"])
    for nsp, name in conn.execute(PG_FREE_SEQUENCES, {"schemas": sorted(w for w in wanted if w)}):
        spec.sequences.add((None if nsp == default_schema else nsp, name))


def _safe(fn: Any, kw: dict[str, Any]) -> Any:
    """Optional reflection (a dialect may not implement it)."""
    try:
        return fn(**kw)
    except NotImplementedError:
        return None
