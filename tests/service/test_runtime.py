"""dbops.runtime against real databases: Unit of Work, savepoints, budget, settings, drivers."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa

from dbops import command
from dbops.errors import ConfigError
from dbops.runtime import (
    ConnectionBudgetWarning,
    DatabaseSettings,
    async_session_factory,
    check_connection_budget,
    create_async_engine_from_settings,
    create_engine_from_settings,
    make_get_db_sync,
    sync_session_factory,
)
from shop.models import User
from shop.repositories import ShopUnitOfWork
from tests.helpers import config_for, execute


@pytest.mark.asyncio
@pytest.mark.postgres
async def test_unit_of_work_commit_rollback_and_savepoint(pg_asyncpg_url: str) -> None:
    command.upgrade(config_for(pg_asyncpg_url))
    engine = create_async_engine_from_settings(DatabaseSettings(url=pg_asyncpg_url))
    factory = async_session_factory(engine)
    try:
        async with ShopUnitOfWork(factory) as uow:
            await uow.users.create(email="kept@example.com", hashed_password="x")
            with pytest.raises(sa.exc.IntegrityError):
                async with uow.savepoint():
                    await uow.users.create(email="inner@example.com", hashed_password="x")
                    await uow.users.create(email="kept@example.com", hashed_password="dup")  # fails
            await uow.products.create(name="pen", category="office", price=1, version_id=1)
            assert await uow.users.count() == 1

        with pytest.raises(RuntimeError):
            async with ShopUnitOfWork(factory) as uow:
                await uow.users.create(email="lost@example.com", hashed_password="x")
                raise RuntimeError("boom")
    finally:
        await engine.dispose()
    emails = execute(pg_asyncpg_url, "SELECT email FROM users ORDER BY email")[0]
    assert [r[0] for r in emails] == ["kept@example.com"]
    assert execute(pg_asyncpg_url, "SELECT count(*) FROM products")[0][0][0] == 1


@pytest.mark.asyncio
async def test_unit_of_work_outside_context_is_an_error(tmp_path: Path) -> None:
    engine = create_async_engine_from_settings(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/u.db"))
    uow = ShopUnitOfWork(async_session_factory(engine))
    with pytest.raises(RuntimeError, match="not active"):
        uow.users  # noqa: B018
    await engine.dispose()


@pytest.mark.postgres
def test_application_name_psycopg_sync_engine(pg_psycopg_url: str) -> None:
    engine = create_engine_from_settings(DatabaseSettings(url=pg_psycopg_url, application_name="billing-worker"))
    with engine.connect() as conn:
        name = conn.execute(sa.text(
            "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")).scalar()
    engine.dispose()
    assert name == "billing-worker"


@pytest.mark.asyncio
@pytest.mark.postgres
async def test_application_name_asyncpg_and_psycopg_async(pg_asyncpg_url: str) -> None:
    for url in (pg_asyncpg_url, pg_asyncpg_url.replace("+asyncpg", "+psycopg")):
        engine = create_async_engine_from_settings(DatabaseSettings(url=url, application_name="api-7"))
        async with engine.connect() as conn:
            name = (await conn.execute(sa.text(
                "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()"))).scalar()
        await engine.dispose()
        assert name == "api-7", url


@pytest.mark.postgres
def test_connection_budget_warns_when_pools_exceed_the_server(pg_psycopg_url: str) -> None:
    engine = create_engine_from_settings(DatabaseSettings(url=pg_psycopg_url))
    max_conn = int(execute(pg_psycopg_url, "SHOW max_connections")[0][0][0])
    reserved = int(execute(pg_psycopg_url, "SHOW superuser_reserved_connections")[0][0][0])
    big = DatabaseSettings(url=pg_psycopg_url, pool_size=20, max_overflow=20)
    with pytest.warns(ConnectionBudgetWarning) as caught:
        budget = check_connection_budget(engine, big, workers=8)
    assert budget.needed == 320 and budget.max_connections == max_conn and budget.reserved >= reserved
    assert not budget.ok
    assert str(caught[0].message).startswith(f"8 worker(s) x (pool_size + max_overflow = 40) = 320 connections "
                                             f"EXCEEDS max_connections {max_conn}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small = check_connection_budget(engine, DatabaseSettings(url=pg_psycopg_url), workers=2)
    assert small.ok and small.needed == 30
    engine.dispose()


def test_settings_from_env() -> None:
    env = {"DATABASE_URL": "sqlite:///a.db", "APP_DB_POOL_SIZE": "7", "APP_DB_POOL_PRE_PING": "false",
           "APP_DB_ECHO": "yes", "APP_DB_APPLICATION_NAME": "web"}
    s = DatabaseSettings.from_env("APP_DB_", env)
    assert (s.url, s.pool_size, s.pool_pre_ping, s.echo, s.capacity) == ("sqlite:///a.db", 7, False, True, 17)
    assert s.effective_application_name == "web"
    assert DatabaseSettings.from_env("APP_DB_", {**env, "APP_DB_URL": "sqlite:///b.db"}).url == "sqlite:///b.db"
    with pytest.raises(ConfigError, match=r"APP_DB_MAX_OVERFLOW='many' is not a valid int"):
        DatabaseSettings.from_env("APP_DB_", {**env, "APP_DB_MAX_OVERFLOW": "many"})
    with pytest.raises(ConfigError, match="No database URL"):
        DatabaseSettings.from_env("APP_DB_", {})


def test_sync_get_db_commits_and_rolls_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    command.upgrade(config_for(url))
    engine = create_engine_from_settings(DatabaseSettings(url=url))
    get_db = make_get_db_sync(sync_session_factory(engine))

    ok = get_db()
    session = next(ok)
    session.add(User(email="a@example.com", hashed_password="x"))
    with pytest.raises(StopIteration):
        next(ok)

    failing = get_db()
    session = next(failing)
    session.add(User(email="b@example.com", hashed_password="x"))
    with pytest.raises(ValueError):
        failing.throw(ValueError("handler failed"))
    engine.dispose()
    assert [r[0] for r in execute(url, "SELECT email FROM users")[0]] == ["a@example.com"]
