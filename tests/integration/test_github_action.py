"""The GitHub Action (action.yml + scripts/github_action.sh) run locally as a runner would: inputs
as INPUT_* variables, a fake $GITHUB_STEP_SUMMARY and $GITHUB_OUTPUT; what it writes is checked."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from tests.helpers import REPO, dbops_app, execute, sync_url

SCRIPT = REPO / "scripts" / "github_action.sh"
DBOPS = str(Path(sys.executable).parent / "dbops")


def run_action(tmp_path: Path, command: str, args: str = "", database_url: str = "", cwd: Path = REPO,
               workspace: Path | None = None) -> tuple[subprocess.CompletedProcess[str], str, dict[str, str]]:
    summary, outputs = tmp_path / "summary.md", tmp_path / "output.txt"
    summary.write_text("")
    outputs.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DBOPS_DATABASE_URL")}
    env.update(INPUT_COMMAND=command, INPUT_ARGS=args, INPUT_DATABASE_URL=database_url, DBOPS=DBOPS,
               GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs), GITHUB_ACTIONS="true",
               GITHUB_WORKSPACE=str(workspace or cwd))
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return proc, summary.read_text(), values


def test_action_yml_wires_every_input_into_the_script() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    inputs = set(action["inputs"])
    assert inputs == {"command", "args", "database-url", "working-directory", "python-version", "dbops-version",
                      "install"}
    used = set(re.findall(r"inputs\.([a-z-]+)", (REPO / "action.yml").read_text()))
    assert used == inputs  # every input is used, and nothing refers to an undeclared one
    run_step = action["runs"]["steps"][-1]
    assert run_step["run"] == 'bash "$GITHUB_ACTION_PATH/scripts/github_action.sh"'
    assert set(run_step["env"]) == {"INPUT_COMMAND", "INPUT_ARGS", "INPUT_DATABASE_URL"}
    assert {name: o["value"] for name, o in action["outputs"].items()} == {
        name: f"${{{{ steps.run.outputs.{name} }}}}" for name in ("exit-code", "clean", "count")}
    # the repository's own workflow runs the action from this checkout on every push
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    assert any(s.get("uses") == "./" and s["with"]["command"] == "check-drift" for s in steps)
    assert any(s.get("uses") == "./" and s["with"]["command"] == "lint" for s in steps)


@pytest.mark.postgres
def test_check_drift_writes_annotations_summary_and_outputs(tmp_path: Path, pg_psycopg_url: str) -> None:
    assert subprocess.run([DBOPS, "upgrade", "-q", "--database-url", pg_psycopg_url], cwd=REPO,
                          capture_output=True).returncode == 0
    proc, summary, outputs = run_action(tmp_path, "check-drift", database_url=pg_psycopg_url)
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"clean": "true", "count": "0", "exit-code": "0"}
    assert summary.startswith("### dbops check-drift: clean\n")
    assert "dbops check-drift: clean" in proc.stdout

    execute(pg_psycopg_url, "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'x|y'")
    proc, summary, outputs = run_action(tmp_path, "check-drift", database_url=pg_psycopg_url)
    assert proc.returncode == 3
    assert outputs == {"clean": "false", "count": "1", "exit-code": "3"}
    assert re.search(r"^::error .*title=dbops out_of_band%3A default::column orders.status server default",
                     proc.stdout, re.M), proc.stdout
    lines = summary.splitlines()
    assert lines[0] == "### dbops check-drift: 1 difference(s)"
    assert "| verdict | kind | object | detail | model |" in lines
    row = next(line for line in lines if line.startswith("| out_of_band |"))
    assert row.startswith("| out_of_band | default | orders.status | column orders.status server default none != ")
    assert "'x\\|y'" in row  # a pipe in a value does not break the table
    assert "postgres@" not in summary or "***" not in summary  # no password to hide here; never a raw one


def test_upgrade_sql_previews_in_the_summary_and_writes_nothing(tmp_path: Path, sqlite_url: str) -> None:
    assert subprocess.run([DBOPS, "upgrade", "0001", "-q", "--database-url", sqlite_url], cwd=REPO,
                          capture_output=True).returncode == 0
    proc, summary, outputs = run_action(tmp_path, "upgrade", "--sql", database_url=sqlite_url)
    assert proc.returncode == 0, proc.stderr
    assert outputs["exit-code"] == "0" and outputs["clean"] == "true"
    assert summary.startswith("### dbops upgrade --sql: 0001 → head\n")
    assert "the SQL dbops would run (nothing was applied)" in summary
    assert "```sql\n" in summary and "ALTER TABLE orders ADD COLUMN total" in summary
    assert "UPDATE alembic_version SET version_num='0002'" in summary
    with sa.create_engine(sync_url(sqlite_url)).connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0001"


def test_lint_findings_annotate_the_revision_file(tmp_path: Path) -> None:
    project = dbops_app(tmp_path, "app", [("0001", None, "index", '    op.create_index("ix_t_a", "t", ["a"])',
                                           '    op.drop_index("ix_t_a", "t")')])
    # the project is a subdirectory of the checkout (working-directory: app): paths are the checkout's
    proc, summary, outputs = run_action(tmp_path, "lint", cwd=project, workspace=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert outputs == {"clean": "false", "count": "1", "exit-code": "3"}
    assert re.search(r"^::error file=app/migrations/versions/0001.py,line=12,title=dbops DB002::", proc.stdout,
                     re.M), proc.stdout
    assert summary.startswith("### dbops lint: 1 finding(s)\n")
    assert "| DB002 | app/migrations/versions/0001.py:12 |" in summary


def test_unknown_command_and_failure_to_connect(tmp_path: Path) -> None:
    proc, _, outputs = run_action(tmp_path, "downgrade", "base")
    assert proc.returncode == 2 and outputs == {"exit-code": "2"}
    assert proc.stdout.startswith("::error title=dbops::The action runs one of check-drift, lint")

    proc, summary, outputs = run_action(tmp_path, "current",
                                        database_url="postgresql+psycopg://app:s3cret@127.0.0.1:1/nope")
    assert proc.returncode == 1
    assert outputs == {"clean": "false", "count": "0", "exit-code": "1"}
    assert summary.startswith("### dbops: failed\n") and "**connection_failed**" in summary
    assert "s3cret" not in summary + proc.stdout + proc.stderr
