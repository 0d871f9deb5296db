"""Reports of the verbs that read the chain or write revision files: current, status, heads,
history, revision, init."""
from __future__ import annotations

from dataclasses import dataclass

from dbops.reports.base import Report


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
class SquashedGroup(Report):
    """Revisions a `dbops squash` replaced with a baseline (read from the archive's squash.json)."""

    baseline: str
    archive: str
    squashed_at: str
    revisions: tuple[RevisionInfo, ...]  # path: the archived file (None when --delete removed it)


@dataclass(frozen=True)
class HistoryReport(Report):
    command: str
    revisions: tuple[RevisionInfo, ...]
    current: tuple[str, ...] | None = None  # None when the database was not asked
    squashed: tuple[SquashedGroup, ...] = ()


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
