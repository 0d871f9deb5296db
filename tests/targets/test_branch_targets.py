"""A target on one branch of a multi-branch history (``revision = "reports@head"`` in its settings):
``upgrade`` goes to that branch's head, ``current`` counts pending revisions against it, fan-out
applies each target's own branch."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.helpers import DBOPS_ENV_PY, REVISION_TEMPLATE, schema_of

BRANCH = REVISION_TEMPLATE.replace("branch_labels = None", "branch_labels = {labels!r}")


def _revision(app: Path, rev: str, down: str | None, table: str, labels: tuple[str, ...] | None = None) -> None:
    (app / "migrations" / "versions" / f"{rev}.py").write_text(BRANCH.format(
        doc=table, rev=rev, down=down, labels=labels, up=f"    op.create_table('{table}', sa.Column('id', sa.Integer))",
        down_body=f"    op.drop_table('{table}')"))


def _app(tmp_path: Path, revision_of_reports: str = "reports@head") -> Path:
    app = tmp_path / "branches"
    (app / "migrations" / "versions").mkdir(parents=True)
    (app / "migrations" / "env.py").write_text(DBOPS_ENV_PY)
    (app / "dbops.toml").write_text(
        'script_location = "migrations"\n'
        f'[targets.main]\nurl = "sqlite:///{tmp_path}/main.db"\nrevision = "main@head"\n'
        f'[targets.reports]\nurl = "sqlite:///{tmp_path}/reports.db"\nrevision = "{revision_of_reports}"\n')
    _revision(app, "m1", None, "orders", ("main",))
    _revision(app, "r1", None, "daily_totals", ("reports",))
    return app


def test_each_target_is_upgraded_to_its_own_branch(invoke: Callable[..., Result], tmp_path: Path) -> None:
    app = _app(tmp_path)
    rollout = invoke("upgrade", "--all", "--format", "json", cwd=app)
    assert rollout.exit_code == 0, rollout.stdout + rollout.stderr
    assert {t["target"]: t["to_revisions"] for t in json.loads(rollout.stdout)["targets"]} == \
        {"main": ["m1"], "reports": ["r1"]}
    assert schema_of(f"sqlite:///{tmp_path}/main.db")["tables"] == ["orders"]
    assert schema_of(f"sqlite:///{tmp_path}/reports.db")["tables"] == ["daily_totals"]
    for target in ("main", "reports"):
        assert invoke("current", "--target", target, "--check", cwd=app).exit_code == 0

    _revision(app, "r2", "r1", "weekly_totals")  # a new revision on the reports branch only
    behind = invoke("current", "--target", "reports", "--check", "--format", "json", cwd=app)
    assert behind.exit_code == 3
    assert json.loads(behind.stdout)["error"]["kind"] == "not_at_head"
    status = json.loads(invoke("current", "--target", "reports", "--format", "json", cwd=app).stdout)
    assert status["heads"] == ["r2"] and [p["revision"] for p in status["pending"]] == ["r2"]
    assert invoke("current", "--target", "main", "--check", cwd=app).exit_code == 0  # not main's business
    up = invoke("upgrade", "--target", "reports", cwd=app)
    assert up.exit_code == 0, up.stderr
    assert schema_of(f"sqlite:///{tmp_path}/reports.db")["tables"] == ["daily_totals", "weekly_totals"]
    assert schema_of(f"sqlite:///{tmp_path}/main.db")["tables"] == ["orders"]


def test_a_target_revision_that_names_nothing_is_refused(invoke: Callable[..., Result], tmp_path: Path) -> None:
    app = _app(tmp_path, revision_of_reports="invoices@head")
    result = invoke("current", "--target", "reports", cwd=app)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: The target's revision 'invoices@head' names no revision or branch here")
    assert "Traceback" not in result.stderr


def test_upgrade_head_over_independent_histories_says_so(invoke: Callable[..., Result], tmp_path: Path) -> None:
    app = _app(tmp_path)
    _revision(app, "m2", "m1", "invoices")  # one more on main: heads m2 and r1, roots m1 and r1
    result = invoke("upgrade", "--database-url", f"sqlite:///{tmp_path}/any.db", cwd=app)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: There are several head revisions (m2, r1), so 'head' is ambiguous. They are independent histories, "
        "each with a root of its own (branches main, reports): upgrade one with dbops upgrade BRANCH@head, or every "
        "one with dbops upgrade heads.")
