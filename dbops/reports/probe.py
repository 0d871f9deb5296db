"""Reports of the on-call verbs: probe, pool."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dbops.reports.base import Report, utcnow

# probe and pool follow the Nagios plugin convention instead of dbops's exit codes
NAGIOS = {"OK": 0, "WARN": 1, "CRIT": 2, "UNKNOWN": 3}


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

    @property
    def exit_code(self) -> int:
        return NAGIOS[self.status]


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

    @property
    def exit_code(self) -> int:
        return NAGIOS[self.status]
