"""Connection budget: do ``workers x (pool_size + max_overflow)`` connections fit in what the
server allows (``max_connections`` minus reserved slots)?"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dbops.runtime.settings import DatabaseSettings


class ConnectionBudgetWarning(UserWarning):
    """The pools of all workers can open more connections than the server accepts."""


@dataclass(frozen=True)
class ConnectionBudget:
    workers: int
    per_worker: int  # pool_size + max_overflow
    needed: int
    max_connections: int | None  # None: the server has no such limit (SQLite)
    reserved: int
    available: int | None

    @property
    def ok(self) -> bool:
        return self.available is None or self.needed <= self.available

    @property
    def message(self) -> str:
        if self.available is None:
            return f"{self.workers} worker(s) x {self.per_worker} connections: no server limit to check."
        verdict = "fits" if self.ok else "EXCEEDS"
        text_ = (f"{self.workers} worker(s) x (pool_size + max_overflow = {self.per_worker}) = {self.needed} "
                 f"connections {verdict} max_connections {self.max_connections} - {self.reserved} reserved "
                 f"= {self.available}.")
        if not self.ok:
            text_ += (" Under load, requests will fail with 'too many clients' instead of waiting in the pool: "
                      "lower pool_size/max_overflow or workers, raise max_connections, or add PgBouncer.")
        return text_


def _server_limits(conn: Connection) -> tuple[int | None, int]:
    name = conn.dialect.name
    if name == "postgresql":
        max_conn = int(conn.execute(text("SHOW max_connections")).scalar_one())
        reserved = int(conn.execute(text("SHOW superuser_reserved_connections")).scalar_one())
        has_reserved = conn.execute(text("SELECT 1 FROM pg_settings WHERE name = 'reserved_connections'")).scalar()
        if has_reserved:  # PostgreSQL 16+
            reserved += int(conn.execute(text("SHOW reserved_connections")).scalar_one())
        return max_conn, reserved
    if name in ("mysql", "mariadb"):
        return int(conn.execute(text("SELECT @@max_connections")).scalar_one()), 0
    return None, 0


def connection_budget(conn: Connection, settings: DatabaseSettings, *, workers: int = 1) -> ConnectionBudget:
    max_conn, reserved = _server_limits(conn)
    per_worker = settings.capacity
    return ConnectionBudget(
        workers=workers, per_worker=per_worker, needed=workers * per_worker, max_connections=max_conn,
        reserved=reserved, available=None if max_conn is None else max_conn - reserved,
    )


def _warn(budget: ConnectionBudget) -> ConnectionBudget:
    if not budget.ok:
        warnings.warn(budget.message, ConnectionBudgetWarning, stacklevel=3)
    return budget


def check_connection_budget(engine: Engine, settings: DatabaseSettings, *, workers: int = 1) -> ConnectionBudget:
    """Compute the budget with one connection; warn (ConnectionBudgetWarning) when it does not fit."""
    with engine.connect() as conn:
        return _warn(connection_budget(conn, settings, workers=workers))


async def acheck_connection_budget(
    engine: AsyncEngine, settings: DatabaseSettings, *, workers: int = 1
) -> ConnectionBudget:
    """The async variant of :func:`check_connection_budget` (e.g. in a FastAPI lifespan)."""
    async with engine.connect() as conn:
        budget = await conn.run_sync(lambda sync: connection_budget(sync, settings, workers=workers))
    return _warn(budget)
