"""Reports of check-drift."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dbops.reports.base import Report, utcnow

# the verdicts of a drift item; pending_migration is the one that never fails the check
VERDICTS = ("missing_migration", "out_of_band", "drift", "pending_migration")


@dataclass(frozen=True)
class DriftItem(Report):
    verdict: str  # missing_migration | out_of_band | pending_migration | drift
    kind: str  # table, column, type, nullable, default, comment, primary_key, unique, foreign_key, index, ...
    change: str  # missing | extra | changed
    schema: str | None
    table: str | None
    name: str
    detail: str
    expected: Any
    actual: Any
    file: str | None = None
    line: int | None = None
    severity: str = "error"  # "warning": reported, never fails the gate (a length on one side, a PK's order)

    @property
    def object_name(self) -> str:
        """schema.table.name (the name once when it is the table's)."""
        parts = [p for p in (self.schema, self.table) if p]
        if self.name and self.name != self.table:
            parts.append(self.name)
        return ".".join(parts) or self.name


@dataclass(frozen=True)
class DriftRecord(Report):
    """What ``check-drift --record`` stored, compared with the previous recorded run."""

    run_id: int
    table: str  # where the run was stored, e.g. dbops_drift_runs or tenant_a.dbops_drift_runs
    fingerprint: str  # sha256 over the differences' identities and details
    changed: bool  # the set of differences differs from the previous recorded run (always True for the first)
    appeared: tuple[str, ...]  # keys of differences absent from the previous run
    resolved: tuple[str, ...]  # keys of the previous run's differences that are gone
    previous_run_at: datetime | None
    notified: bool = False  # --notify posted the change to the webhook (and it answered 2xx)


@dataclass(frozen=True)
class DriftRun(Report):
    run_id: int
    run_at: datetime
    against: str
    clean: bool
    counts: dict[str, int]  # verdict -> differences (minor ones included)
    fingerprint: str


@dataclass(frozen=True)
class DriftHistoryItem(Report):
    """One difference across the recorded runs: when it first appeared, when it was last seen, when it went away."""

    key: str
    verdict: str
    kind: str
    object: str
    detail: str
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None  # the first run after last_seen without it; None while it is still there
    runs: int  # in how many recorded runs it was present


@dataclass(frozen=True)
class DriftLogReport(Report):
    command: str
    database: str | None
    target: str | None
    runs: tuple[DriftRun, ...]  # newest first
    differences: tuple[DriftHistoryItem, ...]  # open ones first, then by first_seen
    total_runs: int


@dataclass(frozen=True)
class DriftReport(Report):
    command: str
    database: str | None
    target: str | None
    against: str
    dialect: str
    clean: bool
    live_revisions: tuple[str, ...] | None
    head_revisions: tuple[str, ...]
    scratch_database: str | None
    items: tuple[DriftItem, ...]
    ignored: tuple[DriftItem, ...] = ()
    upgrade_code: str | None = None
    replay_cache: str | None = None  # how the replay used the template cache (drift/cache.py); None: not used
    recorded: DriftRecord | None = None  # --record: what was stored and how it compares with the last run
    duration_ms: float = 0.0
    finished_at: datetime = field(default_factory=utcnow)
