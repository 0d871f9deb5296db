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

    def _keep(self, obj: Any, name: str | None, type_: str, reflected: bool, parent: dict[str, Any],
              compare_to: Any = None) -> bool:
        try:
            if self.include_name is not None and name is not None and type_ in ("schema", "table", "column", "index",
                                                                                 "unique_constraint",
                                                                                 "foreign_key_constraint"):
                if not self.include_name(name, type_, parent):
                    return False
            if self.include_object is not None and not self.include_object(obj, name, type_, reflected, compare_to):
                return False
        except Exception as exc:  # noqa: BLE001  a hook that cannot handle a stand-in: keep the object
            log.debug("include hook raised on %s %s: %s", type_, name, exc)
        return True

    def table(self, ts: TableSpec, default_schema: str | None, reflected: bool = False) -> bool:
        obj, stub = self._table(ts.schema, ts.name, default_schema)
        return self._keep(obj, ts.name, "table", reflected or stub, {"schema_name": ts.schema})

    def _objects(self, ts: TableSpec, default_schema: str | None) -> tuple[bool, dict[str, Any], Callable[..., Any]]:
        """Whether the table is a stand-in (not in the models), the hooks' ``parent_names``, and a lookup of a
        named object of a kind as the hooks are given it (the models' own, else a stand-in by name)."""
        table, stub = self._table(ts.schema, ts.name, default_schema)
        parent = {"schema_name": ts.schema, "table_name": ts.name, "schema_qualified_table_name":
                  f"{ts.schema}.{ts.name}" if ts.schema else ts.name}

        def lookup(kind: str, name: str) -> Any:
            if kind == "column":
                found = table.c.get(name) if not stub else None
                return found if found is not None else sa.Column(name, sa.types.NullType())
            if kind == "index":
                return next((i for i in getattr(table, "indexes", ()) if i.name == name), None) or sa.Index(name)
            return sa.UniqueConstraint(name=name) if kind == "unique_constraint" else None

        return stub, parent, lookup

    def filtered_table(self, ts: TableSpec, default_schema: str | None, reflected: bool = False,
                       paired_out: frozenset[tuple[str, str]] = frozenset()) -> TableSpec:
        """``ts`` without what the hooks exclude. ``reflected``: ``ts`` was read from a database (the live one
        or a replay), as Alembic says for objects it reflected; ``paired_out``: (kind, name) of objects on
        both sides that the hooks excluded from the comparison (see :func:`paired_exclusions`)."""
        stub, parent, lookup = self._objects(ts, default_schema)
        flag = reflected or stub

        def keep(kind: str, name: str | None) -> bool:
            if name is not None and (kind, name) in paired_out:
                return False
            return self._keep(lookup(kind, name) if name else None, name, kind, flag, parent)

        return replace(ts, columns={n: c for n, c in ts.columns.items() if keep("column", n)},
                       indexes=[i for i in ts.indexes if keep("index", i.name)],
                       uniques=[u for u in ts.uniques if keep("unique_constraint", u.name)],
                       foreign_keys=[f for f in ts.foreign_keys if keep("foreign_key_constraint", f.name)])


_KINDS = (("column", lambda ts: ts.columns), ("index", lambda ts: [i.name for i in ts.indexes]),
          ("unique_constraint", lambda ts: [u.name for u in ts.uniques]),
          ("foreign_key_constraint", lambda ts: [f.name for f in ts.foreign_keys]))


def paired_exclusions(models: SchemaSpec, others: list[SchemaSpec | None], filters: Filters,
                      default_schema: str | None) -> dict[Any, frozenset[tuple[str, str]]]:
    """Objects the models and a database side both have under one name, which the hooks exclude when given
    the database's object as ``compare_to``: Alembic then compares neither (Prefect's include_object keeps a
    model index named ``..._asc`` only when the database has none of that name). By table key."""
    out: dict[Any, frozenset[tuple[str, str]]] = {}
    if filters.include_object is None:
        return out
    for key, ts in models.tables.items():
        theirs = [o.tables[key] for o in others if o is not None and key in o.tables]
        if not theirs:
            continue
        _, parent, lookup = filters._objects(ts, default_schema)
        excluded = set()
        for kind, names in _KINDS:
            both = {n for n in names(ts) if n} & {n for other in theirs for n in names(other) if n}
            for name in sorted(both):
                counterpart = sa.Column(name, sa.types.NullType()) if kind == "column" else sa.Index(name) \
                    if kind == "index" else sa.UniqueConstraint(name=name)
                if not filters._keep(lookup(kind, name), name, kind, False, parent, compare_to=counterpart):
                    excluded.add((kind, name))
        if excluded:
            out[key] = frozenset(excluded)
    return out


@overload
def apply_filters(spec: SchemaSpec, filters: Filters, default_schema: str | None, *, reflected: bool = False,
                  paired_out: dict[Any, frozenset[tuple[str, str]]] | None = None) -> SchemaSpec: ...
@overload
def apply_filters(spec: None, filters: Filters, default_schema: str | None, *, reflected: bool = False,
                  paired_out: dict[Any, frozenset[tuple[str, str]]] | None = None) -> None: ...
def apply_filters(spec: SchemaSpec | None, filters: Filters, default_schema: str | None, *, reflected: bool = False,
                  paired_out: dict[Any, frozenset[tuple[str, str]]] | None = None) -> SchemaSpec | None:
    """``spec`` without what the app's hooks exclude (``reflected``: read from a database)."""
    if spec is None or not filters:
        return spec
    pairs = paired_out or {}
    tables = {key: filters.filtered_table(ts, default_schema, reflected, pairs.get(key, frozenset()))
              for key, ts in spec.tables.items() if filters.table(ts, default_schema, reflected)}
    return replace(spec, tables=tables)
