"""Frozen dataclasses returned by every command. ``to_dict()`` is the JSON contract:
one top-level object, snake_case keys, ISO-8601 UTC times, masked URLs."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, Path):
        return str(value)
    return value


class Report:
    """Mixin: ``to_dict`` for the JSON renderer."""

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)  # type: ignore[no-any-return]


def human_seconds(seconds: float | None) -> str:
    """A duration for people: 42s, 14m, 2.5h (? when unknown)."""
    if seconds is None:
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


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
    duration_ms: float = 0.0
    finished_at: datetime = field(default_factory=utcnow)


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
    status: str  # ok | edited | removed | unrecorded
    recorded_checksum: str | None
    current_checksum: str | None
    path: str | None


@dataclass(frozen=True)
class VerifyReport(Report):
    command: str
    database: str
    target: str | None
    current: tuple[str, ...]
    items: tuple[VerifyItem, ...]

    @property
    def ok(self) -> bool:
        return all(i.status == "ok" for i in self.items)


@dataclass(frozen=True)
class LintFinding(Report):
    rule: str
    title: str
    revision: str
    path: str
    line: int
    message: str
    rationale: str


@dataclass(frozen=True)
class LintReport(Report):
    command: str
    revisions: tuple[str, ...]
    findings: tuple[LintFinding, ...]
    rules: tuple[str, ...]
    clean: bool = True


@dataclass(frozen=True)
class TargetResult(Report):
    target: str
    outcome: str  # ok | failed | check_failed | skipped
    from_revisions: tuple[str, ...] | None = None
    to_revisions: tuple[str, ...] | None = None
    duration_ms: float = 0.0
    error: str | None = None
    summary: str | None = None  # one line: what happened on this target
    sql: str | None = None  # upgrade --sql: this target's preview (nothing was applied)
    items: tuple[Any, ...] | None = None  # check-drift: this target's DriftItems (shared ones: FanOutReport)


@dataclass(frozen=True)
class FanOutReport(Report):
    command: str
    group: str | None
    parallel: int
    shard: str | None
    targets: tuple[TargetResult, ...]
    duration_ms: float = 0.0
    # check-drift: items every target reported alike in a named schema (a schema the tenants share):
    # said once here, not once per tenant
    shared_items: tuple[Any, ...] = ()

    def count(self, outcome: str) -> int:
        return sum(1 for t in self.targets if t.outcome == outcome)


@dataclass(frozen=True)
class ProbeFinding(Report):
    level: str  # OK | WARN | CRIT | UNKNOWN
    code: str
    message: str


@dataclass(frozen=True)
class ProbeReport(Report):
    command: str
    database: str
    status: str  # Nagios: OK | WARN | CRIT | UNKNOWN
    verdict: str
    server: dict[str, Any]
    connections: dict[str, Any]
    blocking: tuple[dict[str, Any], ...]
    idle_in_transaction: tuple[dict[str, Any], ...]
    long_queries: tuple[dict[str, Any], ...]
    wait_events: dict[str, int]
    settings_flags: tuple[str, ...]
    replication: dict[str, Any]
    findings: tuple[ProbeFinding, ...]
    rates: dict[str, float] | None = None
    thresholds: dict[str, float] | None = None
    pgbouncer: dict[str, Any] | None = None
    finished_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class PoolReport(Report):
    command: str
    url: str
    status: str  # OK | WARN (saturated but moving, or timeouts) | CRIT (stuck) | UNKNOWN
    verdict: str
    window_s: float
    pools: tuple[dict[str, Any], ...]
    held: tuple[str, ...]
    finished_at: datetime = field(default_factory=utcnow)
