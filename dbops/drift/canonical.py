"""PostgreSQL: the models' types, defaults, CHECKs and indexes as the server itself spells them.

The server rewrites what it is given: ``GEN_RANDOM_UUID()`` becomes ``gen_random_uuid()``, ``'t'``
becomes ``true``, ``x IN ('a', 'b')`` becomes ``x = ANY (ARRAY['a'::text, 'b'::text])``, an index
key gains its operator class and ``DESC``. Normalising both spellings by hand is never complete,
and every miss is a false positive in a CI gate. So the models' tables are created as TEMPORARY
tables (renamed, without foreign keys or unique constraints) inside a transaction that is rolled
back, on the connection the models are compared with; the same catalog reader that reads the other
side reads them back. Temporary objects are private to the session and nothing is committed.

A table the server refuses (a type, function or operator class that does not exist there) keeps
the form dbops computed itself, so a real difference is still reported. A server that refuses
temporary tables altogether (a read-only standby) leaves every table that way.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, MetaData, UniqueConstraint, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.schema import CreateIndex, CreateTable

from dbops.drift.from_models import _final_name
from dbops.drift.schema import CheckSpec, ColumnSpec, SchemaSpec, TableSpec

log = logging.getLogger("dbops.drift")
PREFIX = "dbops_canon_"


REWRITTEN = ("type", "default", "check", "index")  # the kinds of difference a spelling can cause


def suspects(models: SchemaSpec, other: SchemaSpec) -> set[tuple[str | None, str]]:
    """Tables whose models differ from ``other`` in something the server spells its own way: only
    those need the server's spelling (a table that already compares equal cannot become a false
    positive, and its real differences are of other kinds)."""
    from dbops.drift.compare import compare

    return {(d.schema, d.table) for d in compare(models, other) if d.kind in REWRITTEN and d.table is not None}


def canonicalize(conn: Connection, metadata: Any, spec: SchemaSpec, default_schema: str | None,
                 only: set[tuple[str | None, str]] | None = None) -> set[tuple[str | None, str]]:
    """Replace, in ``spec`` (the models' SchemaSpec), each table's column types and defaults, CHECKs
    and indexes with the server's own spelling of them (only the tables in ``only``, when given).
    Returns the keys of the tables it replaced."""
    if conn.dialect.name != "postgresql" or (only is not None and not only):
        return set()
    metas = list(metadata) if isinstance(metadata, (list, tuple)) else [metadata]
    outer = conn.begin_nested() if conn.in_transaction() else conn.begin()
    try:
        made: dict[str, tuple[tuple[str | None, str], dict[str, Any], dict[str, Any]]] = {}
        ddl: dict[str, list[tuple[str | None, str]]] = {}  # (index tag or None for the table, statement)
        canon = MetaData()
        n = 0
        for meta in metas:
            for table in sorted(meta.tables.values(), key=lambda t: (t.schema or "", t.name)):
                key = (None if table.schema == default_schema else table.schema, table.name)
                if key not in spec.tables or (only is not None and key not in only):
                    continue
                name = f"{PREFIX}{n}"
                n += 1
                copied = _temporary_copy(table, canon, name, conn.dialect)
                if copied is None:
                    continue
                copy, indexes, checks = copied
                try:
                    ddl[name] = [(None, str(CreateTable(copy).compile(dialect=conn.dialect)))] + [
                        (index.name, str(CreateIndex(index).compile(dialect=conn.dialect))) for index in copy.indexes]
                except SQLAlchemyError as exc:
                    log.debug("cannot render %s: %s", table.name, exc)
                    continue
                made[name] = (key, indexes, checks)
        refused = _create(conn, ddl, made)
        return _merge(conn, spec, made, refused) if made else set()
    except (DBAPIError, SQLAlchemyError) as exc:  # e.g. a read-only standby: no temporary tables
        log.debug("canonical forms not available on this server: %s", exc)
        return set()
    finally:
        outer.rollback()


def _create(conn: Connection, ddl: dict[str, list[tuple[str | None, str]]], made: dict[str, Any]) -> set[str]:
    """Every table's DDL in one round trip; when the server refuses some of it, statement by statement,
    each in a savepoint: a refused table is left out of ``made``, a refused index (a GIN index on a
    varchar with no operator class, as Prefect's models declare) keeps the models' own form while the
    rest of its table still gets the server's spelling. Returns the refused indexes' tags."""
    if not ddl:
        return set()
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(";\n".join(stmt for stmts in ddl.values() for _, stmt in stmts))
        return set()
    except DBAPIError:
        pass
    refused: set[str] = set()
    for name, statements in ddl.items():
        for tag, statement in statements:
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(statement)
            except DBAPIError as exc:
                log.debug("canonical form of %s (%s) not available: %s", made[name][0], tag or "table", exc)
                if tag is None:
                    del made[name]
                    break
                refused.add(tag)
    return refused


def _temporary_copy(table: Any, canon: MetaData, name: str, dialect: Any) -> Any:
    """A TEMPORARY copy of ``table`` named ``name``: no foreign keys (they would need the referenced
    tables) or unique constraints (their index names are schema-wide); indexes and CHECKs renamed to
    tags, remembered with the models' own spec of each, so that the server's spelling can be put back
    under the models' names."""
    try:
        copy = table.to_metadata(canon, schema=None, name=name)
    except Exception as exc:  # noqa: BLE001  a construct to_metadata cannot copy: keep dbops's own form
        log.debug("cannot copy %s: %s", table.name, exc)
        return None
    copy._prefixes = ["TEMPORARY"]
    for constraint in list(copy.constraints):
        if isinstance(constraint, ForeignKeyConstraint | UniqueConstraint):
            copy.constraints.discard(constraint)
    for column in copy.columns:
        column.foreign_keys.clear()
        column.unique = False
    if copy.primary_key is not None:
        copy.primary_key.name = f"{name}_pkey"
    # the models' names, paired by what each object is (a naming convention renders the copy's names
    # from the copy's table name, so they cannot be taken from the copy)
    index_names = _names(table.indexes, lambda i: _index_signature(i, dialect), dialect)
    check_names = _names(_checks(table), lambda c: _check_signature(c, dialect), dialect)
    indexes: dict[str, Any] = {}
    for j, index in enumerate(sorted(copy.indexes, key=lambda i: str(i.name))):
        tag = f"{name}_i{j}"
        names = index_names.get(_index_signature(index, dialect)) or [None]
        indexes[tag] = names.pop(0)
        index.name = tag
    checks: dict[str, Any] = {}
    for j, constraint in enumerate(_checks(copy)):
        tag = f"{name}_c{j}"
        names = check_names.get(_check_signature(constraint, dialect)) or [None]
        checks[tag] = names.pop(0)
        constraint.name = tag
    return copy, indexes, checks


def _checks(table: Any) -> list[Any]:
    return sorted((c for c in table.constraints if isinstance(c, CheckConstraint)), key=lambda c: str(c.name))


def _names(items: Any, signature: Any, dialect: Any) -> dict[Any, list[str | None]]:
    out: dict[Any, list[str | None]] = {}
    for item in sorted(items, key=lambda i: str(i.name)):
        out.setdefault(signature(item), []).append(_final_name(item, dialect))
    return out


def _index_signature(index: Any, dialect: Any) -> tuple[object, ...]:
    from dbops.drift.from_models import _compile, _index_columns

    opts = index.dialect_options["postgresql"]
    where = opts.get("where")
    include = tuple(c if isinstance(c, str) else c.name for c in opts.get("include") or ())
    return (_index_columns(index, dialect), bool(index.unique), opts.get("using"),
            _compile(where, dialect) if where is not None else None, include)


def _check_signature(constraint: Any, dialect: Any) -> str:
    from dbops.drift.from_models import _compile

    return _compile(constraint.sqltext, dialect)


def _merge(conn: Connection, spec: SchemaSpec, made: dict[str, Any], refused: set[str]) -> set[tuple[str | None, str]]:
    from dbops.drift.reflect import reflect_schema

    temp_schema = conn.execute(text("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()")).scalar()
    read = reflect_schema(conn, schemas=(temp_schema,))
    done = set()
    for (_, name), canonical in read.tables.items():
        if name not in made:
            continue
        key, indexes, checks = made[name]
        kept = {indexes[tag] for tag in refused if tag in indexes}  # the models' own form of these
        spec.tables[key] = _combined(spec.tables[key], canonical, indexes, checks, kept)
        done.add(key)
    return done


def _combined(own: TableSpec, canonical: TableSpec, indexes: dict[str, Any], checks: dict[str, Any],
              kept: set[str | None]) -> TableSpec:
    """The models' table with the server's spelling of what the server rewrites; names, keys, foreign
    keys, uniques and comments stay the models' own."""
    columns = {}
    for name, column in own.columns.items():
        server = canonical.columns.get(name)
        if server is None or column.autoincrement:  # serial/identity: no default of its own to compare
            columns[name] = column if server is None else replace(column, type=server.type)
            continue
        columns[name] = ColumnSpec(name=name, type=server.type, nullable=column.nullable, default=server.default,
                                   comment=column.comment, autoincrement=column.autoincrement)
    index_specs = [index for index in own.indexes if index.name in kept]
    for index in canonical.indexes:
        index_specs.append(replace(index, name=indexes.get(index.name or "")))  # the server's spelling, shown too
    check_specs = [CheckSpec(checks.get(c.name or ""), c.text) for c in canonical.checks if (c.name or "") in checks]
    return replace(own, columns=columns, indexes=index_specs, checks=check_specs)
