"""Library-side logging helpers (dbops's loggers emit; only dbops.render.logs attaches handlers)."""
from __future__ import annotations

import logging


def enable_dbops_loggers() -> None:
    """A project's env.py commonly calls ``logging.config.fileConfig(alembic.ini)``, which disables every
    logger it does not name, dbops's included ("waiting for the lock ..." would go silent)."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if (name == "dbops" or name.startswith("dbops.")) and isinstance(logger, logging.Logger):
            logger.disabled = False
