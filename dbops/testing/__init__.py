"""Migration tests users get for free: a pytest plugin (``pytest --dbops``) and the checks
behind it as plain functions. See plugin.py for options and fixtures."""
from __future__ import annotations

from dbops.testing.checks import (
    MigrationTestFailure,
    check_lock_footprint,
    check_models_match,
    check_models_registered,
    check_single_head,
    check_up_down_up,
    check_upgrade,
)

__all__ = ["MigrationTestFailure", "check_lock_footprint", "check_models_match", "check_models_registered",
           "check_single_head", "check_up_down_up", "check_upgrade"]
