"""Frozen dataclasses returned by every command, one module per family of verbs. ``to_dict()``
is the JSON contract (see :mod:`dbops.reports.base`).

``from dbops.reports import MigrationReport`` works for every report; each family's module is
imported only when one of its names is first used (a frozen dataclass costs ~1 ms to create, and
a no-op ``dbops upgrade`` needs three of the 25)."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dbops.reports.base import Report, human_seconds, utcnow

if TYPE_CHECKING:
    from dbops.reports.audit import (
        AppliedHistoryReport,
        AppliedRow,
        InvalidIndex,
        LintFinding,
        LintReport,
        VerifyItem,
        VerifyReport,
    )
    from dbops.reports.data import DataMigrateReport, DataMigrationInfo, DataMigrationListReport, DataMigrationRun
    from dbops.reports.drift import DriftHistoryItem, DriftItem, DriftLogReport, DriftRecord, DriftReport, DriftRun
    from dbops.reports.migrate import MigrationReport, StepTiming
    from dbops.reports.plan import PlanEffect, PlanReport, PlanRevision, PlanSession, PlanStatement
    from dbops.reports.probe import PoolReport, ProbeFinding, ProbeReport
    from dbops.reports.revisions import (
        CurrentReport,
        HeadsReport,
        HistoryReport,
        InitReport,
        RevisionInfo,
        RevisionReport,
        SquashedGroup,
        StatusReport,
    )
    from dbops.reports.squash import SquashDatabase, SquashDataRevision, SquashProof, SquashReport
    from dbops.reports.targets import FanOutReport, TargetResult

_HOME = {
    "RevisionInfo": "revisions",
    "StepTiming": "migrate",
    "MigrationReport": "migrate",
    "CurrentReport": "revisions",
    "StatusReport": "revisions",
    "HeadsReport": "revisions",
    "HistoryReport": "revisions",
    "RevisionReport": "revisions",
    "InitReport": "revisions",
    "SquashedGroup": "revisions",
    "DriftItem": "drift",
    "DriftReport": "drift",
    "DriftRecord": "drift",
    "DriftRun": "drift",
    "DriftHistoryItem": "drift",
    "DriftLogReport": "drift",
    "DataMigrationRun": "data",
    "DataMigrateReport": "data",
    "DataMigrationInfo": "data",
    "DataMigrationListReport": "data",
    "AppliedRow": "audit",
    "AppliedHistoryReport": "audit",
    "VerifyItem": "audit",
    "VerifyReport": "audit",
    "InvalidIndex": "audit",
    "LintFinding": "audit",
    "LintReport": "audit",
    "TargetResult": "targets",
    "FanOutReport": "targets",
    "ProbeFinding": "probe",
    "PlanSession": "plan",
    "PlanEffect": "plan",
    "PlanStatement": "plan",
    "PlanRevision": "plan",
    "PlanReport": "plan",
    "ProbeReport": "probe",
    "PoolReport": "probe",
    "SquashReport": "squash",
    "SquashDataRevision": "squash",
    "SquashDatabase": "squash",
    "SquashProof": "squash",
}

__all__ = [
    "Report",
    "human_seconds",
    "utcnow",
    "RevisionInfo",
    "StepTiming",
    "MigrationReport",
    "CurrentReport",
    "StatusReport",
    "HeadsReport",
    "HistoryReport",
    "RevisionReport",
    "InitReport",
    "SquashedGroup",
    "DriftItem",
    "DriftReport",
    "DriftRecord",
    "DriftRun",
    "DriftHistoryItem",
    "DriftLogReport",
    "DataMigrationRun",
    "DataMigrateReport",
    "DataMigrationInfo",
    "DataMigrationListReport",
    "AppliedRow",
    "AppliedHistoryReport",
    "VerifyItem",
    "VerifyReport",
    "InvalidIndex",
    "LintFinding",
    "LintReport",
    "TargetResult",
    "FanOutReport",
    "SquashReport",
    "SquashDataRevision",
    "SquashDatabase",
    "SquashProof",
    "ProbeFinding",
    "PlanSession",
    "PlanEffect",
    "PlanStatement",
    "PlanRevision",
    "PlanReport",
    "ProbeReport",
    "PoolReport",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"dbops.reports.{home}"), name)
    globals()[name] = value
    return value
