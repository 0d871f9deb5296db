"""What the squash renderers and the fingerprint share: a rendered statement, and the PostgreSQL catalog
filters every query applies (user schemas only, no extension member, names qualified only outside the
migrations' schema)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Statement:
    kind: str  # schema, extension, type, function, sequence, table, constraint, index, foreign_key, view, ...
    name: str
    sql: str


USER_NS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
           "AND n.nspname NOT LIKE 'pg\\_temp\\_%'")


def not_extension_member(catalog: str, oid: str) -> str:
    return (f"NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass AND e.objid = {oid} "
            "AND e.deptype = 'e')")


def qualified(ns: str, name: str) -> str:
    """SQL: the object's name, schema-qualified unless it lives in the current schema."""
    return (f"CASE WHEN {ns} = current_schema() THEN quote_ident({name}) "
            f"ELSE quote_ident({ns}) || '.' || quote_ident({name}) END")
