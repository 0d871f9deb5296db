"""history --applied, verify and lint at the command level."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dbops.config import Config
from dbops.db.engine import run_with_connection
from dbops.db.url import parse_url
from dbops.errors import CheckFailed, RevisionError
from dbops.project import database_heads, load_scripts
from dbops.reports import (
    AppliedHistoryReport,
    AppliedRow,
    LintFinding,
    LintReport,
    VerifyItem,
    VerifyReport,
)
from dbops.safety import history
from dbops.safety.checksum import checksum_like, file_checksum


class ChecksumMismatch(CheckFailed):
    kind = "checksum_mismatch"


class LintFailed(CheckFailed):
    kind = "lint_findings"


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

    def read(conn: sa.Connection) -> tuple[tuple[str, ...], dict[str, str | None]]:
        return database_heads(conn, config), history.latest_checksums(conn, schema=config.tenant_schema)

    current, recorded = run_with_connection(parse_url(config.url), read, connect_timeout=config.connect_timeout)
    items: list[VerifyItem] = []
    applied: list[str] = []
    if current:
        try:
            applied = [s.revision for s in script.iterate_revisions(current, "base")]
        except Exception:
            applied = [r for r in current if _exists(script, r)]
    for rev in dict.fromkeys([*applied, *(r for r in current if r not in applied)]):
        script_rev = _get(script, rev)
        was = recorded.get(rev)
        now = checksum_like(was, script_rev.path) if script_rev is not None else None
        if script_rev is None:
            status = "removed"
        elif rev not in recorded or was is None:
            status = "unrecorded"  # applied before dbops recorded checksums
        else:
            status = "ok" if now == was else "edited"
        items.append(VerifyItem(rev, status, was, now, script_rev.path if script_rev else None))
    report = VerifyReport(command="verify", database=config.masked_url, target=config.target, current=current,
                          items=tuple(items))
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
    return report


def _baseline(config: Config, script: Any) -> None:
    from dbops.safety.guard import migration_guard
    from dbops.safety.history import now

    with migration_guard(config, lock_wait=config.lock_wait) as guard:
        current = guard.heads(config)
        recorded = history.latest_checksums(guard.conn, schema=config.tenant_schema)
        try:
            applied = [s for s in script.iterate_revisions(current, "base")] if current else []
        except Exception:
            applied = [s for s in (_get(script, r) for r in current) if s is not None]
        rows = [{"run_id": "baseline", "command": "baseline", "revision": s.revision, "direction": "upgrade",
                 "from_revisions": None, "to_revisions": ",".join(current), "started_at": now(),
                 "duration_ms": None, "outcome": "baseline", "checksum": file_checksum(s.path)}
                for s in reversed(applied) if recorded.get(s.revision) is None]
        guard.prepare_history()
        guard.record(rows)


def _get(script: Any, rev: str) -> Any:
    try:
        return script.get_revision(rev)
    except Exception:
        return None


def _exists(script: Any, rev: str) -> bool:
    return _get(script, rev) is not None


def lint(config: Config, rev_range: str | None = None) -> LintReport:
    from dbops.safety.lint import RULES, lint_source

    script = load_scripts(config)
    base, _, head = (rev_range or "base:heads").partition(":")
    if not head:  # a single revision
        base, head = None, base  # type: ignore[assignment]
    try:
        if base is None:
            revisions = [script.get_revision(head)]
        else:
            revisions = list(script.walk_revisions(base=base or "base", head=head or "heads"))
    except Exception as exc:
        raise RevisionError(f"Cannot resolve revision range {rev_range!r}: {exc}.",
                            hint="Use REV, BASE:HEAD (e.g. 0002:heads), or nothing for every revision.") from exc
    findings = []
    for s in reversed(revisions):
        source = Path(s.path).read_text(encoding="utf-8")
        for f in lint_source(source):
            findings.append(LintFinding(f.rule, f.title, s.revision, s.path, f.line, f.message, f.rationale))
    report = LintReport(command="lint", revisions=tuple(s.revision for s in reversed(revisions)),
                        findings=tuple(findings), rules=tuple(RULES), clean=not findings)
    if findings:
        raise LintFailed(
            f"{len(findings)} lint finding(s) in {len({f.revision for f in findings})} revision(s). Each names an "
            "operation that locks or breaks a live database; the rationale says what to do instead.",
            hint="Fix them, or silence a reviewed one on its line: # dbops: noqa DB002",
            report=report,
        )
    return report
