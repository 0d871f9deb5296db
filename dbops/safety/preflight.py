"""Before upgrade (PostgreSQL): who holds locks on the tables the pending revisions touch?

An ALTER TABLE waits for every lock on its table; while it waits, every new query on that
table queues behind it. A long transaction or an idle-in-transaction session holding even a
read lock therefore turns a 50 ms migration into an outage. This lists them first."""
from __future__ import annotations

import sqlalchemy as sa

# Each unqualified table name resolves the way the migration's own session resolves it: the
# first schema of its search path that has it (for a tenant: the tenant's schema, then public),
# so a lock on tenant_a.orders never warns about tenant_b's migration.
HOLDERS = sa.text(
    "WITH path AS (SELECT s.name, s.pos FROM unnest(COALESCE(CAST(:schemas AS text[]), "
    "CAST(current_schemas(false) AS text[]))) WITH ORDINALITY AS s(name, pos)), "
    "wanted AS (SELECT DISTINCT ON (t.name) c.oid FROM unnest(CAST(:tables AS text[])) AS t(name) "
    "JOIN pg_class c ON c.relname = t.name JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN path p ON p.name = n.nspname ORDER BY t.name, p.pos) "
    "SELECT a.pid, a.application_name, a.usename, a.state, "
    "EXTRACT(EPOCH FROM now() - a.xact_start)::int, c.relname, l.mode "
    "FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.granted AND l.relation IN (SELECT oid FROM wanted) AND a.pid <> pg_backend_pid() "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND a.xact_start IS NOT NULL "
    "AND (a.state LIKE 'idle in transaction%' OR now() - a.xact_start > make_interval(secs => :secs)) "
    "ORDER BY a.xact_start"
)


def lock_holders(conn: sa.Connection, tables: set[str], *, schema: str | None = None,
                 long_seconds: float = 60.0) -> list[str]:
    """Sessions holding locks the pending DDL would queue behind. ``schema``: the tenant schema
    the migration runs in (its search path is that schema, then public)."""
    if conn.dialect.name != "postgresql" or not tables:
        return []
    out = []
    for pid, app, user, state, age, table, mode in conn.execute(
        HOLDERS, {"tables": sorted(tables), "secs": long_seconds,
                  "schemas": [schema, "public"] if schema else None}
    ):
        out.append(
            f"pid {pid} ({app or 'no application_name'}, user {user}) holds {mode} on {table}, {state} in a "
            f"transaction open for {age} s: the pending revisions' DDL on {table} would wait behind it and "
            f"block every query queued after. To end it: SELECT pg_terminate_backend({pid});"
        )
    return out
