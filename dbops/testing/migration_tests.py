"""The tests ``pytest --dbops`` adds (collected from the dbops package)."""
from __future__ import annotations

from typing import Any

import pytest

from dbops.testing.checks import check_models_match, check_single_head, check_up_down_up, check_upgrade

pytestmark = pytest.mark.dbops_migrations


def test_single_head(dbops_config: Any) -> None:
    check_single_head(dbops_config)


def test_upgrade(dbops_config: Any, dbops_seed: dict[str, Any]) -> None:
    check_upgrade(dbops_config, seed=dbops_seed)


def test_models_match(dbops_config: Any) -> None:
    check_models_match(dbops_config)


def test_up_down_up(dbops_config: Any, request: pytest.FixtureRequest) -> None:
    skip = request.config.getini("dbops_skip_revisions")
    minimum = request.config.getini("dbops_minimum_downgrade_revision") or None
    check_up_down_up(dbops_config, minimum_downgrade_revision=minimum, skip_revisions=skip)
