"""The batch loop: keyset batches, a checkpoint in each batch's transaction, adaptive batch
size, throttling, lock-timeout retries, a clean stop between batches."""
from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError

from dbops.data import checkpoint
from dbops.data.declaration import DataMigration
from dbops.data.sql import Key, KeysetTable, dump_key, load_key
from dbops.db.lease import migration_or_lease_lock
from dbops.db.lock import named_lock
from dbops.errors import DataMigrationError, DbopsError
from dbops.faults import is_lock_timeout
from dbops.redact import redact
from dbops.reports import DataMigrationRun

MIN_BATCH, MAX_BATCH, FIRST_BATCH = 100, 200_000, 1_000
MAX_BATCH_PYTHON = 50_000  # the function path holds a batch of rows in memory (~20 MB of dicts)


@dataclass(frozen=True)
class Progress:
    """What the runner reports after each batch (the CLI draws it; the library never prints)."""

    name: str
    rows_done: int
    rows_scanned: int
    total: int | None
    batches: int
    batch_size: int
    rows_per_second: float


RunResult = DataMigrationRun


def _column_types(conn: sa.Connection, m: DataMigration) -> dict[str, Any]:
    insp = sa.inspect(conn)
    if not insp.has_table(m.table, schema=m.schema):
        raise DataMigrationError(
            f"Data migration {m.name!r}: table {m.table!r} does not exist. Usually the schema revision that "
            "creates it is not applied yet, or the name is misspelt.",
            hint="Check with: dbops current; then dbops upgrade",
        )
    columns = {c["name"]: c["type"] for c in insp.get_columns(m.table, schema=m.schema)}
    wanted = [*m.key_columns, *(m.set or {}), *m.columns]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise DataMigrationError(
            f"Data migration {m.name!r}: table {m.table!r} has no column(s) {', '.join(missing)} "
            f"(it has {', '.join(columns)}).",
            hint="Fix the key/set/columns of the migration, or apply the revision that adds them: dbops upgrade",
        )
    key = set(m.key_columns)
    pk = set(insp.get_pk_constraint(m.table, schema=m.schema).get("constrained_columns") or [])
    uniques: list[set[Any]] = [set(u["column_names"]) for u in insp.get_unique_constraints(m.table, schema=m.schema)]
    uniques += [set(i["column_names"]) for i in insp.get_indexes(m.table, schema=m.schema) if i.get("unique")]
    if key != pk and key not in uniques:
        raise DataMigrationError(
            f"Data migration {m.name!r}: key ({', '.join(m.key_columns)}) of {m.table!r} is not the primary key "
            "or a unique index. Keyset batching needs a unique, indexed key: otherwise rows sharing a key "
            "value could be skipped or done twice, and each batch would scan the table.",
            hint=f"Use the primary key ({', '.join(sorted(pk)) or 'none'}) or add a unique index first.",
        )
    return columns


def run_data_migration(
    conn: sa.Connection,
    m: DataMigration,
    *,
    batch_size: int | None = None,
    batch_seconds: float = 0.5,
    max_rows_per_second: float | None = None,
    pause: float = 0.0,
    dry_run: bool = False,
    reset: bool = False,
    lock_timeout: float = 5.0,
    retries: int = 5,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    lock_mode: str = "auto",
    lease_seconds: float = 30.0,
) -> RunResult:
    """Run ``m`` on a sync Connection (``op.get_bind()`` in a revision, or one from an engine).

    With no transaction open on ``conn``, each batch commits with its checkpoint. Inside a
    transaction (an Alembic revision) the batches share it; use
    ``with op.get_context().autocommit_block():`` around the call for per-batch commits.
    """
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        # e.g. inside Alembic's autocommit_block(): a batch and its checkpoint must still commit
        # together, so run on a connection of our own with real per-batch transactions.
        with conn.engine.connect() as own:
            return run_data_migration(
                own, m, batch_size=batch_size, batch_seconds=batch_seconds, max_rows_per_second=max_rows_per_second,
                pause=pause, dry_run=dry_run, reset=reset, lock_timeout=lock_timeout, retries=retries,
                progress=progress, should_stop=should_stop, clock=clock, sleep=sleep, lock_mode=lock_mode,
                lease_seconds=lease_seconds)
    inline = conn.in_transaction()
    started = clock()
    types = _column_types(conn, m)
    if not inline and conn.in_transaction():
        conn.commit()  # the reflection autobegan one; batches manage their own
    target = KeysetTable(m, types)
    _validate(conn, target, inline)
    key_types = target.key_types

    if dry_run:
        return _dry_run(conn, m, target, batch_size or FIRST_BATCH, inline, clock, started)

    if not inline:
        with conn.begin():
            checkpoint.ensure(conn)
    else:
        checkpoint.ensure(conn)
    hint = ("Wait for it to finish (its progress: dbops data-migrate --list), or stop that process; a killed "
            "holder releases the lock with its session (behind a pooler: when its lease expires).")
    # inside a revision: a transaction-scoped lock (safe behind poolers); alone: a session lock or a lease.
    # One per schema: the tenants of a schema group each run the same migration on their own rows.
    schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(None) or m.schema
    name = f"dbops-data:{schema + '.' if schema else ''}{m.name}"
    held = named_lock(conn, name, transaction_scoped=True, what=f"data migration {m.name!r}",
                      hint=hint) if inline else migration_or_lease_lock(
        conn, name, lock_mode=lock_mode, ttl=lease_seconds, what=f"data migration {m.name!r}", hint=hint)
    with held:
        if not inline and conn.in_transaction():
            conn.commit()
        return _loop(conn, m, target, key_types, inline=inline, reset=reset, batch_size=batch_size,
                      batch_seconds=batch_seconds, max_rps=max_rows_per_second, pause=pause,
                      lock_timeout=lock_timeout, retries=retries, progress=progress, should_stop=should_stop,
                      clock=clock, sleep=sleep, started=started)


def _validate(conn: sa.Connection, target: KeysetTable, inline: bool) -> None:
    try:
        if inline:
            with conn.begin_nested():
                target.validate(conn)
        else:
            with conn.begin():
                target.validate(conn)
    except DBAPIError as exc:
        raise DataMigrationError(
            f"Data migration {target.m.name!r}: its SQL does not run on {target.m.table!r}: "
            f"{redact(str(exc.orig).strip().splitlines()[0])}. Nothing was written.",
            hint="Fix the set= expressions or where= filter (they run as SQL on the table).",
        ) from exc


def _dry_run(conn: sa.Connection, m: DataMigration, target: KeysetTable, sample: int, inline: bool,
             clock: Callable[[], float], started: float) -> RunResult:
    """Count what would change and time one real batch inside a transaction rolled back."""
    tx = conn.begin_nested() if inline else conn.begin()
    try:
        would = target.count(conn, filtered=True)
        total = target.count(conn, filtered=False)
        t0 = clock()
        hi, _ = target.bound(conn, None, sample)
        scanned = 0
        if hi is not None:
            if m.set is not None:
                target.update_range(conn, None, hi)
                scanned = target.count_range(conn, None, hi)
            else:
                rows = target.select_batch(conn, None, sample)
                assert m.fn is not None
                target.update_rows(conn, list(m.fn(rows) or []))
                scanned = len(rows)
        elapsed = max(clock() - t0, 1e-6)
    finally:
        tx.rollback()
    rate = scanned / elapsed if scanned else 0.0
    return RunResult(name=m.name, status="dry_run", rows_done=0, rows_scanned=0, batches=0, last_key=None,
                     duration_s=round(clock() - started, 3), rows_per_second=round(rate, 1), would_change=would,
                     estimated_seconds=round(total / rate, 1) if rate else None)


def _loop(conn: sa.Connection, m: DataMigration, target: KeysetTable, key_types: list[Any], *, inline: bool,
          reset: bool, batch_size: int | None, batch_seconds: float, max_rps: float | None, pause: float,
          lock_timeout: float, retries: int, progress: Callable[[Progress], None] | None,
          should_stop: Callable[[], bool] | None, clock: Callable[[], float], sleep: Callable[[float], None],
          started: float) -> RunResult:
    def tx() -> Any:
        return conn.begin_nested() if inline else conn.begin()

    with tx():
        if reset:
            checkpoint.reset(conn, m.name)
        existing = checkpoint.read(conn, m.name)
        if existing is not None and existing.status == "done" and not reset:
            return RunResult(m.name, "done", existing.rows_done, existing.rows_scanned, existing.batches,
                             existing.last_key, round(clock() - started, 3), 0.0, resumed_from=existing.last_key)
        checkpoint.start(conn, m.name, existing)
        total = target.estimate(conn)
    last: Key | None = load_key(existing.last_key, key_types) if existing else None
    resumed_from = existing.last_key if existing else None
    rows_done = existing.rows_done if existing else 0
    scanned_total = existing.rows_scanned if existing else 0
    batches = existing.batches if existing else 0
    size = batch_size or (FIRST_BATCH if m.set is not None else 5 * FIRST_BATCH)
    run_rows = 0
    loop_start = clock()

    while True:
        if should_stop is not None and should_stop():
            with tx():
                checkpoint.finish(conn, m.name, "paused")
            status = "paused"
            break
        t0 = clock()
        attempt = 0
        while True:
            try:
                with tx():
                    if conn.dialect.name == "postgresql" and lock_timeout:
                        conn.execute(sa.text(f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'"))
                    changed, scanned, hi = _batch(conn, m, target, last, size)
                    if hi is not None:
                        checkpoint.advance(conn, m.name, dump_key(hi), changed, scanned)
                break
            except (OperationalError, DBAPIError) as exc:
                if is_lock_timeout(exc) and attempt < retries:
                    attempt += 1
                    sleep(min(0.1 * 2 ** attempt, 5.0))
                    continue
                _fail(conn, m, last, exc, inline)
            except Exception as exc:
                _fail(conn, m, last, exc, inline)
        if hi is None:
            with tx():
                checkpoint.finish(conn, m.name, "done")
            status = "done"
            break
        last = hi
        rows_done += changed
        scanned_total += scanned
        run_rows += scanned
        batches += 1
        elapsed = max(clock() - t0, 1e-6)
        if batch_size is None:  # aim at batch_seconds per batch
            wanted = scanned / elapsed * batch_seconds
            ceiling = MAX_BATCH if m.set is not None else MAX_BATCH_PYTHON
            size = int(min(ceiling, max(MIN_BATCH, 0.5 * size + 0.5 * wanted)))
        if progress is not None:
            rate = run_rows / max(clock() - loop_start, 1e-6)
            progress(Progress(m.name, rows_done, scanned_total, total, batches, size, round(rate, 1)))
        if max_rps:
            floor = scanned / max_rps
            if elapsed < floor:
                sleep(floor - elapsed)
        if pause:
            sleep(pause)
    duration = clock() - started
    return RunResult(m.name, status, rows_done, scanned_total, batches, dump_key(last), round(duration, 3),
                     round(run_rows / max(clock() - loop_start, 1e-6), 1), resumed_from=resumed_from)


def _batch(conn: sa.Connection, m: DataMigration, target: KeysetTable, last: Key | None,
           size: int) -> tuple[int, int, Key | None]:
    """One batch: (rows changed, rows scanned, new last key or None when finished)."""
    if m.set is not None:
        hi, full = target.bound(conn, last, size)
        if hi is None:
            return 0, 0, None
        changed = target.update_range(conn, last, hi)
        return changed, size if full else target.count_range(conn, last, hi), hi
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a batch is thousands of short-lived acyclic dicts: no cyclic GC passes meanwhile
    try:
        return _python_batch(conn, m, target, last, size)
    finally:
        if gc_was_enabled:
            gc.enable()


def _python_batch(conn: sa.Connection, m: DataMigration, target: KeysetTable, last: Key | None,
                  size: int) -> tuple[int, int, Key | None]:
    rows = target.select_batch(conn, last, size)
    if not rows:
        return 0, 0, None
    assert m.fn is not None
    try:
        updates = list(m.fn([dict(r) for r in rows]) or [])
    except Exception as exc:
        first = dump_key(tuple(rows[0][k] for k in m.key_columns))
        raise DataMigrationError(
            f"the function raised on the batch starting at key {first}: "
            f"{type(exc).__name__}: {redact(str(exc))}.", hint="Fix the function, then re-run to resume.",
        ) from exc
    changed = target.update_rows(conn, updates)
    hi = tuple(rows[-1][k] for k in m.key_columns)
    return changed, len(rows), hi


def _fail(conn: sa.Connection, m: DataMigration, last: Key | None, exc: BaseException, inline: bool) -> None:
    message = exc.message if isinstance(exc, DbopsError) else redact(
        f"{type(exc).__name__}: {str(getattr(exc, 'orig', exc)).strip().splitlines()[0] if str(exc) else ''}")
    if not inline:
        if conn.in_transaction():
            conn.rollback()
        with conn.begin():
            checkpoint.finish(conn, m.name, "failed", message)
    raise DataMigrationError(
        f"Data migration {m.name!r} stopped: {message} The failing batch was rolled back; the checkpoint "
        f"is at the last good batch (after key {dump_key(last) or 'start'}).",
        hint=f"Fix the cause, then resume with: dbops data-migrate {m.name}",
    ) from exc
