"""Lint rules over the SQL a revision runs with op.execute, read with PostgreSQL's parser: backfills,
rewrites, non-concurrent reindexes, CASCADE, explicit locks, enum value renames, transaction control,
schema and database drops, domain constraints; and MySQL/MariaDB ALTERs without ALGORITHM/LOCK."""
from __future__ import annotations

from typing import Any

from dbops.lint.operations import OpCall
from dbops.lint.registry import Context, rule


def _kind(node: Any) -> str:
    return type(node).__name__


def _rel(node: Any) -> str | None:
    relation = getattr(node, "relation", None)
    return getattr(relation, "relname", None)


@rule("DB026", "data backfill inside a revision",
      "An UPDATE or DELETE in a revision runs in the revision's transaction: every row it touches stays locked "
      "until the whole migration commits, and a large one holds the deploy. Move it to a batched, resumable data "
      "migration (dbops data-migrate).",
      severity="warning", scope="any",
      unsafe="""op.execute("UPDATE orders SET status = 'new' WHERE status IS NULL")""",
      safe="""
# data_migrations/orders_status.py: DataMigration(name="orders_status", table="orders",
#     set={"status": "'new'"}, where="status IS NULL")   -- batched, resumable: dbops data-migrate
op.add_column("orders", sa.Column("status", sa.String(20)))""")
def _backfill(call: OpCall, ctx: Context) -> str | None:
    for node in ctx.nodes:
        table = _rel(node)
        if _kind(node) in ("UpdateStmt", "DeleteStmt") and table and table not in ctx.created_tables \
                and table not in ctx.emptied_tables and not (
                _kind(node) == "DeleteStmt" and getattr(node, "whereClause", None) is None):
            verb = "UPDATE" if _kind(node) == "UpdateStmt" else "DELETE"
            return f"op.execute runs {verb} on {table} inside the revision's transaction"
    return None


@rule("DB027", "VACUUM FULL or CLUSTER",
      "Both rewrite the whole table under an ACCESS EXCLUSIVE lock: reads and writes stop until it is done. "
      "Reclaim space online with pg_repack, outside the migration.",
      unsafe="""
with op.get_context().autocommit_block():
    op.execute("VACUUM FULL orders")""",
      safe="""
# outside the migration, online: pg_repack --table orders
with op.get_context().autocommit_block():
    op.execute("VACUUM (ANALYZE) orders")""")
def _rewrite_all(call: OpCall, ctx: Context) -> str | None:
    for node in ctx.nodes:
        full = _kind(node) == "VacuumStmt" and any(getattr(o, "defname", "") == "full" for o in node.options or ())
        if full or _kind(node) == "ClusterStmt":
            what = "VACUUM FULL" if full else "CLUSTER"
            return f"op.execute runs {what}: the table is rewritten under an exclusive lock"
    return None


@rule("DB028", "REINDEX without CONCURRENTLY",
      "REINDEX blocks writes to the table (and reads that use the index) while it rebuilds; REINDEX ... "
      "CONCURRENTLY (PostgreSQL 12+, in an autocommit block) does not.",
      unsafe="""
op.execute("SET LOCAL lock_timeout = '5s'")
op.execute("REINDEX INDEX ix_orders_code")""",
      safe="""
with op.get_context().autocommit_block():
    op.execute("REINDEX INDEX CONCURRENTLY ix_orders_code")""")
def _reindex(call: OpCall, ctx: Context) -> str | None:
    for node in ctx.nodes:
        if _kind(node) == "ReindexStmt" and not any(getattr(p, "defname", "") == "concurrently"
                                                    for p in node.params or ()):
            return "op.execute runs REINDEX without CONCURRENTLY"
    return None


@rule("DB029", "CASCADE in DROP or TRUNCATE",
      "CASCADE also drops (or empties) every object that depends on the target: views, foreign keys, other "
      "tables' rows. Name what goes explicitly, so the revision says what it removes.",
      scope="any",
      unsafe="""op.execute("TRUNCATE audit_log CASCADE")""",
      safe="""
op.execute("SET LOCAL lock_timeout = '5s'")
op.execute("TRUNCATE audit_log")""")
def _cascade(call: OpCall, ctx: Context) -> str | None:
    for node in ctx.nodes:
        if _kind(node) in ("DropStmt", "TruncateStmt") and getattr(getattr(node, "behavior", None), "name",
                                                                    "") == "DROP_CASCADE":
            return f"op.execute runs {'DROP' if _kind(node) == 'DropStmt' else 'TRUNCATE'} ... CASCADE"
    return None


@rule("DB030", "explicit LOCK TABLE",
      "LOCK TABLE holds its lock until the migration commits, on top of the locks its statements take; an "
      "ACCESS EXCLUSIVE one stops every query on the table for the whole revision. Let each statement take what "
      "it needs, under a lock_timeout.",
      unsafe="""op.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")""",
      safe="""op.execute("SET LOCAL lock_timeout = '5s'")""")
def _lock_table(call: OpCall, ctx: Context) -> str | None:
    for node in ctx.nodes:
        if _kind(node) == "LockStmt":
            names = ", ".join(r.relname for r in node.relations or ())
            return f"op.execute locks {names} explicitly for the rest of the revision"
    return None


@rule("DB031", "enum value renamed",
      "ALTER TYPE ... RENAME VALUE changes the value under the running release, which still writes and compares "
      "the old one. Add the new value, move the rows in batches, stop using the old one, then retire it.",
      scope="any",
      unsafe="""op.execute("ALTER TYPE order_status RENAME VALUE 'shipped' TO 'sent'")""",
      safe="""op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'sent'")""")
def _enum_rename(call: OpCall, ctx: Context) -> str | None:
    for node in ctx.nodes:
        if _kind(node) == "AlterEnumStmt" and getattr(node, "oldVal", None):
            return f"op.execute renames enum value {node.oldVal!r} to {node.newVal!r}"
    return None


@rule("DB032", "transaction control in a revision",
      "BEGIN / COMMIT / ROLLBACK in op.execute end or nest the transaction Alembic runs the revision in: what ran "
      "before is committed without the version table, and a failure after it leaves a half-applied revision. Use "
      "op.get_context().autocommit_block() for statements that cannot run in a transaction.",
      scope="any",
      unsafe="""
op.execute("COMMIT")
op.execute("CREATE INDEX CONCURRENTLY ix_orders_code ON orders (code)")""",
      safe="""
with op.get_context().autocommit_block():
    op.execute("CREATE INDEX CONCURRENTLY ix_orders_code ON orders (code)")""")
def _transaction_control(call: OpCall, ctx: Context) -> str | None:
    for node in ctx.nodes:
        if _kind(node) == "TransactionStmt":
            kind = getattr(getattr(node, "kind", None), "name", "").removeprefix("TRANS_STMT_")
            return f"op.execute runs {kind or 'transaction control'} inside the revision's transaction"
    return None


@rule("DB033", "DROP SCHEMA or DROP DATABASE",
      "Everything in it goes, with no per-table review and no way back from the downgrade. Drop the tables it "
      "holds one by one in reviewed revisions, then the empty schema.",
      scope="any",
      unsafe="""op.execute("DROP SCHEMA legacy")""",
      safe="""
op.drop_table("legacy_orders", schema="legacy")  # dbops: noqa DB003  (reviewed: nothing reads it since 2.4)""")
def _drop_schema(call: OpCall, ctx: Context) -> str | None:
    for node in ctx.nodes:
        kind = _kind(node)
        if kind == "DropdbStmt" or (kind == "DropStmt" and getattr(node.removeType, "name", "") == "OBJECT_SCHEMA"):
            return f"op.execute drops a {'database' if kind == 'DropdbStmt' else 'schema'}"
    return None


@rule("DB034", "domain constraint added without NOT VALID",
      "ALTER DOMAIN ... ADD CONSTRAINT checks every column of that domain in every table while holding locks; "
      "add it NOT VALID, then ALTER DOMAIN ... VALIDATE CONSTRAINT.",
      unsafe="""op.execute("ALTER DOMAIN positive_int ADD CONSTRAINT positive CHECK (VALUE > 0)")""",
      safe="""
op.execute("SET LOCAL lock_timeout = '5s'")
op.execute("ALTER DOMAIN positive_int ADD CONSTRAINT positive CHECK (VALUE > 0) NOT VALID")""")
def _domain_constraint(call: OpCall, ctx: Context) -> str | None:
    for node in ctx.nodes:
        if _kind(node) == "AlterDomainStmt" and node.subtype == "C" \
                and not getattr(node.def_, "skip_validation", False):
            return "op.execute adds a domain constraint that checks every column using the domain"
    return None


def _tokens(sql: str) -> set[str]:
    """The words of a statement, upper-cased (MySQL syntax PostgreSQL's parser cannot read: only whether
    a keyword is there is asked)."""
    word, out = [], set()
    for ch in sql + " ":
        if ch.isalnum() or ch == "_":
            word.append(ch)
        elif word:
            out.add("".join(word).upper())
            word = []
    return out


@rule("DB035", "MySQL/MariaDB ALTER TABLE without ALGORITHM and LOCK",
      "Without ALGORITHM=INSTANT/INPLACE and LOCK=NONE, MySQL and MariaDB silently fall back to copying the table "
      "while blocking writes when the change cannot be done online. Say what you expect, so the ALTER fails fast "
      "instead of copying.",
      scope="mysql",
      unsafe="""
if op.get_bind().dialect.name == "mysql":
    op.execute("ALTER TABLE orders ADD COLUMN note TEXT")""",
      safe="""
if op.get_bind().dialect.name == "mysql":
    op.execute("ALTER TABLE orders ADD COLUMN note TEXT, ALGORITHM=INSTANT")""")
def _mysql_algorithm(call: OpCall, ctx: Context) -> str | None:
    if call.name != "execute" or ctx.raw is None:
        return None
    words = _tokens(ctx.raw)
    if {"ALTER", "TABLE"} <= words and "ALGORITHM" not in words and "LOCK" not in words:
        return "op.execute runs ALTER TABLE on MySQL/MariaDB without ALGORITHM= or LOCK="
    return None
