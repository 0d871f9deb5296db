"""check-drift runs the project's env.py only to read the hooks it passes (include_object /
include_name); an env.py that visibly passes none is not run (no Alembic import, no second
connection). Anything it cannot see through is run as before."""
from __future__ import annotations

from pathlib import Path

import pytest

from dbops.migrate.replay import passes_no_hooks
from tests.helpers import STOCK_ENV_ONLINE, config_for

STOCK = """from alembic import context
from sqlalchemy import engine_from_config, pool
config = context.config
target_metadata = None
""" + STOCK_ENV_ONLINE


@pytest.mark.parametrize("env, skipped", [
    (STOCK, True),
    (STOCK.replace("target_metadata=target_metadata)", "target_metadata=target_metadata, "
                   "include_object=lambda *a: True)"), False),
    (STOCK.replace("target_metadata=target_metadata)", "target_metadata=target_metadata, include_name=keep)"),
     False),
    (STOCK.replace("target_metadata=target_metadata)", "**options)"), False),  # could carry hooks
    ("from app.migrations import run\nrun()\n", False),  # hands the work to its own package
    ("def include_object(*a):\n    return True\n" + STOCK, True),  # defined, never passed: no hooks
    ("this is not python (", False),
])
def test_hooks_are_read_from_env_py_only_when_it_may_pass_some(tmp_path: Path, env: str, skipped: bool) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "env.py").write_text(env)
    (tmp_path / "dbops.toml").write_text('script_location = "migrations"\n')
    config = config_for("sqlite:///x.db", cwd=tmp_path)
    assert passes_no_hooks(config) is skipped
