"""One named SQL constant per signal, plain strings with psycopg ``%(name)s`` parameters (the
probe talks to psycopg directly: importing SQLAlchemy would cost half its 0.5 s budget).
Every query runs under the probe session's short statement_timeout; none shows other
sessions' SQL text unless asked (--show-queries)."""
from __future__ import annotations

SESSION_SETUP = "SELECT set_config('statement_timeout', %(ms)s, false)"
SERVER = "SELECT current_setting('server_version'), pg_is_in_recovery()"
PRIVILEGED = (
    "SELECT r.rolsuper OR pg_has_role(current_user, 'pg_monitor', 'member') FROM pg_roles r "
    "WHERE r.rolname = current_user"
)
# reset_val: the server/database default, not this probe session's own SET
SETTINGS = (
    "SELECT name, reset_val FROM pg_settings WHERE name IN ('max_connections', "
    "'superuser_reserved_connections', 'reserved_connections', 'idle_in_transaction_session_timeout', "
    "'statement_timeout', 'lock_timeout')"
)
# client backends only; pg_blocking_pids also sees soft blocks behind a queued ALTER TABLE
ACTIVITY = (
    "SELECT a.pid, a.usename, a.application_name, host(a.client_addr), a.state, a.wait_event_type, "
    "a.wait_event, EXTRACT(EPOCH FROM now() - a.xact_start)::float8, "
    "EXTRACT(EPOCH FROM now() - a.query_start)::float8, EXTRACT(EPOCH FROM now() - a.state_change)::float8, "
    "pg_blocking_pids(a.pid), CASE WHEN %(show_queries)s THEN left(a.query, 500) END "
    "FROM pg_stat_activity a WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"
)
LOCK_WAITS = (
    "SELECT l.pid, l.mode, l.locktype, CASE WHEN l.relation IS NOT NULL THEN l.relation::regclass::text END "
    "FROM pg_locks l WHERE NOT l.granted"
)
XACT_COUNTERS = "SELECT sum(xact_commit)::bigint, sum(xact_rollback)::bigint FROM pg_stat_database"
REPLICAS = (
    "SELECT application_name, host(client_addr), state, EXTRACT(EPOCH FROM replay_lag)::float8 "
    "FROM pg_stat_replication"
)
# indexes a failed or cancelled CREATE INDEX CONCURRENTLY left INVALID in this database (not used by
# queries, still updated by every write)
INVALID_INDEXES = (
    "SELECT n.nspname, t.relname, i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
    "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = i.relnamespace "
    "WHERE NOT x.indisvalid ORDER BY 1, 3 LIMIT 50"
)
REPLAY_DELAY = "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8"
