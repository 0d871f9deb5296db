"""MetaData -> SchemaSpec, compiled for the dialect being compared against."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import CheckConstraint, Column, Enum, ForeignKeyConstraint, MetaData, Sequence, Table
from sqlalchemy import UniqueConstraint as SAUnique

from dbops.drift.normalize import dialect_family, norm_action, norm_default_for, norm_sql, norm_type
from dbops.drift.schema import CheckSpec, ColumnSpec, ForeignKeySpec, IndexSpec, SchemaSpec, TableSpec, UniqueSpec


def _applies(obj: Any, dialect_name: str) -> bool:
    """False for objects limited to other dialects with ``.ddl_if(dialect=...)``."""
    ddl_if = getattr(obj, "_ddl_if", None)
    if ddl_if is None or ddl_if.dialect is None:
        return True
    wanted = ddl_if.dialect if isinstance(ddl_if.dialect, (tuple, list, set)) else (ddl_if.dialect,)
    return dialect_name in wanted or dialect_family(dialect_name) in wanted


def _compile(clause: Any, dialect: Any) -> str:
    """An expression as DDL spells it: bound values inline, columns without their table's name (an
    index or CHECK names its own table's columns; the catalog never prefixes them)."""
    if isinstance(clause, str):
        return clause
    return str(clause.compile(dialect=dialect, compile_kwargs={"literal_binds": True, "include_table": False}))


def _server_default(column: Column[Any], dialect: Any) -> str | None:
    default = column.server_default
    if default is None or not hasattr(default, "arg"):
        return None  # Computed / Identity / FetchedValue: not a plain default
    arg = default.arg
    if isinstance(arg, str):
        return norm_default_for("'" + arg.replace("'", "''") + "'", dialect.name)
    return norm_default_for(_compile(arg, dialect), dialect.name)


def _is_autoincrement(column: Column[Any], table: Table) -> bool:
    return column is table.autoincrement_column or column.identity is not None


def _index_columns(index: Any, dialect: Any) -> tuple[str, ...]:
    return _index_keys(index, dialect)[0]


def _index_keys(index: Any, dialect: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the keys as compared, the keys as the models spell them for the dialect)."""
    ops = index.dialect_options["postgresql"].get("ops") or {} if dialect.name == "postgresql" else {}
    out, shown = [], []
    for expr in index.expressions:
        name = expr.name if isinstance(expr, Column) else expr if isinstance(expr, str) else None
        if name is not None and name in ops:  # a column with an operator class: spelled as the server does
            out.append(norm_sql(f"{name} {ops[name]}") or "")
            shown.append(f"{name} {ops[name]}")
        elif name is not None:
            out.append(name)
            shown.append(name)
        else:  # an expression, or a column with its order: ASC is every database's default, said or not
            text = re.sub(r"\s+ASC$", "", _compile(expr, dialect), flags=re.IGNORECASE)
            out.append(norm_sql(text) or "")
            shown.append(" ".join(text.split()))
    return tuple(out), tuple(shown)


def table_spec(table: Table, dialect: Any, default_schema: str | None) -> TableSpec:
    name = dialect.name
    family = dialect_family(name)
    schema = None if table.schema == default_schema else table.schema
    spec = TableSpec(schema=schema, name=table.name, comment=table.comment)
    for column in table.columns:
        auto = _is_autoincrement(column, table)
        spec.columns[column.name] = ColumnSpec(
            name=column.name,
            type=norm_type(column.type, dialect),
            nullable=bool(column.nullable),
            default=None if auto and column.server_default is None else _server_default(column, dialect),
            comment=column.comment,
            autoincrement=auto,
        )
    spec.primary_key = tuple(c.name for c in table.primary_key.columns)
    for constraint in table.constraints:
        if not _applies(constraint, name):
            continue
        if isinstance(constraint, SAUnique):
            columns = tuple(c.name for c in constraint.columns)
            if family == "mysql":  # MySQL has no UNIQUE constraint apart from its unique index
                index_name = _final_name(constraint, dialect) or columns[0]
                same = next((i for i in spec.indexes if i.unique and i.columns == columns), None)
                if same is not None:  # declared twice (unique=True and a UniqueConstraint): one index
                    if _final_name(constraint, dialect) is not None:
                        spec.indexes[spec.indexes.index(same)] = IndexSpec(index_name, columns, True)
                    continue
                spec.indexes.append(IndexSpec(index_name, columns, True))
            else:
                spec.uniques.append(UniqueSpec(_final_name(constraint, dialect), columns))
        elif isinstance(constraint, ForeignKeyConstraint):
            ref = constraint.referred_table
            spec.foreign_keys.append(ForeignKeySpec(
                name=_final_name(constraint, dialect),
                columns=tuple(constraint.column_keys),
                ref_schema=None if ref.schema == default_schema else ref.schema,
                ref_table=ref.name,
                ref_columns=tuple(e.column.name for e in constraint.elements),
                ondelete=norm_action(constraint.ondelete),
                onupdate=norm_action(constraint.onupdate),
            ))
        elif isinstance(constraint, CheckConstraint):
            if getattr(constraint, "_type_bound", False):
                continue  # CHECKs generated for non-native Boolean/Enum
            text = norm_sql(_compile(constraint.sqltext, dialect)) or ""
            spec.checks.append(CheckSpec(_final_name(constraint, dialect), text))
    for index in table.indexes:
        if not _applies(index, name):
            continue
        opts = index.dialect_options
        method = where = None
        include: tuple[str, ...] = ()
        if family == "postgresql":
            include = tuple(c if isinstance(c, str) else c.name for c in opts["postgresql"].get("include") or ())
            method = (opts["postgresql"].get("using") or "btree").lower()
            where_clause = opts["postgresql"].get("where")
            where = norm_sql(_compile(where_clause, dialect)) if where_clause is not None else None
        elif family == "sqlite":
            where_clause = opts["sqlite"].get("where")
            where = norm_sql(_compile(where_clause, dialect)) if where_clause is not None else None
        keys, shown = _index_keys(index, dialect)
        spec.indexes.append(IndexSpec(_final_name(index, dialect), keys, bool(index.unique), method, where, include,
                                      shown))
    return spec


def _name(value: Any) -> str | None:
    """Constraint names: None and SQLAlchemy's _NONE_NAME both mean 'unnamed'."""
    if value is None:
        return None
    text = str(value)
    return None if text in ("_NONE_NAME", "None") else text


def _final_name(obj: Any, dialect: Any) -> str | None:
    """The name the dialect creates: a naming convention's name longer than the dialect allows is cut by
    SQLAlchemy with a hash suffix (PostgreSQL: 63 characters, ``fk_block_document_reference__reference_block_
    document_i_5759``), and that is the name in the database (what Alembic compares too)."""
    name = _name(obj.name)
    if name is None:
        return None
    try:
        final = dialect.identifier_preparer.format_constraint(obj, _alembic_quote=False)
    except Exception:  # noqa: BLE001  a plain name too long for the dialect: SQLAlchemy refuses it, keep it
        return name
    return _name(final) or name


def models_spec(
    metadata: MetaData | list[MetaData] | tuple[MetaData, ...],
    dialect: Any,
    default_schema: str | None,
    *,
    exclude_tables: set[str] = frozenset(),  # type: ignore[assignment]
) -> SchemaSpec:
    """The schema the models describe, as ``dialect`` would create it."""
    metas = list(metadata) if isinstance(metadata, (list, tuple)) else [metadata]
    spec = SchemaSpec(dialect=dialect.name)
    family = dialect_family(dialect.name)
    for meta in metas:
        for table in sorted(meta.tables.values(), key=lambda t: (t.schema or "", t.name)):
            if table.name in exclude_tables or not _applies(table, dialect.name):
                continue
            ts = table_spec(table, dialect, default_schema)
            spec.tables[(ts.schema, ts.name)] = ts
            if family == "postgresql":
                for column in table.columns:
                    if isinstance(column.type, Enum) and column.type.native_enum and column.type.name:
                        enum_schema = column.type.schema or table.schema
                        key = (None if enum_schema == default_schema else enum_schema, column.type.name)
                        spec.enums[key] = tuple(column.type.enums)
        if family == "postgresql":
            for seq in _sequences(meta):
                spec.sequences.add((None if seq.schema == default_schema else seq.schema, seq.name))
    return spec


def _sequences(meta: MetaData) -> list[Sequence]:
    found: dict[tuple[str | None, str], Sequence] = {}
    for table in meta.tables.values():
        for column in table.columns:
            if isinstance(column.default, Sequence):
                found[(column.default.schema, column.default.name)] = column.default
    for seq in getattr(meta, "_sequences", {}).values():
        found[(seq.schema, seq.name)] = seq
    return list(found.values())
