"""Reports of data-migrate."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dbops.reports.base import Report


@dataclass(frozen=True)
class DataMigrationRun(Report):
    """One data migration run (or dry run)."""

    name: str
    status: str  # done | paused | dry_run
    rows_done: int
    rows_scanned: int
    batches: int
    last_key: str | None
    duration_s: float
    rows_per_second: float
    resumed_from: str | None = None
    would_change: int | None = None
    estimated_seconds: float | None = None


@dataclass(frozen=True)
class DataMigrateReport(Report):
    command: str
    database: str
    target: str | None
    runs: tuple[DataMigrationRun, ...]

    @property
    def interrupted(self) -> bool:
        return any(r.status == "paused" for r in self.runs)


@dataclass(frozen=True)
class DataMigrationInfo(Report):
    name: str
    table: str
    requires: str | None
    revision_applied: bool
    status: str  # pending | running | paused | failed | done
    rows_done: int
    last_key: str | None
    updated_at: datetime | None
    error: str | None
    source: str | None


@dataclass(frozen=True)
class DataMigrationListReport(Report):
    command: str
    database: str
    target: str | None
    directory: str
    migrations: tuple[DataMigrationInfo, ...]
