"""Reports of the migration verbs: upgrade, downgrade, stamp, current, heads, history, revision, init."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dbops.reports.base import Report, utcnow


@dataclass(frozen=True)
class RevisionInfo(Report):
    revision: str
    down_revisions: tuple[str, ...]
    message: str | None
    is_head: bool = False
    is_merge: bool = False
    branch_labels: tuple[str, ...] = ()
    path: str | None = None


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


@dataclass(frozen=True)
class CurrentReport(Report):
    command: str
    database: str
    target: str | None
    current: tuple[str, ...]
    heads: tuple[str, ...]
    at_head: bool
    pending: tuple[RevisionInfo, ...] = ()


@dataclass(frozen=True)
class StatusReport(CurrentReport):
    """Where one target stands (`dbops status`): `current` plus its latest dbops_history row."""

    last_run: str | None = None  # e.g. "upgrade success at 2026-11-25 10:21:15"; None: no audit row yet


@dataclass(frozen=True)
class HeadsReport(Report):
    command: str
    heads: tuple[RevisionInfo, ...]

    @property
    def single(self) -> bool:
        return len(self.heads) == 1


@dataclass(frozen=True)
class HistoryReport(Report):
    command: str
    revisions: tuple[RevisionInfo, ...]
    current: tuple[str, ...] | None = None  # None when the database was not asked


@dataclass(frozen=True)
class RevisionReport(Report):
    command: str
    revision: str | None  # None: env.py's process_revision_directives wrote no file (no change)
    message: str | None
    path: str | None
    down_revisions: tuple[str, ...]
    autogenerate: bool
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class InitReport(Report):
    command: str
    directory: str
    created: tuple[str, ...]
    next_steps: tuple[str, ...] = ()
    found: tuple[str, ...] = ()  # an existing project: what dbops read there and will do with it
    existing: bool = False  # True: an existing Alembic project (only dbops.toml was written)
