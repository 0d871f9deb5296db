"""dbops.pool.instrument on real engines (no server process)."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dbops.pool import current_site, instrument, pool_ready


def test_sync_counts_held_sites_timeouts_and_dispose(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/p.db", poolclass=sa.pool.QueuePool, pool_size=1,
                              max_overflow=0, pool_timeout=0.2)
    stats = instrument(engine, name="test")
    assert instrument(engine) is stats  # idempotent
    token = current_site.set("job nightly-report")
    held = engine.connect()
    current_site.reset(token)
    snap = stats.snapshot()
    assert (snap["capacity"], snap["checked_out"], snap["overflow_in_use"]) == (1, 1, 0)
    assert snap["held"][0]["site"] == "job nightly-report" and snap["held"][0]["backend_pid"] is None
    assert not pool_ready(stats) or snap["waiting"] == 0
    with pytest.raises(sa.exc.TimeoutError):
        engine.connect()
    held.close()
    snap = stats.snapshot()
    assert (snap["timeouts"], snap["checkouts"], snap["checkins"], snap["held"]) == (1, 1, 1, [])
    assert snap["wait"]["max_ms"] >= 190
    engine.dispose()  # a new pool: still instrumented
    with engine.connect():
        assert stats.snapshot()["checked_out"] == 1
    assert stats.snapshot()["checkouts"] == 2
    engine.dispose()


@pytest.mark.asyncio
async def test_async_engine(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/a.db", pool_size=2, max_overflow=1)
    stats = instrument(engine)
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
        assert stats.snapshot()["checked_out"] == 1
    assert stats.snapshot()["checkins"] == 1 and stats.snapshot()["capacity"] == 3
    await engine.dispose()
