"""A normalised, dialect-aware picture of a schema: what both sides are turned into."""
from __future__ import annotations

from dataclasses import dataclass, field

TableKey = tuple[str | None, str]  # (schema or None for the default schema, table name)


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    nullable: bool
    default: str | None
    comment: str | None = None
    autoincrement: bool = False  # serial / identity / SQLite rowid: its default is not compared


@dataclass(frozen=True)
class IndexSpec:
    name: str | None
    columns: tuple[str, ...]  # column names, or normalised expressions
    unique: bool
    method: str | None = None  # btree / gin / gist ... (PostgreSQL)
    where: str | None = None  # partial index predicate, normalised
    include: tuple[str, ...] = ()  # INCLUDE (...) columns (PostgreSQL)
    # the keys as written (the server's or the models' spelling), for people reading a difference; the
    # comparison uses ``columns``
    shown: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class UniqueSpec:
    name: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKeySpec:
    name: str | None
    columns: tuple[str, ...]
    ref_schema: str | None
    ref_table: str
    ref_columns: tuple[str, ...]
    ondelete: str | None = None
    onupdate: str | None = None

    @property
    def signature(self) -> tuple[object, ...]:
        return (self.columns, self.ref_schema, self.ref_table, self.ref_columns)


@dataclass(frozen=True)
class CheckSpec:
    name: str | None
    text: str  # normalised


@dataclass
class TableSpec:
    schema: str | None
    name: str
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    uniques: list[UniqueSpec] = field(default_factory=list)
    foreign_keys: list[ForeignKeySpec] = field(default_factory=list)
    indexes: list[IndexSpec] = field(default_factory=list)
    checks: list[CheckSpec] = field(default_factory=list)
    comment: str | None = None


@dataclass
class SchemaSpec:
    dialect: str
    tables: dict[TableKey, TableSpec] = field(default_factory=dict)
    enums: dict[TableKey, tuple[str, ...]] = field(default_factory=dict)
    sequences: set[TableKey] = field(default_factory=set)
    # functions, triggers, views, materialized views: (kind, schema, identity) -> definition as the
    # server prints it (entities.py); compared only for the kinds the models' side declares
    entities: dict[tuple[str, str | None, str], str] = field(default_factory=dict)
    entity_kinds: frozenset[str] = frozenset()
