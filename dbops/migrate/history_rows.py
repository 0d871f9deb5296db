"""The dbops_history rows a migration run writes: one per revision step (with its own start time,
duration and checksum) and one for a failure (the error and the failing statement, redacted)."""
from __future__ import annotations

from typing import Any

from dbops.errors import MigrationFailed
from dbops.migrate.environment import Run


def now() -> Any:
    from dbops.safety.history import now

    return now()


def row(run_id: str, command: str, revision: str | None, direction: str | None, before: tuple[str, ...],
         after: tuple[str, ...], started: Any, duration_ms: float | None, outcome: str, *,
         checksum: str | None = None, error: str | None = None, statement: str | None = None) -> dict[str, Any]:
    return {"run_id": run_id, "command": command, "revision": revision, "direction": direction,
            "from_revisions": ",".join(before), "to_revisions": ",".join(after), "started_at": started,
            "duration_ms": duration_ms, "outcome": outcome, "checksum": checksum, "error": error,
            "statement": statement}


def step_row(run_id: str, command: str, path: str, step: Any, started_at: Any) -> dict[str, Any]:
    """The audit row of one revision step (``path``: its file), with its own start time and duration."""
    from dbops.safety.checksum import file_checksum

    up = step.direction == "upgrade"
    return row(run_id, command, step.revision, step.direction,
                step.down_revisions if up else (step.revision,), (step.revision,) if up else step.down_revisions,
                started_at, step.duration_ms, "success",
                checksum=file_checksum(path))


def failed_row(run_id: str, command: str, run: Run, exc: MigrationFailed, started: Any) -> dict[str, Any]:
    from dbops.redact import redact
    from dbops.safety.checksum import file_checksum

    failing = run.failing_revision
    statement = getattr(exc, "statement", None)
    return row(run_id, command, failing.revision if failing else None, command if command != "stamp" else None,
                run.after or run.before, (), started, None, "failed",
                checksum=file_checksum(failing.path) if failing else None, error=redact(exc.message)[:2000],
                statement=redact(statement)[:2000] if statement else None)
