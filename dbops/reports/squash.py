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
class SquashProof(Report):
    """The proof on one kind of database: the chain and the baseline replayed there, compared."""

    dialect: str
    server: str  # where the scratch databases were created (masked), or "temporary SQLite files"
    objects: dict[str, int]  # rendered statements per object kind (empty for --check)
    fingerprint_entries: int  # catalog entries compared
    proven: bool
    differences: tuple[str, ...]  # chain's database vs baseline's database (empty when proven)
    downgrade_proven: bool  # the baseline's downgrade() left the schema as it found it
    row_differences: tuple[str, ...]  # tables whose row counts differ between the two databases
    # CHECKs spelled differently only because the server's deparser is not idempotent (x IN (...) on a
    # varchar column), proved the same expression by giving the chain's definition to the server again
    equivalent: tuple[str, ...] = ()


@dataclass(frozen=True)
class SquashReport(Report):
    command: str
    mode: str  # "squash", "dry_run" (proved, nothing written), "check" (an existing baseline re-proved)
    revision: str  # the baseline carries this id
    squashed: tuple[str, ...]  # the revisions replaced, base first
    baseline_file: str | None
    archive: str | None
    proofs: tuple[SquashProof, ...]  # one per kind of database (the configured one, then --also-on)
    proven: bool  # every proof holds
    data_revisions: tuple[SquashDataRevision, ...]
    databases: tuple[SquashDatabase, ...]
    written: bool
    duration_ms: float
    notes: tuple[str, ...] = ()  # what the user should do besides committing the files
