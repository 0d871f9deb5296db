"""Reports of the verbs that apply revisions: upgrade, downgrade, stamp. (The reports of the verbs
that read or write revision files are in revisions.py: a deploy's upgrade does not load them.)"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dbops.reports.base import Report, utcnow


@dataclass(frozen=True)
class StepTiming(Report):
    """One revision applied (or reverted) by upgrade/downgrade."""

    revision: str
    down_revisions: tuple[str, ...]
    message: str | None
    direction: str  # "upgrade" | "downgrade"
    duration_ms: float
    schema: str | None = None  # the version table's schema, when env.py set one (e.g. a tenant loop)


@dataclass(frozen=True)
class MigrationReport(Report):
    """Result of upgrade, downgrade and stamp."""

    command: str
    database: str
    target: str | None
    revision: str
    from_revisions: tuple[str, ...]
    to_revisions: tuple[str, ...]
    steps: tuple[StepTiming, ...] = ()
    duration_ms: float = 0.0
    sql: str | None = None
    finished_at: datetime = field(default_factory=utcnow)
    warnings: tuple[str, ...] = ()  # pre-flight: lock holders on touched tables, edited revisions
    attempts: int = 1  # > 1 when a lock timeout was retried

    @property
    def changed(self) -> bool:
        return tuple(sorted(self.from_revisions)) != tuple(sorted(self.to_revisions))
