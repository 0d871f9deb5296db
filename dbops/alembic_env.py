"""What a project's migrations/env.py calls: ``from dbops.alembic_env import run_migrations``.

The public name of :mod:`dbops.bridge.env`, kept because every env.py dbops writes imports it."""
from __future__ import annotations

from dbops.bridge.env import DBOPS_TABLES, run_migrations

__all__ = ["DBOPS_TABLES", "run_migrations"]
