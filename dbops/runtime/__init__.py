"""Runtime library for apps: engine/session from settings, FastAPI ``get_db``, Unit of Work,
a generic repository. Imports neither FastAPI nor the dbops CLI.

    from dbops.runtime import DatabaseSettings, create_async_engine_from_settings, async_session_factory, make_get_db

    settings = DatabaseSettings.from_env()              # DBOPS_DB_* / DATABASE_URL
    engine = create_async_engine_from_settings(settings)
    SessionLocal = async_session_factory(engine)
    get_db = make_get_db(SessionLocal)                  # FastAPI dependency: commit / rollback
"""
from __future__ import annotations

from dbops.runtime.budget import ConnectionBudget, ConnectionBudgetWarning, check_connection_budget
from dbops.runtime.engine import create_async_engine_from_settings, create_engine_from_settings
from dbops.runtime.repository import BaseRepository, eager
from dbops.runtime.session import (
    async_session_factory,
    engine_lifespan,
    make_get_db,
    make_get_db_sync,
    sync_session_factory,
)
from dbops.runtime.settings import DatabaseSettings
from dbops.runtime.uow import UnitOfWork

__all__ = [
    "BaseRepository", "ConnectionBudget", "ConnectionBudgetWarning", "DatabaseSettings", "UnitOfWork",
    "async_session_factory", "check_connection_budget", "create_async_engine_from_settings",
    "create_engine_from_settings", "eager", "engine_lifespan", "make_get_db", "make_get_db_sync",
    "sync_session_factory",
]
