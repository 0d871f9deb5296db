"""Unit of Work: one transaction around a block of repository calls."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import async_sessionmaker

from dbops.runtime.repository import BaseRepository

RepoT = TypeVar("RepoT", bound=BaseRepository[Any])


class UnitOfWork:
    """``async with UnitOfWork(factory) as uow:`` commits on success and rolls back on an
    exception. Repositories are properties built on the same session::

        class ShopUoW(UnitOfWork):
            @property
            def orders(self) -> OrderRepository:
                return self.repository(OrderRepository)

        async with ShopUoW(SessionLocal) as uow:
            order = await uow.orders.create(order_in)
            async with uow.savepoint():      # nested: rolls back alone on error
                ...
    """

    def __init__(self, factory: async_sessionmaker[Any]) -> None:
        self._factory = factory
        self._session: Any = None
        self._repositories: dict[type, BaseRepository[Any]] = {}

    @property
    def session(self) -> Any:
        if self._session is None:
            raise RuntimeError("UnitOfWork is not active: use 'async with UnitOfWork(...) as uow'")
        return self._session

    def repository(self, cls: type[RepoT]) -> RepoT:
        repo = self._repositories.get(cls)
        if repo is None:
            repo = self._repositories[cls] = cls(self.session)
        return repo  # type: ignore[return-value]

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._factory()
        await self._session.begin()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._session, None
        self._repositories.clear()
        try:
            if exc_type is None:
                await session.commit()
            else:
                await session.rollback()
        finally:
            await session.close()

    async def commit(self) -> None:
        """Commit now and start a new transaction (for long units that checkpoint)."""
        await self.session.commit()
        await self.session.begin()

    async def rollback(self) -> None:
        await self.session.rollback()
        await self.session.begin()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[Any]:
        """A SAVEPOINT: an exception inside rolls back to it (and propagates); the outer
        transaction continues."""
        async with self.session.begin_nested() as nested:
            yield nested
