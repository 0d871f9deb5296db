"""Reports of fan-out runs (--all, --group)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbops.reports.base import Report


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
    serves: tuple[str, ...] = ()  # probe: the other targets on the same database, answered by this one probe
    warnings: tuple[str, ...] = ()  # what the run said besides its result (e.g. the version table disagrees)


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
