"""Report of `dbops plan`: what each pending revision's statements will do to the live database."""
from __future__ import annotations

from dataclasses import dataclass

from dbops.reports.base import Report


@dataclass(frozen=True)
class PlanSession(Report):
    """Another session holding (or waiting for) a lock the statement's lock conflicts with."""

    pid: int
    application: str
    user: str
    state: str
    transaction_seconds: float | None
    mode: str  # the lock it holds or waits for, e.g. "ACCESS SHARE"
    granted: bool
    query: str


@dataclass(frozen=True)
class PlanEffect(Report):
    """One statement's effect on one relation."""

    relation: str
    lock: str  # "ACCESS EXCLUSIVE", ...
    blocks: str  # what the lock stops while held or queued: "everything, reads included"
    what: str  # the operation: "ADD COLUMN x (volatile default: ...)"
    rewrite: bool
    scan: bool
    index_build: bool
    new: bool  # created by this plan: nobody else can be using it
    certain: bool  # False: a catalog answer was missing and the flags are the conservative guess
    rows: int | None  # live row estimate (pg_class.reltuples; counted when never analysed)
    bytes: int | None  # pg_total_relation_size
    estimated_seconds: float  # the rewrite / scan / index build at this server's measured throughput
    sessions: tuple[PlanSession, ...] = ()


@dataclass(frozen=True)
class PlanStatement(Report):
    sql: str
    kind: str  # PostgreSQL's statement node: AlterTableStmt, IndexStmt, ...
    concurrent: bool  # runs outside a transaction (CREATE INDEX CONCURRENTLY, ...)
    note: str
    effects: tuple[PlanEffect, ...]
    estimated_seconds: float


@dataclass(frozen=True)
class PlanRevision(Report):
    revision: str
    down_revisions: tuple[str, ...]
    message: str | None
    statements: tuple[PlanStatement, ...]
    estimated_seconds: float
    # why its SQL could not be rendered offline (a data step that reads rows): not planned, and said so
    unplanned: str | None = None


@dataclass(frozen=True)
class PlanReport(Report):
    command: str
    database: str
    target: str | None
    from_revisions: tuple[str, ...]
    to_revision: str
    revisions: tuple[PlanRevision, ...]
    throughput: dict[str, float]  # bytes/s: scan, rewrite, index_build; "measured": 1.0 or 0.0
    estimated_seconds: float
    violations: tuple[str, ...] = ()  # --fail-on thresholds crossed (exit 3)
