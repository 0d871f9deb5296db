"""PostgreSQL functions, triggers, views and materialized views ("replaceable entities"), compared by
definition as the server itself prints it.

The declared side is the app's alembic_utils entities (``PGFunction``, ``PGTrigger``, ``PGView``,
``PGMaterializedView``): named by ``entities = "module:attr"`` in the dbops config, or registered with
``alembic_utils.register_entities`` by the modules the models import. Each is created once more as a
TEMPORARY object (a function in ``pg_temp``, a temporary view, a trigger on a temporary copy of its
table) inside a transaction that is rolled back, and read back with ``pg_get_functiondef`` /
``pg_get_viewdef`` / ``pg_get_triggerdef``, as the other side is: the server's own spelling on both
sides, whatever the declaration's case, spacing or ``EXECUTE PROCEDURE`` vs ``EXECUTE FUNCTION``.
An entity the server refuses (its function or table does not exist there) keeps a normalised form
of its declaration, so it is still compared.

Only the kinds the app declares are compared: a project that declares its functions is not told
about views it manages some other way.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

log = logging.getLogger("dbops.drift")
ENTITY_KINDS = {"PGFunction": "function", "PGTrigger": "trigger", "PGView": "view",
                "PGMaterializedView": "materialized_view"}
EntityKey = tuple[str, str | None, str]  # (kind, schema or None for the default one, identity)

FUNCTIONS = text(
    "SELECT n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
    "pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname = ANY(:schemas) AND p.prokind IN ('f', 'p') AND NOT EXISTS ("
    "SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"
)
VIEWS = text(
    "SELECT n.nspname, c.relname, c.relkind::text, pg_get_viewdef(c.oid, true) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('v', 'm') "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
    "AND d.deptype = 'e')"
)
TRIGGERS = text(
    "SELECT n.nspname, t.tgname, c.relname, pg_get_triggerdef(t.oid, true) FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = ANY(:schemas) AND NOT t.tgisinternal"
)


def declared(spec: str | None, root: Any) -> list[Any]:
    """The app's entities: ``entities = "module:attr"`` (an iterable), else alembic_utils's registry
    when the app's modules registered some (only if alembic_utils is already imported: dbops never
    imports it for an app that does not use it)."""
    import sys

    if spec:
        from dbops.bridge.project import import_attr

        found = import_attr(spec, root, "entities", "app.db:entities")
        return [e for e in (found() if callable(found) else found) if type(e).__name__ in ENTITY_KINDS]
    module = sys.modules.get("alembic_utils.replaceable_entity")
    if module is None:
        return []
    try:
        return [e for e in module.registry.entities() if type(e).__name__ in ENTITY_KINDS]
    except Exception:  # noqa: BLE001  an alembic_utils without the registry API dbops knows
        return []


def _local(schema: str | None, default_schema: str | None) -> str | None:
    return None if schema in (None, default_schema) else schema


def _strip_schema(definition: str, schemas: set[str]) -> str:
    """The printed definition without the qualifiers of the given schemas, whitespace collapsed."""
    for schema in schemas:
        definition = re.sub(rf'(?<![\w"]){re.escape(schema)}\.', "", definition)
        definition = definition.replace(f'"{schema}".', "")
    return " ".join(definition.split())


def read_entities(conn: Connection, schemas: list[str], default_schema: str | None,
                  kinds: set[str]) -> dict[EntityKey, str]:
    """The database's entities of ``kinds``, keyed (kind, schema, identity), as the server prints them."""
    out: dict[EntityKey, str] = {}
    qualifiers = {*schemas, "pg_temp"}
    if "function" in kinds:
        for nsp, identity, definition in conn.execute(FUNCTIONS, {"schemas": schemas}):
            out[("function", _local(nsp, default_schema), identity)] = _strip_schema(definition, qualifiers)
    if kinds & {"view", "materialized_view"}:
        for nsp, name, relkind, definition in conn.execute(VIEWS, {"schemas": schemas}):
            kind = "view" if relkind == "v" else "materialized_view"
            if kind in kinds:
                out[(kind, _local(nsp, default_schema), name)] = _strip_schema(definition, qualifiers)
    if "trigger" in kinds:
        for nsp, name, table, definition in conn.execute(TRIGGERS, {"schemas": schemas}):
            out[("trigger", _local(nsp, default_schema), f"{name} on {table}")] = _strip_schema(
                definition, qualifiers)
    return out


def canonical_declared(conn: Connection, entities: list[Any], default_schema: str | None) -> dict[EntityKey, str]:
    """The declared entities as this server prints them (see the module's docstring)."""
    out: dict[EntityKey, str] = {}
    outer = conn.begin_nested() if conn.in_transaction() else conn.begin()
    try:
        for n, entity in enumerate(entities):
            kind = ENTITY_KINDS[type(entity).__name__]
            try:
                with conn.begin_nested():
                    key, definition = _canonical(conn, kind, entity, n, default_schema)
            except (DBAPIError, SQLAlchemyError, ValueError) as exc:
                log.debug("canonical form of %s %s not available: %s", kind, entity.signature, exc)
                key, definition = _declared_form(kind, entity, default_schema)
            out[key] = definition
    finally:
        outer.rollback()
    return out


def _temp_schema(conn: Connection) -> str:
    conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS dbops_canon_anchor ()"))  # makes pg_temp_N exist
    return str(conn.execute(text("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()")).scalar())


def _canonical(conn: Connection, kind: str, entity: Any, n: int, default_schema: str | None) -> tuple[EntityKey, str]:
    schema = _local(entity.schema, default_schema)
    temp = _temp_schema(conn)
    qualifiers = {entity.schema, temp, "pg_temp"} | ({default_schema} if default_schema else set())
    if kind == "function":
        conn.exec_driver_sql(f"CREATE FUNCTION pg_temp.{entity.signature} {entity.definition}")
        name = entity.signature.split("(", 1)[0].strip().strip('"')
        row = conn.execute(text(
            "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', pg_get_functiondef(p.oid) "
            "FROM pg_proc p WHERE p.pronamespace = pg_my_temp_schema() AND p.proname = :name "
            "ORDER BY p.oid DESC LIMIT 1"), {"name": name}).one()
        return ("function", schema, row[0]), _strip_schema(row[1], qualifiers)
    if kind in ("view", "materialized_view"):
        temp_name = f"dbops_canon_view_{n}"
        conn.exec_driver_sql(f"CREATE TEMP VIEW {temp_name} AS {entity.definition}")
        definition = conn.execute(text(f"SELECT pg_get_viewdef('pg_temp.{temp_name}'::regclass, true)")).scalar()
        return (kind, schema, entity.signature), _strip_schema(str(definition), qualifiers)
    # a trigger: on a temporary copy of its table, then named back
    table = entity.on_entity.split(".")[-1].strip('"')
    table_schema = entity.on_entity.split(".")[0].strip('"') if "." in entity.on_entity else entity.schema
    copy = f"dbops_canon_trg_{n}"
    conn.exec_driver_sql(f'CREATE TEMP TABLE {copy} (LIKE "{table_schema}"."{table}")')
    match = re.match(r"(?is)^\s*(?P<event>.+?)\s+ON\s+\S+\s+(?P<action>.*)$", entity.definition)
    if match is None:
        raise ValueError(f"cannot read the trigger definition {entity.definition!r}")
    constraint = "CONSTRAINT " if getattr(entity, "is_constraint", False) else ""
    conn.exec_driver_sql(f'CREATE {constraint}TRIGGER "{entity.signature}" {match["event"]} ON pg_temp.{copy} '
                         f'{match["action"]}')
    definition = conn.execute(text(
        "SELECT pg_get_triggerdef(t.oid, true) FROM pg_trigger t WHERE t.tgrelid = "
        f"'pg_temp.{copy}'::regclass AND t.tgname = :name"), {"name": entity.signature}).scalar()
    printed = _strip_schema(str(definition), qualifiers).replace(f" ON {copy} ", f" ON {table} ")
    return ("trigger", schema, f"{entity.signature} on {table}"), printed


def _declared_form(kind: str, entity: Any, default_schema: str | None) -> tuple[EntityKey, str]:
    """When the server cannot build it: the declaration itself, spaces collapsed (still compared)."""
    schema = _local(entity.schema, default_schema)
    if kind == "trigger":
        table = entity.on_entity.split(".")[-1].strip('"')
        return ("trigger", schema, f"{entity.signature} on {table}"), " ".join(entity.definition.split())
    identity = entity.signature if kind != "function" else " ".join(entity.signature.split())
    return (kind, schema, identity), " ".join(entity.definition.split())
