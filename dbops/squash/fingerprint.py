"""The proof behind a squash: every behaviour-affecting catalog attribute of a database, keyed by object.

Two databases with the same fingerprint have the same schema as far as an application can tell. It is
read straight from the catalog's raw attributes (flags, type ids shown as names, ordinal positions), not
from the DDL the baseline was rendered from, so a renderer that drops something is caught. What each
dialect covers is listed in docs/squash.md; alembic's version table and dbops's bookkeeping tables are
left out.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dbops.squash.catalog import USER_NS, not_extension_member

Fingerprint = dict[str, tuple[tuple[str, Any], ...]]  # object key -> (attribute, value) pairs

_PG: dict[str, str] = {  # the first column is the object's key; ATTRIBUTES names the rest
    "schema": f"""
        SELECT n.nspname, obj_description(n.oid, 'pg_namespace'), n.nspacl::text
        FROM pg_namespace n WHERE {USER_NS} AND NOT (n.nspname = ANY(:skip_schemas))""",
    "extension": """
        SELECT e.extname, n.nspname, e.extversion, e.extrelocatable
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace""",
    "type": f"""
        SELECT n.nspname || '.' || t.typname, t.typtype::text, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
               t.typdefault, t.typcollation::regcollation::text, obj_description(t.oid, 'pg_type'), t.typacl::text,
               (SELECT array_agg(enumlabel ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid)::text,
               (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
                FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)::text
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE {USER_NS} AND t.typtype::text IN ('e', 'd', 'c', 'r', 'b', 'm') AND t.typelem = 0
          AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
          AND {not_extension_member('pg_type', 't.oid')}""",
    "relation": f"""
        SELECT n.nspname || '.' || c.relname, c.relkind::text, c.relpersistence::text, c.reloptions::text,
               c.relrowsecurity, c.relforcerowsecurity, c.relreplident::text, c.relispartition,
               CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END, pg_get_expr(c.relpartbound, c.oid),
               (SELECT array_agg(i.inhparent::regclass::text ORDER BY i.inhseqno) FROM pg_inherits i
                WHERE i.inhrelid = c.oid)::text,
               obj_description(c.oid, 'pg_class'), c.relacl::text,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
               CASE WHEN c.relkind = 'm' THEN c.relispopulated END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_NS} AND NOT (c.relname = ANY(:skip))
          AND {not_extension_member('pg_class', 'c.oid')}""",
    "column": f"""
        SELECT n.nspname || '.' || c.relname || '.' || a.attname,
               row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
               format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
               a.attidentity::text, a.attgenerated::text, a.attcollation::regcollation::text,
               col_description(c.oid, a.attnum),
               a.attislocal, a.attinhcount, a.attstorage::text = t.typstorage::text, a.attacl::text
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_NS}
          AND NOT (c.relname = ANY(:skip)) AND {not_extension_member('pg_class', 'c.oid')}""",
    "sequence": f"""
        SELECT n.nspname || '.' || c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
               s.seqmin, s.seqmax, s.seqcache, s.seqcycle, obj_description(c.oid, 'pg_class'), c.relacl::text,
               (SELECT d.deptype::text || ':' || d.refobjid::regclass::text || '.' || a.attname
                FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')
                  AND d.refclassid = 'pg_class'::regclass)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_sequence s ON s.seqrelid = c.oid
        WHERE {USER_NS} AND {not_extension_member('pg_class', 'c.oid')}
          AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')
                            AND t.relname = ANY(:skip))""",
    "constraint": f"""
        SELECT n.nspname || '.' || coalesce(c.relname, t.typname) || '.' || con.conname, con.contype::text,
               pg_get_constraintdef(con.oid), con.condeferrable, con.condeferred, con.convalidated,
               con.conislocal, con.connoinherit, obj_description(con.oid, 'pg_constraint')
        FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
        LEFT JOIN pg_class c ON c.oid = con.conrelid LEFT JOIN pg_type t ON t.oid = con.contypid
        WHERE {USER_NS} AND NOT (coalesce(c.relname, '') = ANY(:skip))
          AND {not_extension_member('pg_constraint', 'con.oid')}""",
    "index": f"""
        SELECT n.nspname || '.' || ic.relname, c.relname, pg_get_indexdef(i.indexrelid), i.indisunique,
               i.indisprimary, i.indimmediate, i.indisclustered, i.indisreplident, i.indnullsnotdistinct,
               obj_description(ic.oid, 'pg_class'), ic.reloptions::text
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = ic.relnamespace
        WHERE {USER_NS} AND NOT (c.relname = ANY(:skip)) AND {not_extension_member('pg_class', 'c.oid')}""",
    "function": f"""
        SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
               p.prokind::text, CASE WHEN p.prokind::text IN ('f', 'p') THEN pg_get_functiondef(p.oid) END,
               obj_description(p.oid, 'pg_proc'), p.proacl::text
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {USER_NS} AND {not_extension_member('pg_proc', 'p.oid')}""",
    "trigger": f"""
        SELECT n.nspname || '.' || c.relname || '.' || tg.tgname, pg_get_triggerdef(tg.oid), tg.tgenabled::text,
               obj_description(tg.oid, 'pg_trigger')
        FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT tg.tgisinternal AND {USER_NS} AND NOT (c.relname = ANY(:skip))""",
    "policy": f"""
        SELECT n.nspname || '.' || c.relname || '.' || p.polname, p.polpermissive, p.polcmd::text,
               (SELECT array_agg(r ORDER BY r) FROM unnest(p.polroles::regrole[]::text[]) r)::text,
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
        FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {USER_NS}""",
    "rule": f"""
        SELECT n.nspname || '.' || c.relname || '.' || r.rulename, pg_get_ruledef(r.oid), r.ev_enabled::text
        FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE r.rulename <> '_RETURN' AND {USER_NS}""",
    "default_privileges": """
        SELECT coalesce(d.defaclnamespace::regnamespace::text, '*') || '.' || d.defaclrole::regrole::text
               || '.' || d.defaclobjtype::text, d.defaclacl::text
        FROM pg_default_acl d""",
    "event_trigger": """SELECT evtname, evtevent, evtfoid::regproc::text, evtenabled, evttags::text
                        FROM pg_event_trigger""",
}


ATTRIBUTES: dict[str, dict[str, tuple[str, ...]]] = {
    "postgresql": {
        "schema": tuple("comment acl".split()),
        "extension": tuple("schema version relocatable".split()),
        "type": tuple("kind base_type not_null default collation comment acl enum_labels attributes".split()),
        "relation": tuple("kind persistence options row_security force_row_security replica_identity is_partition "
                           "partition_key partition_bound inherits comment acl view_definition populated".split()),
        "column": tuple("position type not_null default identity generated "
                         "collation comment local inherited default_storage acl".split()),
        "sequence": tuple("type start increment min max cache cycle comment acl owned_by".split()),
        "constraint": tuple("kind definition deferrable deferred validated local no_inherit comment".split()),
        "index": tuple("table definition unique primary immediate "
                        "clustered replica_identity nulls_not_distinct comment options".split()),
        "function": tuple("kind definition comment acl".split()),
        "trigger": tuple("definition enabled comment".split()),
        "policy": tuple("permissive command roles using with_check".split()),
        "rule": tuple("definition enabled".split()),
        "default_privileges": tuple("acl".split()),
        "event_trigger": tuple("event function enabled tags".split()),
    },
    "mysql": {
        "table": tuple("type engine collation options comment".split()),
        "column": tuple("position type nullable default extra collation comment generated".split()),
        "index": tuple("column non_unique sub_part order type comment".split()),
        "constraint": tuple("present".split()),
        "foreign_key": tuple("references on_update on_delete columns".split()),
        "check": tuple("clause".split()),
        "view": tuple("definition check_option updatable security".split()),
        "trigger": tuple("event timing order statement".split()),
        "routine": tuple("returns definition deterministic data_access security".split()),
    },
}


def _collect(conn: Connection, queries: dict[str, str], names: dict[str, tuple[str, ...]],
             **params: Any) -> Fingerprint:
    out: Fingerprint = {}
    for kind, sql in queries.items():
        bound = {k: v for k, v in params.items() if f":{k}" in sql}
        for row in conn.execute(text(sql), bound):
            out[f"{kind} {row[0]}"] = tuple(zip(names[kind], (_plain(v) for v in row[1:]), strict=True))
    return out


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, bool)) else str(value)


def postgresql(conn: Connection, default_schema: str, skip_tables: set[str],
               skip_schemas: frozenset[str] = frozenset()) -> Fingerprint:
    """``skip_schemas``: schemas the environment provides (the version table's; env.py or the bootstrap
    create it before any revision), left out as schemas (what is in them is still compared)."""
    try:
        conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": f'"{default_schema}"'})
        return _collect(conn, _PG, ATTRIBUTES["postgresql"], skip=sorted(skip_tables),
                        skip_schemas=sorted(skip_schemas))
    finally:
        conn.rollback()


def _elements(create_table: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(column definitions in order, table constraints sorted) of a CREATE TABLE as SQLite stores it: the
    text between the outer parentheses split at top-level commas (quotes and nesting respected). SQLite
    keeps the text it was given, and Alembic's batch mode (a table rebuilt for an ALTER) writes its table
    constraints in an order that changes from run to run; that order means nothing."""
    from dbops.drift.normalize import split_parenthesized

    split = split_parenthesized(create_table)
    parts = split[1] if split else []
    folded = [" ".join(p.split()) for p in parts if p.strip()]
    constraint = ("CONSTRAINT ", "PRIMARY KEY", "UNIQUE", "CHECK", "FOREIGN KEY")
    columns = tuple(p for p in folded if not p.upper().startswith(constraint))
    return columns, tuple(sorted(p for p in folded if p.upper().startswith(constraint)))


def sqlite(conn: Connection, skip_tables: set[str]) -> Fingerprint:
    """SQLite keeps each object's CREATE statement as the schema itself: a table's column definitions (in
    order) and its constraints (in any order) from that text, an index's, view's or trigger's whole text;
    the pragmas add what the text implies (columns' types, defaults and keys; index columns, order and
    collation; foreign keys, compared by what they are rather than by their position)."""
    out: Fingerprint = {}
    objects = conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")).fetchall()
    for kind, name, table, sql in objects:
        if table in skip_tables:
            continue
        if kind == "table":
            columns, constraints = _elements(sql or "")
            out[f"table {name}"] = (("columns", columns), ("constraints", constraints))
            for row in conn.execute(text(f'PRAGMA table_xinfo("{name}")')):
                out[f"column {name}.{row[1]}"] = tuple(zip(("position", "name", "type", "not_null", "default",
                                                            "primary_key", "hidden"), row, strict=False))
            keys: dict[int, list[Any]] = {}
            for row in conn.execute(text(f'PRAGMA foreign_key_list("{name}")')):
                keys.setdefault(row[0], []).append(row[1:])
            for rows in keys.values():
                what = tuple(zip(("references", "columns", "referenced_columns", "on_update", "on_delete", "match"),
                                 (rows[0][1], tuple(r[2] for r in rows), tuple(r[3] for r in rows), *rows[0][4:7]),
                                 strict=False))
                out[f"foreign_key {name}({','.join(str(r[2]) for r in rows)}) -> {rows[0][1]}"] = what
        else:
            out[f"{kind} {name}"] = (("table", table), ("sql", " ".join((sql or "").split())))
        if kind == "index" and sql is not None:
            for row in conn.execute(text(f'PRAGMA index_xinfo("{name}")')):
                out[f"index_column {name}.{row[0]}"] = tuple(zip(("position", "column_id", "column", "descending",
                                                                  "collation", "key"), row, strict=False))
    return out


_MYSQL: dict[str, str] = {  # the first column is the object's key; ATTRIBUTES names the rest
    "table": """SELECT table_name, table_type, engine, table_collation, create_options, table_comment
                FROM information_schema.tables WHERE table_schema = DATABASE()""",
    "column": """SELECT CONCAT(table_name, '.', column_name), ordinal_position, column_type, is_nullable,
                        column_default, extra, collation_name, column_comment, generation_expression
                 FROM information_schema.columns WHERE table_schema = DATABASE()""",
    "index": """SELECT CONCAT(table_name, '.', index_name, '.', seq_in_index), column_name, non_unique, sub_part,
                       collation, index_type, index_comment
                FROM information_schema.statistics WHERE table_schema = DATABASE()""",
    "constraint": """SELECT CONCAT(table_name, '.', constraint_name, '.', constraint_type), 1
                     FROM information_schema.table_constraints WHERE constraint_schema = DATABASE()""",
    "foreign_key": """SELECT CONCAT(r.table_name, '.', r.constraint_name), r.referenced_table_name, r.update_rule,
                             r.delete_rule,
                             (SELECT GROUP_CONCAT(CONCAT(k.column_name, '>', k.referenced_column_name)
                                                  ORDER BY k.ordinal_position)
                              FROM information_schema.key_column_usage k WHERE k.constraint_schema = DATABASE()
                                AND k.table_name = r.table_name AND k.constraint_name = r.constraint_name)
                      FROM information_schema.referential_constraints r WHERE r.constraint_schema = DATABASE()""",
    "check": """SELECT CONCAT(table_name, '.', constraint_name), check_clause
                FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()""",
    "view": """SELECT table_name, view_definition, check_option, is_updatable, security_type
               FROM information_schema.views WHERE table_schema = DATABASE()""",
    "trigger": """SELECT CONCAT(event_object_table, '.', trigger_name), event_manipulation, action_timing,
                         action_order, action_statement
                  FROM information_schema.triggers WHERE trigger_schema = DATABASE()""",
    "routine": """SELECT CONCAT(routine_type, ' ', routine_name), data_type, routine_definition, is_deterministic,
                         sql_data_access, security_type
                  FROM information_schema.routines WHERE routine_schema = DATABASE()""",
}


def mysql(conn: Connection, skip_tables: set[str]) -> Fingerprint:
    """MariaDB/MySQL from information_schema; the database's own name is left out of definitions."""
    database = conn.execute(text("SELECT DATABASE()")).scalar_one()
    out = _collect(conn, _MYSQL, ATTRIBUTES["mysql"])
    skipped = {k for k in out if k.split(" ", 1)[1].split(".", 1)[0] in skip_tables}
    return {k: tuple((a, v.replace(f"`{database}`.", "").replace(f"{database}.", "") if isinstance(v, str) else v)
                     for a, v in value) for k, value in out.items() if k not in skipped}


def read(conn: Connection, default_schema: str | None, skip_tables: set[str],
         skip_schemas: frozenset[str] = frozenset()) -> Fingerprint:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql(conn, default_schema or "public", skip_tables, skip_schemas)
    if name == "sqlite":
        return sqlite(conn, skip_tables)
    return mysql(conn, skip_tables)


def differences(chain: Fingerprint, baseline: Fingerprint, *,
                same: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Each difference in one line: what the chain's database has that the baseline's lacks, the
    reverse, and what both have with other attributes. ``same``: keys proved equal another way."""
    out = []
    for key in sorted(chain.keys() | baseline.keys()):
        a, b = chain.get(key), baseline.get(key)
        if a == b or key in same:
            continue
        if b is None:
            out.append(f"{key}: built by the chain, missing from the baseline's database")
        elif a is None:
            out.append(f"{key}: only in the baseline's database")
        else:
            was, now = dict(a), dict(b)
            changed = [f"{attr} {was.get(attr)!r} (chain) != {now.get(attr)!r} (baseline)"
                       for attr in dict.fromkeys([*was, *now]) if was.get(attr) != now.get(attr)]
            out.append(f"{key}: {'; '.join(changed)}")
    return out


_CHECK_AGAIN = text("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = 'pg_temp.dbops_round_trip'::regclass AND conname = 'dbops_round_trip'")


def round_trip_equal(conn: Connection, chain: Fingerprint, baseline: Fingerprint,
                     default_schema: str | None) -> set[str]:
    """The CHECK constraints whose definitions differ only because PostgreSQL's deparser is not
    idempotent: ``x IN ('a', 'b')`` on a varchar column is stored as ``x = ANY ((ARRAY[...])::text[])``,
    and that text parses back to ``x = ANY (ARRAY[(...)::text, ...])``. For each, the chain's definition
    is given to the server once more (on a temporary copy of the table, rolled back); when it comes back
    as the baseline's, the two are the same expression. Returns their keys (PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
        return set()
    same: set[str] = set()
    for key in sorted(chain.keys() & baseline.keys()):
        if not key.startswith("constraint "):
            continue
        a, b = dict(chain[key]), dict(baseline[key])
        if a.get("kind") != "c" or b.get("kind") != "c" or a == b:
            continue
        if {k for k in a if a[k] != b.get(k)} != {"definition"}:
            continue
        schema, _, rest = key.removeprefix("constraint ").partition(".")
        table = rest.rpartition(".")[0]
        prep = conn.dialect.identifier_preparer
        try:  # in a transaction rolled back: the temporary copy goes with it
            conn.execute(text("SELECT set_config('search_path', :s, true)"),
                         {"s": prep.quote(default_schema or "public")})
            conn.execute(text(f"CREATE TEMP TABLE dbops_round_trip (LIKE {prep.quote(schema)}.{prep.quote(table)})"))
            conn.execute(text(f"ALTER TABLE pg_temp.dbops_round_trip ADD CONSTRAINT dbops_round_trip "
                              f"{a['definition']}"))
            again = conn.execute(_CHECK_AGAIN).scalar()
        except Exception:  # noqa: BLE001  not comparable this way: the difference stands
            again = None
        finally:
            conn.rollback()
        if again == b["definition"]:
            same.add(key)
    return same
