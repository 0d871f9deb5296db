"""dbops.command works when called from inside a running event loop (FastAPI lifespan,
pytest-asyncio), where Alembic's async template raises (alembic issue 1353)."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dbops import command
from tests.helpers import config_for, schema_of


@pytest.mark.asyncio
async def test_upgrade_inside_running_loop_asyncpg(pg_asyncpg_url: str) -> None:
    asyncio.get_running_loop()  # we are inside the loop
    report = command.upgrade(config_for(pg_asyncpg_url))
    assert report.to_revisions == ("0002",)
    assert schema_of(pg_asyncpg_url)["version"] == ["0002"]
    assert command.current(config_for(pg_asyncpg_url)).at_head


@pytest.mark.asyncio
async def test_upgrade_inside_running_loop_aiosqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.sqlite'}"
    report = command.upgrade(config_for(url))
    assert [s.revision for s in report.steps] == ["0001", "0002"]
    command.downgrade(config_for(url), "base")
    assert schema_of(url)["tables"] == []


@pytest.mark.asyncio
async def test_lifespan_style_upgrade_in_thread(pg_asyncpg_url: str) -> None:
    """The pattern the README recommends in a FastAPI lifespan: keep the loop responsive."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    report = await asyncio.to_thread(command.upgrade, config_for(pg_asyncpg_url))
    task.cancel()
    assert report.to_revisions == ("0002",)
    assert ticks > 1


def test_plain_sync_call_psycopg(pg_psycopg_url: str) -> None:
    assert command.upgrade(config_for(pg_psycopg_url)).to_revisions == ("0002",)
