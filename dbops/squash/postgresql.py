"""PostgreSQL: the DDL that rebuilds a database's schema, written by the server itself.

Every definition comes from the catalog's own deparsers (``pg_get_constraintdef``, ``pg_get_indexdef``,
``pg_get_expr``, ``pg_get_functiondef``, ``pg_get_viewdef``, ``pg_get_triggerdef``, ``format_type``),
read with ``search_path`` set to the schema the migrations run in, so objects there are unqualified and
the baseline applies wherever the chain did. Statements come out in the order that satisfies their
dependencies: schemas, extensions, types, functions (bodies unchecked), sequences, tables, the
functions whose signature names a table, constraints and indexes, foreign keys, views in dependency
order, triggers, policies, comments, grants. What is not rendered here (inheritance, rules, default
privileges, ...) still shows up in the fingerprint, so a baseline that misses it fails the proof.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, text
from sqlalchemy.engine import Connection

from dbops.squash.catalog import USER_NS, Statement, not_extension_member, qualified


def _rows(conn: Connection, sql: str, **params: Any) -> list[Any]:
    return list(conn.execute(text(sql), params))


@dataclass
class _Relation:
    oid: int
    name: str
    kind: str


class Reader:
    """One read of the catalog, on one connection (inside a transaction the caller rolls back)."""

    def __init__(self, conn: Connection, default_schema: str, skip_tables: set[str],
                 skip_schemas: frozenset[str] = frozenset()) -> None:
        self.conn = conn
        self.quoted_schema = conn.dialect.identifier_preparer.quote(default_schema)  # as the deparsers quote it
        self.literal = String().literal_processor(conn.dialect)  # type: ignore[no-untyped-call]  # its own literals
        conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": self.quoted_schema})
        self.skip = sorted(skip_tables)
        self.skip_schemas = sorted(skip_schemas)
        self.up: list[Statement] = []
        self.down: list[Statement] = []
        self.comments: list[Statement] = []
        self.grants: list[Statement] = []

    def local(self, sql: str, *markers: str) -> str:
        """``sql`` without the current schema's qualification after the first of ``markers`` found
        (pg_get_indexdef, pg_get_triggerdef and pg_get_functiondef always qualify), so the baseline builds
        in whatever schema the migrations run in, as the chain did."""
        for marker in markers:
            if f"{marker}{self.quoted_schema}." in sql:
                return sql.replace(f"{marker}{self.quoted_schema}.", marker, 1)
        return sql

    def add(self, kind: str, name: str, sql: str, drop: str | None = None) -> None:
        self.up.append(Statement(kind, name, sql))
        if drop:
            self.down.append(Statement(kind, name, drop))

    def comment(self, on: str, value: str | None) -> None:
        if value is not None:
            self.comments.append(Statement("comment", on, f"COMMENT ON {on} IS {self.literal(value)}"))

    def acl(self, on: str, acl_sql: str, oid: int) -> None:
        """GRANTs reproducing a non-default ACL (``acl_sql`` yields the aclitem[] of object ``oid``)."""
        rows = _rows(self.conn, f"""
            SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                   ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.is_grantable
            FROM ({acl_sql}) src(acl), aclexplode(src.acl) a WHERE src.acl IS NOT NULL ORDER BY 2, 1""", oid=oid)
        if not rows:
            return
        self.grants.append(Statement("grant", on, f"REVOKE ALL ON {on} FROM PUBLIC"))
        for privilege, grantee, grantable in rows:
            self.grants.append(Statement("grant", on, f"GRANT {privilege} ON {on} TO {grantee}"
                                                      f"{' WITH GRANT OPTION' if grantable else ''}"))

    # -- reading, in dependency order -------------------------------------------------------------------

    def read(self) -> tuple[list[Statement], list[Statement]]:
        self.schemas()
        self.extensions()
        self.types()
        late = self.functions(late=False)
        owned = self.sequences()
        tables = self.tables()
        for stmt in owned:
            self.up.append(stmt)
        self.functions(late=True, only=late)
        self.constraints_and_indexes(tables)  # before views: a view may GROUP BY a primary key
        views = self.views()
        self.constraints_and_indexes([v for v in views if v.kind == "m"])
        self.triggers_and_policies([*tables, *views])
        self.up.extend(self.comments)
        self.up.extend(self.grants)
        return self.up, list(reversed(self.down))

    def schemas(self) -> None:
        for oid, name, raw, comment in _rows(self.conn, f"""
                SELECT n.oid, quote_ident(n.nspname), n.nspname, obj_description(n.oid, 'pg_namespace')
                FROM pg_namespace n WHERE {USER_NS} AND n.nspname NOT IN ('public', current_schema())
                AND NOT (n.nspname = ANY(:skip)) AND {not_extension_member('pg_namespace', 'n.oid')}
                ORDER BY n.oid""", skip=self.skip_schemas):
            self.add("schema", raw, f"CREATE SCHEMA IF NOT EXISTS {name}", f"DROP SCHEMA IF EXISTS {name}")
            self.comment(f"SCHEMA {name}", comment)
            self.acl(f"SCHEMA {name}", "SELECT nspacl FROM pg_namespace WHERE oid = :oid", oid)

    def extensions(self) -> None:
        for name, schema, in_current in _rows(self.conn, """
                SELECT quote_ident(e.extname), quote_ident(n.nspname), n.nspname = current_schema()
                FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                WHERE e.extname <> 'plpgsql' ORDER BY e.oid"""):
            where = "" if in_current else f" WITH SCHEMA {schema}"
            self.add("extension", name, f"CREATE EXTENSION IF NOT EXISTS {name}{where}",
                     f"DROP EXTENSION IF EXISTS {name}")

    def types(self) -> None:
        q = qualified("n.nspname", "t.typname")
        base = (f"FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {USER_NS} "
                f"AND {not_extension_member('pg_type', 't.oid')}")
        for oid, kind, name, comment in _rows(self.conn, f"""
                SELECT t.oid, t.typtype::text, {q}, obj_description(t.oid, 'pg_type') {base}
                AND (t.typtype::text IN ('e', 'd') OR (t.typtype::text = 'c' AND
                     (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
                ORDER BY t.oid"""):
            if kind == "e":
                labels = _rows(self.conn, "SELECT quote_literal(enumlabel) FROM pg_enum WHERE enumtypid = :oid "
                                          "ORDER BY enumsortorder", oid=oid)
                body = f"AS ENUM ({', '.join(r[0] for r in labels)})"
                self.add("type", name, f"CREATE TYPE {name} {body}", f"DROP TYPE IF EXISTS {name}")
            elif kind == "c":
                cols = _rows(self.conn, """
                    SELECT quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
                    FROM pg_attribute a JOIN pg_type t ON t.typrelid = a.attrelid
                    WHERE t.oid = :oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""", oid=oid)
                self.add("type", name, f"CREATE TYPE {name} AS ({', '.join(r[0] for r in cols)})",
                         f"DROP TYPE IF EXISTS {name}")
            else:
                self.domain(oid, name)
            self.comment(f"TYPE {name}", comment)
            self.acl(f"TYPE {name}", "SELECT typacl FROM pg_type WHERE oid = :oid", oid)

    def domain(self, oid: int, name: str) -> None:
        (basetype, notnull, default, collation), = _rows(self.conn, """
            SELECT format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault,
                   CASE WHEN t.typcollation <> b.typcollation
                        THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
            FROM pg_type t JOIN pg_type b ON b.oid = t.typbasetype
            LEFT JOIN pg_collation co ON co.oid = t.typcollation
            LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE t.oid = :oid""", oid=oid)
        parts = [f"CREATE DOMAIN {name} AS {basetype}"]
        if collation:
            parts.append(f"COLLATE {collation}")
        if default is not None:
            parts.append(f"DEFAULT {default}")
        if notnull:
            parts.append("NOT NULL")
        for cname, cdef in _rows(self.conn, "SELECT quote_ident(conname), pg_get_constraintdef(oid) "
                                            "FROM pg_constraint WHERE contypid = :oid ORDER BY oid", oid=oid):
            parts.append(f"CONSTRAINT {cname} {cdef}")
        self.add("type", name, " ".join(parts), f"DROP DOMAIN IF EXISTS {name}")

    def functions(self, *, late: bool, only: set[int] | None = None) -> set[int]:
        """Functions and procedures. Bodies are not checked at creation (the baseline turns
        check_function_bodies off), so they come before the tables their defaults use; those whose
        signature names a table's row type, or with a SQL-standard body, come after the tables."""
        q = qualified("n.nspname", "p.proname")
        rows = _rows(self.conn, f"""
            SELECT p.oid, pg_get_functiondef(p.oid), {q}, pg_get_function_identity_arguments(p.oid), p.prokind::text,
                   obj_description(p.oid, 'pg_proc'),
                   p.prosqlbody IS NOT NULL OR EXISTS (
                       SELECT 1 FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid
                       WHERE c.relkind <> 'c' AND t.oid = ANY(array_append(
                           coalesce(p.proallargtypes, p.proargtypes::oid[]), p.prorettype)))
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE {USER_NS} AND p.prokind::text IN ('f', 'p') AND {not_extension_member('pg_proc', 'p.oid')}
            ORDER BY p.oid""")
        delayed: set[int] = set()
        if not late and rows:
            self.up.append(Statement("setting", "check_function_bodies",
                                     "SELECT set_config('check_function_bodies', 'off', true)"))
        for oid, definition, name, args, kind, comment, needs_tables in rows:
            if not late and needs_tables:
                delayed.add(oid)
                continue
            if late and oid not in (only or set()):
                continue
            what = "PROCEDURE" if kind == "p" else "FUNCTION"
            signature = f"{name}({args})"
            self.add("function", signature, self.local(definition.strip(), f"CREATE OR REPLACE {what} "),
                     f"DROP {what} IF EXISTS {signature}")
            self.comment(f"{what} {signature}", comment)
            self.acl(f"{what} {signature}", "SELECT proacl FROM pg_proc WHERE oid = :oid", oid)
        return delayed

    def sequences(self) -> list[Statement]:
        """Sequences that are not an identity column's; returns their OWNED BY statements (after the tables)."""
        q = qualified("n.nspname", "c.relname")
        owned = []
        for oid, name, typ, start, inc, low, high, cache, cycle, owner, comment in _rows(self.conn, f"""
                SELECT c.oid, {q}, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                       s.seqcache, s.seqcycle,
                       (SELECT {qualified('tn.nspname', 't.relname')} || '.' || quote_ident(a.attname)
                        FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                        JOIN pg_namespace tn ON tn.oid = t.relnamespace
                        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'a'
                          AND d.refclassid = 'pg_class'::regclass),
                       obj_description(c.oid, 'pg_class')
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_sequence s ON s.seqrelid = c.oid
                WHERE c.relkind = 'S' AND {USER_NS} AND {not_extension_member('pg_class', 'c.oid')}
                  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                  AND d.objid = c.oid AND d.deptype = 'i')
                ORDER BY c.oid"""):
            if owner and owner.rsplit(".", 1)[0].strip('"') in self.skip:
                continue
            options = _sequence_options(start, inc, low, high, cache, cycle)
            self.add("sequence", name, f"CREATE SEQUENCE {name} AS {typ} {options}", f"DROP SEQUENCE IF EXISTS {name}")
            if owner:
                owned.append(Statement("owned_by", name, f"ALTER SEQUENCE {name} OWNED BY {owner}"))
            self.comment(f"SEQUENCE {name}", comment)
            self.acl(f"SEQUENCE {name}", "SELECT relacl FROM pg_class WHERE oid = :oid", oid)
        return owned

    def _relations(self, kinds: str) -> list[Any]:
        q = qualified("n.nspname", "c.relname")
        return _rows(self.conn, f"""
            SELECT c.oid, {q}, c.relkind::text, c.relpersistence::text, c.reloptions, c.relrowsecurity,
                   c.relforcerowsecurity,
                   CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END, c.relispartition,
                   pg_get_expr(c.relpartbound, c.oid),
                   (SELECT {qualified('pn.nspname', 'pc.relname')} FROM pg_inherits i JOIN pg_class pc
                    ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                    WHERE i.inhrelid = c.oid AND c.relispartition),
                   obj_description(c.oid, 'pg_class'), c.relname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind::text = ANY(:kinds) AND {USER_NS} AND {not_extension_member('pg_class', 'c.oid')}
              AND NOT (c.relname = ANY(:skip))
            ORDER BY c.relispartition, c.oid""", kinds=list(kinds), skip=self.skip)

    def _columns(self, oids: list[int]) -> dict[int, list[Any]]:
        by_table: dict[int, list[Any]] = defaultdict(list)
        if not oids:
            return by_table
        identity = {(r[0], r[1]): r[2:] for r in _rows(self.conn, f"""
            SELECT d.refobjid, d.refobjsubid, {qualified('n.nspname', 'c.relname')}, s.seqstart, s.seqincrement,
                   s.seqmin, s.seqmax, s.seqcache, s.seqcycle, format_type(s.seqtypid, NULL)
            FROM pg_depend d JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_sequence s ON s.seqrelid = c.oid
            WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'i'
              AND d.refobjid = ANY(:oids)""", oids=oids)}
        for row in _rows(self.conn, """
                SELECT a.attrelid, a.attnum, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), a.attnotnull,
                       pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text,
                       CASE WHEN a.attcollation <> t.typcollation
                            THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END,
                       col_description(a.attrelid, a.attnum), a.attislocal
                FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                LEFT JOIN pg_collation co ON co.oid = a.attcollation
                LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
                WHERE a.attrelid = ANY(:oids) AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attrelid, a.attnum""", oids=oids):
            by_table[row[0]].append((*row[2:], identity.get((row[0], row[1]))))
        return by_table

    def tables(self) -> list[_Relation]:
        rels = self._relations("rp")
        columns = self._columns([r[0] for r in rels])
        out = []
        for oid, name, kind, persistence, options, rls, force, partkey, is_partition, bound, parent, comment, raw \
                in rels:
            lines = []
            for cname, ctype, notnull, default, ident, generated, collation, ccomment, local, seq in columns[oid]:
                self.comment(f"COLUMN {name}.{cname}", ccomment)
                if is_partition and not local:
                    continue
                col = f"{cname} {ctype}"
                if collation:
                    col += f" COLLATE {collation}"
                if generated == "s":
                    col += f" GENERATED ALWAYS AS ({default}) STORED"
                elif ident:
                    seqname, start, inc, low, high, cache, cycle, _ = seq
                    col += (f" GENERATED {'ALWAYS' if ident == 'a' else 'BY DEFAULT'} AS IDENTITY (SEQUENCE NAME "
                            f"{seqname} {_sequence_options(start, inc, low, high, cache, cycle)})")
                elif default is not None:
                    col += f" DEFAULT {default}"
                if notnull:
                    col += " NOT NULL"
                lines.append(col)
            head = "CREATE UNLOGGED TABLE" if persistence == "u" else "CREATE TABLE"
            if is_partition:
                body = f" PARTITION OF {parent}" + (f" ({', '.join(lines)})" if lines else "") + f" {bound}"
            else:
                body = " (\n    " + ",\n    ".join(lines) + "\n)" if lines else " ()"
            sql = f"{head} {name}{body}"
            if partkey:
                sql += f" PARTITION BY {partkey}"
            if options:
                sql += f" WITH ({', '.join(options)})"
            self.add("table", raw, sql, f"DROP TABLE IF EXISTS {name} CASCADE")
            if rls:
                self.up.append(Statement("table", raw, f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY"))
            if force:
                self.up.append(Statement("table", raw, f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY"))
            self.comment(f"TABLE {name}", comment)
            self.acl(f"TABLE {name}", "SELECT relacl FROM pg_class WHERE oid = :oid", oid)
            out.append(_Relation(oid, name, kind))
        return out

    def constraints_and_indexes(self, relations: list[_Relation]) -> None:
        names = {r.oid: r.name for r in relations}
        oids = list(names)
        if not oids:
            return
        foreign: list[Statement] = []
        for relid, cname, ctype, definition, comment in _rows(self.conn, """
                SELECT conrelid, quote_ident(conname), contype::text, pg_get_constraintdef(oid),
                       obj_description(oid, 'pg_constraint')
                FROM pg_constraint WHERE conrelid = ANY(:oids) AND contype IN ('p', 'u', 'x', 'c', 'f')
                  AND conislocal AND conparentid = 0
                ORDER BY CASE contype::text WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2 WHEN 'c' THEN 3 ELSE 4 END,
                         oid""", oids=oids):
            stmt = Statement("foreign_key" if ctype == "f" else "constraint", f"{names[relid]}.{cname}",
                             f"ALTER TABLE {names[relid]} ADD CONSTRAINT {cname} {definition}")
            (foreign if ctype == "f" else self.up).append(stmt)
            self.comment(f"CONSTRAINT {cname} ON {names[relid]}", comment)
        for definition, iname, comment in _rows(self.conn, f"""
                SELECT pg_get_indexdef(i.indexrelid), {qualified('n.nspname', 'ic.relname')},
                       obj_description(i.indexrelid, 'pg_class')
                FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                JOIN pg_namespace n ON n.oid = ic.relnamespace
                WHERE i.indrelid = ANY(:oids)
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                                  AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
                  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
                ORDER BY ic.oid""", oids=oids):
            # a partitioned table's index: "ON ONLY" would leave the partitions without theirs
            definition = self.local(definition, " ON ONLY ", " ON ").replace(" ON ONLY ", " ON ", 1)
            self.up.append(Statement("index", iname, definition))
            self.comment(f"INDEX {iname}", comment)
        for relid, iname in _rows(self.conn, "SELECT i.indrelid, quote_ident(c.relname) FROM pg_index i JOIN "
                                             "pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = ANY(:oids) "
                                             "AND i.indisclustered", oids=oids):
            self.up.append(Statement("index", iname, f"ALTER TABLE {names[relid]} CLUSTER ON {iname}"))
        self.up.extend(foreign)

    def views(self) -> list[_Relation]:
        rels = {r[0]: r for r in _rows(self.conn, f"""
            SELECT c.oid, {qualified('n.nspname', 'c.relname')}, c.relkind::text, pg_get_viewdef(c.oid), c.reloptions,
                   obj_description(c.oid, 'pg_class'), c.relname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('v', 'm') AND {USER_NS} AND {not_extension_member('pg_class', 'c.oid')}
            ORDER BY c.oid""")}
        needs: dict[int, set[int]] = defaultdict(set)
        for view, ref in _rows(self.conn, """
                SELECT DISTINCT r.ev_class, d.refobjid FROM pg_rewrite r JOIN pg_depend d
                ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
                WHERE r.ev_class = ANY(:oids) AND d.refobjid <> r.ev_class""", oids=list(rels)):
            if ref in rels:
                needs[view].add(ref)
        done: list[int] = []
        while len(done) < len(rels):  # dependencies first; a cycle cannot exist between views
            ready = [oid for oid in rels if oid not in done and needs[oid] <= set(done)]
            done.extend(ready or [oid for oid in rels if oid not in done])
        out = []
        columns = self._columns(done)
        for oid in done:
            _, name, kind, definition, options, comment, raw = rels[oid]
            what = "MATERIALIZED VIEW" if kind == "m" else "VIEW"
            with_ = f" WITH ({', '.join(options)})" if options else ""
            body = definition.strip().rstrip(";")
            self.add("view", raw, f"CREATE {what} {name}{with_} AS\n{body}" + (" WITH DATA" if kind == "m" else ""),
                     f"DROP {what} IF EXISTS {name} CASCADE")
            self.comment(f"{what} {name}", comment)
            for column in columns[oid]:
                self.comment(f"COLUMN {name}.{column[0]}", column[7])
            self.acl(f"TABLE {name}", "SELECT relacl FROM pg_class WHERE oid = :oid", oid)
            out.append(_Relation(oid, name, kind))
        return out

    def triggers_and_policies(self, relations: list[_Relation]) -> None:
        names = {r.oid: r.name for r in relations}
        if not names:
            return
        for relid, definition, tname, enabled, comment in _rows(self.conn, """
                SELECT tgrelid, pg_get_triggerdef(oid), quote_ident(tgname), tgenabled::text,
                       obj_description(oid, 'pg_trigger')
                FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = ANY(:oids) AND tgparentid = 0
                ORDER BY oid""", oids=list(names)):
            definition = self.local(self.local(definition, " ON "), " EXECUTE FUNCTION ", " EXECUTE PROCEDURE ")
            self.up.append(Statement("trigger", f"{names[relid]}.{tname}", definition))
            state = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}.get(enabled)
            if state:
                self.up.append(Statement("trigger", tname, f"ALTER TABLE {names[relid]} {state} TRIGGER {tname}"))
            self.comment(f"TRIGGER {tname} ON {names[relid]}", comment)
        commands = {"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}
        for relid, pname, permissive, cmd, roles, qual, check in _rows(self.conn, """
                SELECT p.polrelid, quote_ident(p.polname), p.polpermissive, p.polcmd::text,
                       CASE WHEN p.polroles = '{0}' THEN 'PUBLIC' ELSE (SELECT string_agg(quote_ident(rolname), ', '
                            ORDER BY rolname) FROM pg_roles WHERE oid = ANY(p.polroles)) END,
                       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
                FROM pg_policy p WHERE p.polrelid = ANY(:oids) ORDER BY p.oid""", oids=list(names)):
            sql = (f"CREATE POLICY {pname} ON {names[relid]} AS {'PERMISSIVE' if permissive else 'RESTRICTIVE'} "
                   f"FOR {commands[cmd]} TO {roles}")
            if qual is not None:
                sql += f" USING ({qual})"
            if check is not None:
                sql += f" WITH CHECK ({check})"
            self.up.append(Statement("policy", f"{names[relid]}.{pname}", sql))


def _sequence_options(start: int, inc: int, low: int, high: int, cache: int, cycle: bool) -> str:
    return (f"START WITH {start} INCREMENT BY {inc} MINVALUE {low} MAXVALUE {high} CACHE {cache}"
            f"{' CYCLE' if cycle else ' NO CYCLE'}")


def render(conn: Connection, default_schema: str, skip_tables: set[str],
           skip_schemas: frozenset[str] = frozenset()) -> tuple[list[Statement], list[Statement]]:
    """(upgrade statements, downgrade statements) rebuilding / removing the schema ``conn`` reaches;
    ``skip_schemas``: schemas the environment provides (the version table's), neither created nor dropped."""
    try:
        return Reader(conn, default_schema, skip_tables, skip_schemas).read()
    finally:
        conn.rollback()
