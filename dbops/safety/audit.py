"""history --applied and verify at the command level (lint is dbops.lint.check)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dbops.bridge.project import database_heads, find_revision, load_scripts
from dbops.config import Config
from dbops.db.engine import run_with_connection
from dbops.db.url import parse_url
from dbops.errors import ChecksumMismatch, InvalidIndexes
from dbops.reports import (
    AppliedHistoryReport,
    AppliedRow,
    InvalidIndex,
    VerifyItem,
    VerifyReport,
)
from dbops.safety import history
from dbops.safety.checksum import checksum_like, file_checksum


def applied_history(config: Config, *, limit: int | None = 200) -> AppliedHistoryReport:
    """The newest ``limit`` audit rows (None: all), and how many there are."""
    rows, total = run_with_connection(parse_url(config.url), lambda c: history.read(c, limit=limit),
                                      connect_timeout=config.connect_timeout)
    return AppliedHistoryReport(command="history", database=config.masked_url, target=config.target,
                                rows=tuple(AppliedRow(**{k: v for k, v in r.items() if k != "id"}) for r in rows),
                                total=total)


def verify(config: Config, *, baseline: bool = False) -> VerifyReport:
    """Applied revisions vs their files. ``baseline``: first record the files as they are now for
    applied revisions that have no audit row (a database migrated before dbops, or by plain
    alembic), under the migration lock; said so in dbops_history (outcome ``baseline``)."""
    script = load_scripts(config)
    if baseline:
        _baseline(config, script)

    def read(conn: sa.Connection) -> tuple[tuple[str, ...], dict[str, str | None], list[InvalidIndex]]:
        return (database_heads(conn, config), history.latest_checksums(conn, schema=config.tenant_schema),
                _invalid_indexes(conn, config))

    current, recorded, invalid = run_with_connection(parse_url(config.url), read,
                                                     connect_timeout=config.connect_timeout)
    items: list[VerifyItem] = []
    applied: list[str] = []
    if current:
        try:
            applied = [s.revision for s in script.iterate_revisions(current, "base")]
        except Exception:
            applied = [r for r in current if find_revision(script, r) is not None]
    from dbops.bridge.squashed import replaced_checksums

    squashed = replaced_checksums(config.script_location)
    for rev in dict.fromkeys([*applied, *(r for r in current if r not in applied)]):
        script_rev = find_revision(script, rev)
        was = recorded.get(rev)
        now = checksum_like(was, script_rev.path) if script_rev is not None else None
        if script_rev is None:
            status = "removed"
        elif rev not in recorded or was is None:
            status = "unrecorded"  # applied before dbops recorded checksums
        elif now != was and squashed.get(rev) == was:
            status = "squashed"  # ran as the old chain's revision; `dbops squash` proved the baseline equal
        else:
            status = "ok" if now == was else "edited"
        items.append(VerifyItem(rev, status, was, now, script_rev.path if script_rev else None))
    report = VerifyReport(command="verify", database=config.masked_url, target=config.target, current=current,
                          items=tuple(items), invalid_indexes=tuple(invalid))
    bad = [f"{i.revision} ({i.status})" for i in items if i.status in ("edited", "removed")]
    if bad:
        raise ChecksumMismatch(
            f"{len(bad)} applied revision(s) no longer match what ran: {', '.join(bad)}. An edited revision means "
            "databases migrated before and after the edit differ; a removed one cannot be downgraded.",
            hint="Restore the file as applied (git log -p on it), and put new changes in a new revision: "
            "dbops revision -m '...'",
            report=report,
        )
    unrecorded = [i.revision for i in items if i.status == "unrecorded"]
    if unrecorded:
        raise ChecksumMismatch(
            f"{len(unrecorded)} applied revision(s) have no audit row, so nothing says the files are what ran: "
            f"{', '.join(unrecorded[:20])}{' ...' if len(unrecorded) > 20 else ''}. Usually the database was "
            "migrated before dbops was adopted, by plain alembic, or stamped; rarely a run was killed between a "
            "revision's commit and its row (dbops writes the row in the revision's own transaction).",
            hint="Check what ran with: dbops history --applied; then record the files as they are now, once: "
            "dbops verify --baseline",
            report=report,
        )
    if invalid:
        names = ", ".join(f"{i.schema}.{i.name}" for i in invalid[:20])
        raise InvalidIndexes(
            f"{len(invalid)} index(es) are INVALID: {names}. A CREATE INDEX CONCURRENTLY failed or was cancelled "
            "(a UNIQUE index over duplicate rows, a lock or statement timeout, a cancelled deploy); PostgreSQL "
            "keeps the index, never uses it for queries, and still updates it on every write.",
            hint="Drop it without blocking writes (each one's fix is in the report), remove the cause, and build "
            "it again: REINDEX INDEX CONCURRENTLY, or re-run the revision's CREATE INDEX CONCURRENTLY.",
            report=report,
        )
    return report


def _invalid_indexes(conn: sa.Connection, config: Config) -> list[InvalidIndex]:
    """PostgreSQL's INVALID indexes in the schema this target migrates (a tenant's own, the version
    table's, else the connection's current schema)."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(sa.text(
        "SELECT n.nspname, t.relname, i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "JOIN pg_namespace n ON n.oid = i.relnamespace "
        "WHERE NOT x.indisvalid AND n.nspname = coalesce(:schema, current_schema()) ORDER BY 1, 3"),
        {"schema": config.tenant_schema or config.version_table_schema}).all()
    quote = conn.dialect.identifier_preparer.quote
    return [InvalidIndex(schema=s, table=t, name=i, definition=d,
                         fix=f"DROP INDEX CONCURRENTLY {quote(s)}.{quote(i)};") for s, t, i, d in rows]


def _baseline(config: Config, script: Any) -> None:
    from dbops.safety.guard import migration_guard
    from dbops.safety.history import now

    with migration_guard(config, lock_wait=config.lock_wait) as guard:
        current = guard.heads(config)
        recorded = history.latest_checksums(guard.conn, schema=config.tenant_schema)
        try:
            applied = [s for s in script.iterate_revisions(current, "base")] if current else []
        except Exception:
            applied = [s for s in (find_revision(script, r) for r in current) if s is not None]
        rows = [{"run_id": "baseline", "command": "baseline", "revision": s.revision, "direction": "upgrade",
                 "from_revisions": None, "to_revisions": ",".join(current), "started_at": now(),
                 "duration_ms": None, "outcome": "baseline", "checksum": file_checksum(s.path)}
                for s in reversed(applied) if recorded.get(s.revision) is None]
        guard.prepare_history()
        guard.record(rows)


