"""Engines from settings, with pool settings and an application_name on every driver
(psycopg: conninfo; asyncpg: server_settings), so sessions are attributable in
pg_stat_activity."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dbops.db.engine import connect_args
from dbops.db.url import is_async, parse_url
from dbops.errors import ConfigError
from dbops.runtime.settings import DatabaseSettings


def _engine_kwargs(settings: DatabaseSettings, url: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "echo": settings.echo,
        "pool_pre_ping": settings.pool_pre_ping,
        "connect_args": connect_args(url, connect_timeout=settings.connect_timeout,
                                     application_name=settings.effective_application_name),
    }
    if not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")):
        kw.update(pool_size=settings.pool_size, max_overflow=settings.max_overflow,
                  pool_timeout=settings.pool_timeout, pool_recycle=settings.pool_recycle)
    return kw


def create_engine_from_settings(settings: DatabaseSettings, **overrides: Any) -> Engine:
    """A sync engine (psycopg, pysqlite, pymysql URL)."""
    url = parse_url(settings.url)
    if is_async(url):
        raise ConfigError(f"{url.drivername} is an async driver; use create_async_engine_from_settings.")
    return create_engine(url, **{**_engine_kwargs(settings, url), **overrides})


def create_async_engine_from_settings(settings: DatabaseSettings, **overrides: Any) -> AsyncEngine:
    """An async engine (asyncpg, aiosqlite, psycopg async URL)."""
    url = parse_url(settings.url)
    if not is_async(url):
        if url.drivername == "postgresql+psycopg":
            url = url.set(drivername="postgresql+psycopg_async")
        elif url.drivername == "sqlite":
            url = url.set(drivername="sqlite+aiosqlite")
        else:
            raise ConfigError(f"{url.drivername} is a sync driver; use create_engine_from_settings.")
    return create_async_engine(url, **{**_engine_kwargs(settings, url), **overrides})
