from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dbops.cli import cli
from tests.helpers import REPO


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run ``dbops ARGS`` in-process from ``cwd`` (default: the repo) with a clean environment."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DBOPS_DATABASE_URL", raising=False)

    def run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> Result:
        old = os.getcwd()
        os.chdir(cwd)
        try:
            return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        finally:
            os.chdir(old)

    return run
