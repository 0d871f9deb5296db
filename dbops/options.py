"""Typed options of the API verbs (dbops.command): what a caller may override. ``None`` means "the
project's configuration decides" (lock_timeout, lock_wait, ...). The lowest layer: imports nothing of
dbops, so the CLI, fan-out workers and library users build them alike."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SafetyOptions:
    """How cautiously upgrade, downgrade and stamp apply (each None: the config's value)."""

    lock_wait: float | None = None  # seconds to wait for another runner's migration lock
    lock_timeout: float | None = None  # seconds per statement to wait for a table lock; 0 = none
    statement_timeout: float | None = None  # seconds per statement; 0 = none
    retries: int | None = None  # retries after a lock timeout, with backoff
    strict: bool | None = None  # refuse when the pre-flight scan finds lock holders or edited revisions


@dataclass(frozen=True)
class BatchPolicy:
    """How data-migrate walks a table (each None: adaptive or the config's value)."""

    batch_size: int | None = None  # fixed rows per batch; None adapts to batch_seconds
    batch_seconds: float | None = None  # target seconds per batch (default 0.5)
    max_rows_per_second: float | None = None  # throttle
    pause: float | None = None  # seconds to sleep between batches
    lock_timeout: float | None = None  # seconds each batch waits for a row/table lock (default: config's)
