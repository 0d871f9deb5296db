"""Report of `dbops squash`: the baseline written (or refused) and the proof behind it."""
from __future__ import annotations

from dataclasses import dataclass

from dbops.reports.base import Report


@dataclass(frozen=True)
class SquashDataRevision(Report):
    """A squashed revision with data steps (rows a schema baseline does not carry)."""

    revision: str
    file: str
    steps: tuple[str, ...]  # "line 12: op.bulk_insert", ...
    kept: bool  # copied into the baseline (--keep-data)


@dataclass(frozen=True)
class SquashDatabase(Report):
    """A configured database and what the squash means for it."""

    database: str
    revisions: tuple[str, ...]  # its version table; empty: base
    status: str  # "continues" (at the baseline's revision or later), "behind", "base", "unknown", "unreachable"
    action: str


@dataclass(frozen=True)
class SquashReport(Report):
    command: str
    mode: str  # "squash", "dry_run" (proved, nothing written), "check" (an existing baseline re-proved)
    dialect: str
    revision: str  # the baseline carries this id
    squashed: tuple[str, ...]  # the revisions replaced, base first
    baseline_file: str | None
    archive: str | None
    objects: dict[str, int]  # rendered statements per object kind
    fingerprint_entries: int  # catalog entries compared
    proven: bool
    differences: tuple[str, ...]  # chain's database vs baseline's database (empty when proven)
    downgrade_proven: bool | None  # the baseline's downgrade() left an empty schema (None: not tried)
    data_revisions: tuple[SquashDataRevision, ...]
    row_differences: tuple[str, ...]  # tables whose row counts differ between the two databases
    databases: tuple[SquashDatabase, ...]
    reparented: tuple[str, ...]  # revisions after the range whose parents changed (none: ids are kept)
    written: bool
    duration_ms: float
