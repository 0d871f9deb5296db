"""The DbopsError tree. Each class carries its exit code; messages are one paragraph:
what happened, what it usually means, and the command to run next."""
from __future__ import annotations

from typing import Any, Self

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CHECK_FAILED = 3
EXIT_INTERRUPTED = 130

MULTIPLE_HEADS_HINT = (
    "Run: dbops heads to see them; merge them with: dbops merge -m 'merge heads', "
    "or apply every head with: dbops upgrade heads"
)


class DbopsError(Exception):
    """An operational failure: connection, config, migration error (exit 1)."""

    exit_code = EXIT_FAILURE
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None, report: Any = None,
                 details: dict[str, Any] | None = None, run: Any = None, statement: str | None = None,
                 retryable: bool = False, warnings: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.report = report
        # structured facts for --format json (e.g. the revisions a failed run left applied), complete where
        # the message summarises them
        self.details: dict[str, Any] = dict(details or {})
        # facts a migration run gives the error on its way out
        self.run = run  # the runner's Run: what was applied before the failure
        self.statement = statement  # the statement that failed, when one did
        self.retryable = retryable  # a lock timeout: worth another attempt
        self.warnings = warnings  # pre-flight warnings, shown with the error

    def evolve(self, **changes: Any) -> Self:
        """A new error of the same kind with some of its facts changed (message, hint, report, details,
        run, statement, retryable, warnings): an error is a value, nothing patches one once it exists.
        Raise it ``from`` the original's cause."""
        fields: dict[str, Any] = {"hint": self.hint, "report": self.report, "details": self.details, "run": self.run,
                                  "statement": self.statement, "retryable": self.retryable,
                                  "warnings": self.warnings}
        fields.update(changes)
        return type(self)(fields.pop("message", self.message), **fields)

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "type": type(self).__name__, "message": self.message, "hint": self.hint,
                **self.details}


class ConfigError(DbopsError):
    """Bad or missing configuration: URL, metadata, alembic.ini, script_location."""

    kind = "config_error"


class ConnectionFailed(DbopsError):
    """The database could not be reached or refused the login."""

    kind = "connection_failed"


class RevisionError(DbopsError):
    """Unknown revision, several heads where one is needed, broken revision file."""

    kind = "revision_error"


class MigrationFailed(DbopsError):
    """A revision raised while being applied."""

    kind = "migration_failed"


class ScaffoldError(DbopsError):
    """``dbops init`` would overwrite something."""

    kind = "scaffold_error"


class CheckFailed(DbopsError):
    """A check ran and found a problem (exit 3)."""

    exit_code = EXIT_CHECK_FAILED
    kind = "check_failed"


class NotAtHead(CheckFailed):
    """current --check: the database is not at the head revision (exit 3)."""

    kind = "not_at_head"


class MultipleHeads(CheckFailed):
    """heads --check or current --check: the scripts have several heads (exit 3)."""

    kind = "multiple_heads"


class Interrupted(DbopsError):
    """Ctrl-C or SIGTERM: the running revision's transaction was rolled back (exit 130)."""

    exit_code = EXIT_INTERRUPTED
    kind = "interrupted"


class DriftDetected(CheckFailed):
    """check-drift found differences that fail the check."""

    kind = "drift_detected"


class NotificationFailed(DbopsError):
    """check-drift --notify: the webhook could not be reached or did not accept the notification."""

    kind = "notification_failed"


class WrongDatabase(DbopsError):
    """The project's env.py connected to another database than the one dbops was given (nothing ran)."""

    kind = "wrong_database"


class VersionsOverridden(ConfigError):
    """The project's env.py pointed Alembic at other revision directories than dbops read (nothing ran)."""

    kind = "versions_overridden"


class ChecksumMismatch(CheckFailed):
    """verify: an applied revision was edited or removed, or has no audit row (exit 3)."""

    kind = "checksum_mismatch"


class SquashUnproven(CheckFailed):
    """squash: the baseline's database differs from the chain's (nothing written; exit 3)."""

    kind = "squash_unproven"


class LintFailed(CheckFailed):
    """lint found operations that lock or break a live database (exit 3)."""

    kind = "lint_findings"


class InvalidIndexes(CheckFailed):
    """verify: PostgreSQL holds indexes left INVALID by a failed CREATE INDEX CONCURRENTLY (exit 3)."""

    kind = "invalid_index"


class PreflightFailed(CheckFailed):
    """upgrade --strict: the pre-flight scan found a risk, so nothing ran (exit 3)."""

    kind = "preflight_failed"


class PlanOverThreshold(CheckFailed):
    """plan --fail-on: a pending statement crosses a threshold (exit 3); nothing ran."""

    kind = "plan_over_threshold"


class ScratchFailed(DbopsError):
    """check-drift could not create, replay into or drop its scratch database."""

    kind = "scratch_failed"


class DataMigrationError(DbopsError):
    """A data migration failed; its checkpoint keeps what was committed."""

    kind = "data_migration_failed"


class SnapshotUnavailable(DbopsError):
    """dbops pool found no live snapshot of the app's pools."""

    kind = "snapshot_unavailable"


class LockHeld(DbopsError):
    """Another session holds the migration lock (after --lock-wait)."""

    kind = "lock_held"


class LeaseHeld(DbopsError):
    """Another runner holds the lease lock (dbops_lock) and renews it."""

    kind = "lock_held"


class LeaseLost(DbopsError):
    """This runner's lease expired or was taken over while it worked."""

    kind = "lease_lost"
