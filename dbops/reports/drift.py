"""Reports of check-drift."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dbops.reports.base import Report, utcnow


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
