"""The app's own autogenerate filters, applied to check-drift's comparison.

A project's env.py passes ``include_object`` / ``include_name`` to ``context.configure()`` to keep
objects out of autogenerate (tables another tool manages, a PostGIS schema, types it hides). What
autogenerate never proposes, check-drift must not report either. dbops reads the two hooks by
running env.py the way ``dbops current`` does (nothing is migrated) and calls them on every object
of both sides: the model's own SQLAlchemy object where there is one, otherwise a bare stand-in with
the same name and schema (what Alembic passes for a reflected object is richer, but filters look at
``name``, ``type_``, ``reflected`` and ``.info``/``.schema``, which the stand-in has).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, overload

import sqlalchemy as sa

from dbops.drift.schema import SchemaSpec, TableSpec

log = logging.getLogger("dbops.drift")
Hook = Callable[..., bool]


class Filters:
    """``include_object(obj, name, type_, reflected, compare_to)`` and ``include_name(name, type_,
    parent_names)``, as Alembic calls them."""

    def __init__(self, include_object: Hook | None, include_name: Hook | None, metadata: Any) -> None:
        self.include_object = include_object
        self.include_name = include_name
        metas = list(metadata) if isinstance(metadata, (list, tuple)) else [metadata]
        self.tables = {(t.schema, t.name): t for m in metas for t in m.tables.values()}
        self._stubs = sa.MetaData()

    def __bool__(self) -> bool:
        return self.include_object is not None or self.include_name is not None

    def _table(self, schema: str | None, name: str, default_schema: str | None) -> tuple[Any, bool]:
        model = self.tables.get((schema, name))
        if model is None and schema is None:
            model = self.tables.get((default_schema, name))
        if model is not None:
            return model, False
        key = f"{schema}.{name}" if schema else name
        stub = self._stubs.tables.get(key)
        return (stub if stub is not None else sa.Table(name, self._stubs, schema=schema)), True

    def _keep(self, obj: Any, name: str | None, type_: str, reflected: bool, parent: dict[str, Any]) -> bool:
        try:
            if self.include_name is not None and name is not None and type_ in ("schema", "table", "column", "index",
                                                                                 "unique_constraint",
                                                                                 "foreign_key_constraint"):
                if not self.include_name(name, type_, parent):
                    return False
            if self.include_object is not None and not self.include_object(obj, name, type_, reflected, None):
                return False
        except Exception as exc:  # noqa: BLE001  a hook that cannot handle a stand-in: keep the object
            log.debug("include hook raised on %s %s: %s", type_, name, exc)
        return True

    def table(self, ts: TableSpec, default_schema: str | None) -> bool:
        obj, reflected = self._table(ts.schema, ts.name, default_schema)
        return self._keep(obj, ts.name, "table", reflected, {"schema_name": ts.schema})

    def filtered_table(self, ts: TableSpec, default_schema: str | None) -> TableSpec:
        table, reflected = self._table(ts.schema, ts.name, default_schema)
        parent = {"schema_name": ts.schema, "table_name": ts.name, "schema_qualified_table_name":
                  f"{ts.schema}.{ts.name}" if ts.schema else ts.name}

        def column(name: str) -> Any:
            found = table.c.get(name) if not reflected else None
            return found if found is not None else sa.Column(name, sa.types.NullType())

        def named(kind: str, items: list[Any], lookup: Any) -> list[Any]:
            return [i for i in items if self._keep(lookup(i.name) if i.name else None, i.name, kind, reflected,
                                                   parent)]

        columns = {n: c for n, c in ts.columns.items() if self._keep(column(n), n, "column", reflected, parent)}
        indexes = named("index", ts.indexes, lambda n: next((i for i in getattr(table, "indexes", ()) if i.name == n),
                                                              sa.Index(n)))
        uniques = named("unique_constraint", ts.uniques, lambda n: sa.UniqueConstraint(name=n))
        fks = named("foreign_key_constraint", ts.foreign_keys, lambda n: None)
        return replace(ts, columns=columns, indexes=indexes, uniques=uniques, foreign_keys=fks)


@overload
def apply_filters(spec: SchemaSpec, filters: Filters, default_schema: str | None) -> SchemaSpec: ...
@overload
def apply_filters(spec: None, filters: Filters, default_schema: str | None) -> None: ...
def apply_filters(spec: SchemaSpec | None, filters: Filters, default_schema: str | None) -> SchemaSpec | None:
    """``spec`` without what the app's hooks exclude."""
    if spec is None or not filters:
        return spec
    tables = {key: filters.filtered_table(ts, default_schema) for key, ts in spec.tables.items()
              if filters.table(ts, default_schema)}
    return replace(spec, tables=tables)
