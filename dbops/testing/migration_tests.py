"""The tests ``pytest --dbops`` adds (collected from the dbops package)."""
from __future__ import annotations

from typing import Any

import pytest

from dbops.testing.checks import (
    check_lock_footprint,
    check_models_match,
    check_models_registered,
    check_single_head,
    check_up_down_up,
    check_upgrade,
)

pytestmark = pytest.mark.dbops_migrations


def test_single_head(dbops_config: Any) -> None:
    check_single_head(dbops_config)


def _hooks(request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    """A data-hook fixture the project defines (conftest.py or a -p module), else none."""
    try:
        return dict(request.getfixturevalue(name))
    except pytest.FixtureLookupError:
        return {}


def test_upgrade(dbops_config: Any, request: pytest.FixtureRequest) -> None:
    check_upgrade(dbops_config, seed=_hooks(request, "dbops_seed"), before=_hooks(request, "dbops_before_revision"),
                  after=_hooks(request, "dbops_after_revision"))


def test_models_match(dbops_config: Any) -> None:
    check_models_match(dbops_config)


def test_models_registered(dbops_config: Any, request: pytest.FixtureRequest) -> None:
    check_models_registered(dbops_config, package=request.config.getini("dbops_models_package") or None)


def test_lock_footprint(dbops_config: Any, request: pytest.FixtureRequest) -> None:
    if not dbops_config.url.startswith("postgresql"):
        pytest.skip("lock footprints are measured on PostgreSQL only (dbops_database = postgresql)")
    ini = request.config.getini
    from dbops.lint.lock_modes import parse_mode

    budget = ini("dbops_lock_budget").strip()
    try:
        mode = parse_mode(budget) if budget else None
    except ValueError as exc:
        raise pytest.UsageError(f"dbops_lock_budget: {exc}") from None
    report = ini("dbops_lock_report").strip()
    prints: list[Any] = []
    try:
        prints = check_lock_footprint(dbops_config, seed=_hooks(request, "dbops_seed"),
                                      before=_hooks(request, "dbops_before_revision"), budget=mode,
                                      allow_rewrites=ini("dbops_allow_rewrites"),
                                      exempt=ini("dbops_lock_budget_exempt"), collect=prints)
    finally:
        if report:
            import json

            path = request.config.rootpath / report
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"budget": budget or None, "revisions": [p.to_dict() for p in prints]},
                                       indent=2) + "\n")


def test_up_down_up(dbops_config: Any, request: pytest.FixtureRequest) -> None:
    skip = request.config.getini("dbops_skip_revisions")
    minimum = request.config.getini("dbops_minimum_downgrade_revision") or None
    check_up_down_up(dbops_config, minimum_downgrade_revision=minimum, skip_revisions=skip)
