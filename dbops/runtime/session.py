"""Session factories, FastAPI dependencies (commit on success, rollback on error) and a
lifespan helper that disposes the engine."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession


def async_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """``expire_on_commit=False``: objects stay readable after commit (no lazy IO in async)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def sync_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, class_=Session, expire_on_commit=False)


def make_get_db(factory: async_sessionmaker[AsyncSession]) -> Callable[[], AsyncIterator[AsyncSession]]:
    """A FastAPI dependency yielding a session: commit when the request handler returns,
    rollback when it raises (HTTPException included), always close."""

    async def get_db() -> AsyncIterator[AsyncSession]:
        async with factory() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            else:
                await session.commit()

    return get_db


def make_get_db_sync(factory: sessionmaker[Session]) -> Callable[[], Iterator[Session]]:
    """The sync variant of :func:`make_get_db` (for ``def`` endpoints)."""

    def get_db() -> Iterator[Session]:
        with factory() as session:
            try:
                yield session
            except BaseException:
                session.rollback()
                raise
            else:
                session.commit()

    return get_db


def engine_lifespan(engine: AsyncEngine | Engine) -> Callable[[Any], Any]:
    """``FastAPI(lifespan=engine_lifespan(engine))``: dispose the pool at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if isinstance(engine, AsyncEngine):
                await engine.dispose()
            else:
                engine.dispose()

    return lifespan
