from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from dbops import command
from dbops.runtime import DatabaseSettings
from shop.api import create_app
from tests.helpers import config_for


@pytest.fixture
def migrated_pg(pg_asyncpg_url: str) -> str:
    command.upgrade(config_for(pg_asyncpg_url))
    return pg_asyncpg_url


@pytest_asyncio.fixture
async def app(migrated_pg: str) -> AsyncIterator[FastAPI]:
    application = create_app(DatabaseSettings(url=migrated_pg, pool_size=5, max_overflow=0, pool_timeout=2))
    yield application
    await application.state.engine.dispose()


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as c:
        yield c
