"""Compare two SchemaSpecs. Each kind of object has one comparator, registered by name
(``@comparator("index")``); adding a kind is adding a function, not an if/elif branch."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dbops.drift.kinds import KINDS  # noqa: F401  (re-exported: the kinds a difference can be)
from dbops.drift.schema import SchemaSpec, TableSpec


@dataclass(frozen=True)
class Difference:
    """One difference; ``expected`` is the reference side, ``actual`` the compared side."""

    kind: str
    change: str  # "missing" (in expected only), "extra" (in actual only), "changed"
    schema: str | None
    table: str | None
    name: str
    expected: Any
    actual: Any
    detail: str
    # "warning": real but minor (VARCHAR with and without a length, a primary key's column order): reported,
    # never what fails the gate
    severity: str = "error"

    @property
    def key(self) -> tuple[str, str, str | None, str | None, str]:
        return (self.kind, self.change, self.schema, self.table, self.name)


TableComparator = Callable[[TableSpec, TableSpec], Iterator[Difference]]
SchemaComparator = Callable[[SchemaSpec, SchemaSpec], Iterator[Difference]]
_TABLE_COMPARATORS: dict[str, TableComparator] = {}
_SCHEMA_COMPARATORS: dict[str, SchemaComparator] = {}


def comparator(kind: str, *, scope: str = "table") -> Callable[[Any], Any]:
    def register(fn: Any) -> Any:
        (_TABLE_COMPARATORS if scope == "table" else _SCHEMA_COMPARATORS)[kind] = fn
        return fn

    return register


def _qual(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def compare(expected: SchemaSpec, actual: SchemaSpec) -> list[Difference]:
    """Every difference between ``expected`` and ``actual``, in a stable order."""
    out: list[Difference] = []
    for schema_fn in _SCHEMA_COMPARATORS.values():
        out.extend(schema_fn(expected, actual))
    for key in sorted(set(expected.tables) & set(actual.tables), key=lambda k: (k[0] or "", k[1])):
        for table_fn in _TABLE_COMPARATORS.values():
            out.extend(table_fn(expected.tables[key], actual.tables[key]))
    return out


# -- schema-level -------------------------------------------------------------------------

@comparator("table", scope="schema")
def _tables(exp: SchemaSpec, act: SchemaSpec) -> Iterator[Difference]:
    for key in sorted(set(exp.tables) ^ set(act.tables), key=lambda k: (k[0] or "", k[1])):
        missing = key in exp.tables
        yield Difference("table", "missing" if missing else "extra", key[0], key[1], key[1],
                         key[1] if missing else None, None if missing else key[1],
                         f"table {_qual(*key)} {'is missing' if missing else 'is not in the reference'}")


@comparator("enum", scope="schema")
def _enums(exp: SchemaSpec, act: SchemaSpec) -> Iterator[Difference]:
    for key in sorted(set(exp.enums) | set(act.enums), key=lambda k: (k[0] or "", k[1])):
        e, a = exp.enums.get(key), act.enums.get(key)
        if e == a:
            continue
        change = "missing" if a is None else "extra" if e is None else "changed"
        detail = (f"enum {_qual(*key)} values {list(e or ())} != {list(a or ())}" if change == "changed"
                  else f"enum {_qual(*key)} is {'missing' if change == 'missing' else 'not in the reference'}")
        yield Difference("enum", change, key[0], None, key[1], list(e) if e else None, list(a) if a else None,
                         detail)


@comparator("sequence", scope="schema")
def _sequences(exp: SchemaSpec, act: SchemaSpec) -> Iterator[Difference]:
    """A sequence the reference declares and the other side lacks. Not the reverse: databases keep
    sequences their functions and triggers use, which models cannot declare (and a serial column's
    own sequence is part of the column)."""
    for key in sorted(exp.sequences - act.sequences, key=lambda k: (k[0] or "", k[1])):
        yield Difference("sequence", "missing", key[0], None, key[1], key[1], None,
                         f"sequence {_qual(*key)} is missing")


@comparator("entity", scope="schema")
def _entities(exp: SchemaSpec, act: SchemaSpec) -> Iterator[Difference]:
    """Functions, triggers, views and materialized views of the kinds the reference declares."""
    kinds = exp.entity_kinds
    if not kinds:
        return
    mine = exp.entities
    theirs = {k: v for k, v in act.entities.items() if k[0] in kinds}
    for key in sorted(set(mine) | set(theirs), key=lambda k: (k[0], k[1] or "", k[2])):
        kind, schema, identity = key
        e, a = mine.get(key), theirs.get(key)
        if e == a:
            continue
        where = _qual(schema, identity)
        if a is None:
            yield Difference(kind, "missing", schema, None, identity, e, None, f"{kind} {where} is missing")
        elif e is None:
            yield Difference(kind, "extra", schema, None, identity, None, a, f"{kind} {where} is not in the reference")
        else:
            yield Difference(kind, "changed", schema, None, identity, e, a, f"{kind} {where} definition differs")


# -- table-level ----------------------------------------------------------------------------

@comparator("column")
def _columns(exp: TableSpec, act: TableSpec) -> Iterator[Difference]:
    where = _qual(exp.schema, exp.name)
    for name in sorted(exp.columns.keys() - act.columns.keys()):
        col = exp.columns[name]
        yield Difference("column", "missing", exp.schema, exp.name, name, f"{col.type} "
                         f"{'NULL' if col.nullable else 'NOT NULL'}", None, f"column {where}.{name} is missing")
    for name in sorted(act.columns.keys() - exp.columns.keys()):
        col = act.columns[name]
        yield Difference("column", "extra", exp.schema, exp.name, name, None,
                         f"{col.type} {'NULL' if col.nullable else 'NOT NULL'}",
                         f"column {where}.{name} is not in the reference")
    for name in [n for n in exp.columns if n in act.columns]:
        e, a = exp.columns[name], act.columns[name]
        if e.type != a.type:
            yield Difference("type", "changed", exp.schema, exp.name, name, e.type, a.type,
                             f"column {where}.{name} type {e.type} != {a.type}", _type_severity(e.type, a.type))
        if e.nullable != a.nullable:
            yield Difference("nullable", "changed", exp.schema, exp.name, name, e.nullable, a.nullable,
                             f"column {where}.{name} is {'NULL' if a.nullable else 'NOT NULL'}, expected "
                             f"{'NULL' if e.nullable else 'NOT NULL'}")
        if e.default != a.default and not (e.autoincrement and a.autoincrement):
            yield Difference("default", "changed", exp.schema, exp.name, name, e.default, a.default,
                             f"column {where}.{name} server default {e.default or 'none'} != {a.default or 'none'}")
        if (e.comment or None) != (a.comment or None):
            yield Difference("comment", "changed", exp.schema, exp.name, name, e.comment, a.comment,
                             f"column {where}.{name} comment differs")


@comparator("comment")
def _table_comment(exp: TableSpec, act: TableSpec) -> Iterator[Difference]:
    if (exp.comment or None) != (act.comment or None):
        yield Difference("comment", "changed", exp.schema, exp.name, exp.name, exp.comment, act.comment,
                         f"table {_qual(exp.schema, exp.name)} comment differs")


def _type_severity(expected: str, actual: str) -> str:
    """A length given on one side only (``VARCHAR`` vs ``VARCHAR(255)``) is minor: same type, a limit."""
    base_e, base_a = expected.split("(", 1)[0], actual.split("(", 1)[0]
    return "warning" if base_e == base_a and ("(" in expected) != ("(" in actual) else "error"


@comparator("primary_key")
def _pk(exp: TableSpec, act: TableSpec) -> Iterator[Difference]:
    if exp.primary_key != act.primary_key:
        reordered = sorted(exp.primary_key) == sorted(act.primary_key)
        yield Difference("primary_key", "changed", exp.schema, exp.name, exp.name, list(exp.primary_key),
                         list(act.primary_key), f"primary key of {_qual(exp.schema, exp.name)} "
                         f"({', '.join(exp.primary_key)}) != ({', '.join(act.primary_key)})"
                         + (" (the same columns in another order)" if reordered else ""),
                         "warning" if reordered else "error")


def _match_named(
    kind: str, exp: TableSpec, act: TableSpec, exp_items: list[Any], act_items: list[Any],
    signature: Callable[[Any], Any], describe: Callable[[Any], str],
    loose: Callable[[Any], Any] | None = None,
) -> Iterator[Difference]:
    """Pair items: by name when the reference names the object, by signature when it does not
    (unnamed constraints get server-generated names). A named object found under another name
    is reported as missing + extra, as Alembic would drop and create it."""
    where = _qual(exp.schema, exp.name)
    remaining = list(act_items)
    for item in exp_items:
        if item.name is None:
            match = next((a for a in remaining if signature(a) == signature(item)), None)
        else:
            match = next((a for a in remaining if a.name == item.name and signature(a) == signature(item)), None)
            if match is None:
                match = next((a for a in remaining if a.name is None and signature(a) == signature(item)), None)
        if match is not None:
            remaining.remove(match)
            continue
        same_name = next((a for a in remaining if item.name is not None and a.name == item.name), None)
        if same_name is None and loose is not None:  # same object, different details (e.g. ON DELETE)
            same_name = next((a for a in remaining if loose(a) == loose(item)), None)
        if same_name is not None:
            remaining.remove(same_name)
            label = item.name or same_name.name or describe(item)
            if describe(item) == describe(same_name) and item.name != same_name.name:  # the name alone differs
                yield Difference(kind, "changed", exp.schema, exp.name, label, item.name, same_name.name,
                                 f"{kind} {label} on {where} is named {same_name.name} here (same definition: "
                                 f"{describe(item)}); revisions that drop or alter it by name will fail",
                                 "warning")  # the same behaviour: reported, does not fail the check
                continue
            yield Difference(kind, "changed", exp.schema, exp.name, label, describe(item), describe(same_name),
                             f"{kind} {label} on {where}: {describe(same_name)}, expected {describe(item)}")
            continue
        yield Difference(kind, "missing", exp.schema, exp.name, item.name or describe(item), describe(item), None,
                         f"{kind} {item.name or describe(item)} on {where} is missing")
    for extra in remaining:
        yield Difference(kind, "extra", exp.schema, exp.name, extra.name or describe(extra), None, describe(extra),
                         f"{kind} {extra.name or describe(extra)} on {where} is not in the reference")


def _one_per(items: list[Any], what: Callable[[Any], Any]) -> list[Any]:
    """A constraint declared twice (``unique=True`` and a UniqueConstraint on the same columns; the same
    CHECK from a type and by hand) is one guarantee; keep the named declaration."""
    kept: dict[Any, Any] = {}
    for item in items:
        key = what(item)
        if key not in kept or (kept[key].name is None and item.name is not None):
            kept[key] = item
    return list(kept.values())


@comparator("unique")
def _uniques(exp: TableSpec, act: TableSpec) -> Iterator[Difference]:
    # unique=True on a primary-key column (FastAPI-boilerplate's ids): PostgreSQL drops a UNIQUE that repeats
    # the primary key in CREATE TABLE, and the key already guarantees it, so its absence is no difference
    redundant = {u.columns for u in exp.uniques if exp.primary_key and set(u.columns) == set(exp.primary_key)}
    present = {u.columns for u in act.uniques}
    expected = [u for u in exp.uniques if u.columns not in redundant or u.columns in present]
    yield from _match_named("unique", exp, act, _one_per(expected, lambda u: u.columns),
                            _one_per(act.uniques, lambda u: u.columns),
                            lambda u: u.columns, lambda u: f"({', '.join(u.columns)})")


@comparator("foreign_key")
def _fks(exp: TableSpec, act: TableSpec) -> Iterator[Difference]:
    def describe(fk: Any) -> str:
        ref = _qual(fk.ref_schema, fk.ref_table)
        text = f"({', '.join(fk.columns)}) -> {ref}({', '.join(fk.ref_columns)})"
        if fk.ondelete:
            text += f" ON DELETE {fk.ondelete}"
        if fk.onupdate:
            text += f" ON UPDATE {fk.onupdate}"
        return text

    yield from _match_named("foreign_key", exp, act, exp.foreign_keys, act.foreign_keys,
                            lambda f: (f.signature, f.ondelete, f.onupdate), describe, loose=lambda f: f.signature)


@comparator("index")
def _indexes(exp: TableSpec, act: TableSpec) -> Iterator[Difference]:
    def describe(ix: Any) -> str:
        text = f"{'UNIQUE ' if ix.unique else ''}({', '.join(ix.shown or ix.columns)})"
        if ix.method and ix.method != "btree":
            text += f" USING {ix.method}"
        if ix.include:
            text += f" INCLUDE ({', '.join(ix.include)})"
        if ix.where:
            text += f" WHERE {ix.where}"
        return text

    def signature(ix: Any) -> tuple[Any, ...]:
        return ix.columns, ix.unique, ix.method, ix.where, ix.include

    # one name, one definition, declared twice (Prefect's artifact.key: index=True on the column and an
    # Index under the naming convention's name): one index, as a database cannot hold two under one name
    yield from _match_named("index", exp, act, _one_per(exp.indexes, lambda i: (i.name, signature(i)) if i.name
                                                        else id(i)), act.indexes, signature, describe)


@comparator("check")
def _checks(exp: TableSpec, act: TableSpec) -> Iterator[Difference]:
    yield from _match_named("check", exp, act, _one_per(exp.checks, lambda c: c.text),
                            _one_per(act.checks, lambda c: c.text), lambda c: c.text, lambda c: c.text)
