"""Pool instrumentation SQLAlchemy does not have: waiters, checkout wait times, pool timeouts
counted, and every held connection with its age, checkout site and server backend pid.

``instrument(engine)`` wraps the pool's own checkout (``_do_get``) on that pool instance — no
event dispatch and no wrapper on the return path (SQLAlchemy's ``record.in_use`` tells which
records are still held), so the cost is two clock reads and a few updates per checkout — and
re-wraps the new pool after ``engine.dispose()``. Works for sync engines and AsyncEngine (its sync_engine).
"""
from __future__ import annotations

import bisect
import contextvars
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import TimeoutError as PoolTimeout

#: set by the ASGI middleware (or your code) to name what checked a connection out
current_site: contextvars.ContextVar[str | None] = contextvars.ContextVar("dbops_pool_site", default=None)

WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0)
_REGISTRY: list[weakref.ref[PoolStats]] = []
_LOCK = threading.Lock()


def _caller_site() -> str | None:
    frame = sys._getframe(3)
    while frame is not None:
        name = frame.f_code.co_filename
        if "sqlalchemy" not in name and f"{os.sep}dbops{os.sep}pool" not in name and "asyncio" not in name \
                and "greenlet" not in name:
            return f"{os.path.basename(name)}:{frame.f_lineno} {frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return None


@dataclass
class PoolStats:
    name: str
    engine: Any
    capture_frames: bool = False
    timeouts: int = 0
    waiting: int = 0
    wait_sum: float = 0.0
    wait_max: float = 0.0
    wait_histogram: list[int] = field(default_factory=lambda: [0] * (len(WAIT_BUCKETS) + 1))
    held: dict[Any, tuple[float, str | None]] = field(default_factory=dict)  # record -> (checked out, site)

    @property
    def checkouts(self) -> int:
        return sum(self.wait_histogram)

    @property
    def checkins(self) -> int:
        self._prune()
        return self.checkouts - len(self.held)

    @property
    def pool(self) -> Any:
        return self.engine.pool

    def _wrap(self, pool: Any) -> None:
        if getattr(pool, "_dbops_stats", None) is self:
            return
        original_get = pool._do_get
        stats = self
        perf = time.perf_counter
        get_site = current_site.get
        histogram = self.wait_histogram
        held = self.held
        buckets = WAIT_BUCKETS
        frames = self.capture_frames

        # The hot path: kept to two clock reads, a few integer updates and one dict write.
        def do_get() -> Any:
            stats.waiting += 1
            started = perf()
            try:
                record = original_get()
            except BaseException as exc:
                stats.waiting -= 1
                if isinstance(exc, PoolTimeout):  # it waited the whole pool_timeout: that is the worst wait
                    stats.timeouts += 1
                    stats.wait_max = max(stats.wait_max, perf() - started)
                raise
            stats.waiting -= 1
            now = perf()
            waited = now - started
            if waited < 0.001:  # the common case: counted in the first bucket, nothing else to do
                histogram[0] += 1
            else:
                histogram[bisect.bisect_left(buckets, waited)] += 1
                stats.wait_sum += waited  # sub-millisecond waits are left out of the average
                if waited > stats.wait_max:
                    stats.wait_max = waited
            site = get_site()
            if site is None and frames:
                site = _caller_site()
            held[record] = (now, site)
            if len(held) > limit:  # overflow records come and go: forget returned ones now and then
                stats._prune()
            return record

        # No wrapper on the return path: a record is held while SQLAlchemy's own
        # ``record.in_use`` says so; returned ones are pruned when read (check-ins are derived).
        limit = 4 * (pool.size() + max(getattr(pool, "_max_overflow", 0), 0)) + 16 if hasattr(pool, "size") else 64
        pool._do_get = do_get
        pool._dbops_stats = self

    def _prune(self) -> None:
        for record in [r for r in list(self.held) if not r.in_use]:
            self.held.pop(record, None)

    def snapshot(self) -> dict[str, Any]:
        self._prune()
        pool = self.pool
        size = pool.size() if hasattr(pool, "size") else 0
        max_overflow = getattr(pool, "_max_overflow", 0)
        raw_overflow = pool.overflow() if hasattr(pool, "overflow") else 0
        now = time.perf_counter()
        held = []
        for slot, (record, (since, site)) in enumerate(sorted(list(self.held.items()), key=lambda h: h[1][0])):
            try:  # read from the live DBAPI connection when asked, not on every checkout
                pid = _backend_pid(record.dbapi_connection)
            except Exception:
                pid = None
            held.append({"slot": slot, "age_s": round(now - since, 3), "site": site, "backend_pid": pid})
        checkouts = sum(self.wait_histogram)
        return {
            "name": self.name,
            "pool_class": type(pool).__name__,
            "size": size,
            "max_overflow": max_overflow,
            "capacity": size + max(max_overflow, 0),
            "checked_out": pool.checkedout() if hasattr(pool, "checkedout") else len(self.held),
            "overflow_in_use": max(raw_overflow, 0),  # SQLAlchemy's raw value is negative while unused
            "waiting": self.waiting,
            "checkouts": checkouts,
            "checkins": checkouts - len(held),
            "timeouts": self.timeouts,
            "wait": {
                "count": checkouts,
                # waits under 1 ms count as 0 in the average (they are not summed on the hot path)
                "avg_ms": round(self.wait_sum / checkouts * 1000, 3) if checkouts else 0.0,
                "max_ms": round(self.wait_max * 1000, 3),
                "buckets_s": list(WAIT_BUCKETS) + ["+Inf"],
                "histogram": list(self.wait_histogram),
            },
            "held": held,
        }


def _backend_pid(dbapi_connection: Any) -> int | None:
    info = getattr(dbapi_connection, "info", None)  # psycopg 3
    if info is not None and hasattr(info, "backend_pid"):
        return int(info.backend_pid)
    inner = getattr(dbapi_connection, "_connection", None)  # SQLAlchemy's asyncpg adapter
    if inner is not None and hasattr(inner, "get_server_pid"):
        return int(inner.get_server_pid())
    if hasattr(dbapi_connection, "thread_id"):  # PyMySQL
        return int(dbapi_connection.thread_id())
    return None


def instrument(engine: Any, *, name: str | None = None, capture_frames: bool = False) -> PoolStats:
    """Instrument ``engine``'s pool (sync Engine or AsyncEngine); returns its live PoolStats.

    ``capture_frames``: when no site is set in ``current_site``, record the caller's file:line
    (costs a stack walk per checkout)."""
    sync_engine = getattr(engine, "sync_engine", engine)
    existing = getattr(sync_engine.pool, "_dbops_stats", None)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    stats = PoolStats(name=name or sync_engine.url.render_as_string(hide_password=True), engine=sync_engine,
                      capture_frames=capture_frames)
    stats._wrap(sync_engine.pool)
    # No engine events: any engine-level listener makes SQLAlchemy check event dispatch on every
    # connection operation. dispose() swaps in a new pool, so wrap dispose itself.
    original_dispose = sync_engine.dispose

    def dispose(*args: Any, **kwargs: Any) -> None:
        original_dispose(*args, **kwargs)
        stats.held.clear()
        stats._wrap(sync_engine.pool)

    sync_engine.dispose = dispose

    with _LOCK:
        _REGISTRY.append(weakref.ref(stats))
    return stats


def all_stats() -> list[PoolStats]:
    with _LOCK:
        alive = [s for s in (ref() for ref in _REGISTRY) if s is not None]
        _REGISTRY[:] = [weakref.ref(s) for s in alive]
    return alive


def pool_ready(stats: PoolStats) -> bool:
    """Readiness from counters alone (takes no connection): not saturated with callers waiting."""
    snap = stats.snapshot()
    return not (snap["checked_out"] >= snap["capacity"] > 0 and snap["waiting"] > 0)
