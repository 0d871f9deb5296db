"""Reports of the audit verbs: history --applied, verify, lint."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dbops.reports.base import Report


@dataclass(frozen=True)
class AppliedRow(Report):
    run_id: str
    command: str
    target: str | None
    revision: str | None
    direction: str | None
    from_revisions: str | None
    to_revisions: str | None
    started_at: datetime
    duration_ms: float | None
    outcome: str
    error: str | None
    statement: str | None
    checksum: str | None
    db_user: str | None
    os_user: str | None
    host: str | None
    dbops_version: str | None


@dataclass(frozen=True)
class AppliedHistoryReport(Report):
    command: str
    database: str
    target: str | None
    rows: tuple[AppliedRow, ...]
    total: int = 0  # rows in dbops_history; more than len(rows) when --limit cut the list


@dataclass(frozen=True)
class VerifyItem(Report):
    revision: str
    status: str  # ok | edited | removed | unrecorded | squashed (ran as the old chain's; squash proved it)
    recorded_checksum: str | None
    current_checksum: str | None
    path: str | None


@dataclass(frozen=True)
class InvalidIndex(Report):
    """An index PostgreSQL left INVALID: a CREATE INDEX CONCURRENTLY that failed or was cancelled. It is
    not used by queries but is still updated by every write."""

    schema: str
    table: str
    name: str
    definition: str
    fix: str


@dataclass(frozen=True)
class VerifyReport(Report):
    command: str
    database: str
    target: str | None
    current: tuple[str, ...]
    items: tuple[VerifyItem, ...]
    invalid_indexes: tuple[InvalidIndex, ...] = ()  # PostgreSQL

    @property
    def ok(self) -> bool:
        return all(i.status in ("ok", "squashed") for i in self.items) and not self.invalid_indexes


@dataclass(frozen=True)
class LintFinding(Report):
    rule: str
    title: str
    revision: str
    path: str
    line: int
    message: str
    rationale: str
    severity: str = "error"  # warning: reported, does not fail lint


@dataclass(frozen=True)
class LintReport(Report):
    command: str
    revisions: tuple[str, ...]
    findings: tuple[LintFinding, ...]
    rules: tuple[str, ...]
    clean: bool = True
    skipped: tuple[str, ...] = ()  # files given that are not revision files (no module-level `revision = "..."`)
    baselined: int = 0  # findings left out because the baseline holds them (or recorded by --write-baseline)
