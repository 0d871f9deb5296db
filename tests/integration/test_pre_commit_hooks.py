"""The hooks in .pre-commit-hooks.yaml, run by pre-commit itself (`pre-commit try-repo` against this
repository) inside a temporary git repository holding a small Alembic project."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, dbops_app

BIN = Path(sys.executable).parent
INDEX_REVISION = '''"""{doc}"""
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    {body}


def downgrade():
    pass
'''


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    project = dbops_app(tmp_path, "proj", [])
    (project / "migrations" / "versions" / "0001_first.py").write_text(
        INDEX_REVISION.format(doc="first", rev="0001", down=None, body='op.create_table("t")'))
    git(project, "init", "-q")
    git(project, "add", ".")
    return project


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=cwd, check=True)


def try_hook(project: Path, hook: str, *files: str) -> subprocess.CompletedProcess[str]:
    git(project, "add", ".")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "PRE_COMMIT_HOME": str(project.parent / "pre-commit-home")}
    env.pop("DATABASE_URL", None)
    env.pop("DBOPS_DATABASE_URL", None)
    args = ["--files", *files] if files else ["--all-files"]
    return subprocess.run([str(BIN / "pre-commit"), "try-repo", str(REPO), hook, *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


def test_hook_manifest() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"dbops-lint", "dbops-heads", "dbops-revision-filename"}
    assert all(h["language"] == "system" and h["entry"].startswith("dbops ") for h in hooks.values())
    assert hooks["dbops-heads"]["pass_filenames"] is False


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_lint_hook_fails_on_a_blocking_index_and_imports_nothing(repo: Path) -> None:
    bad = repo / "migrations" / "versions" / "0002_index.py"
    # the revision imports a module that does not exist: linting files must not import them
    bad.write_text(INDEX_REVISION.format(doc="index", rev="0002", down="0001",
                                         body='op.create_index("ix_t_a", "t", ["a"])').replace(
        "from alembic import op\n", "from alembic import op\nimport app_settings_that_need_env_vars\n"))
    result = try_hook(repo, "dbops-lint", "migrations/versions/0002_index.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "migrations/versions/0002_index.py:12: DB002 create_index on existing table t" in result.stdout
    assert "Failed" in result.stdout and "ModuleNotFoundError" not in result.stdout

    bad.write_text(bad.read_text().replace('["a"])', '["a"])  # dbops: noqa DB002'))
    result = try_hook(repo, "dbops-lint", "migrations/versions/0002_index.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_heads_hook_fails_on_two_heads(repo: Path) -> None:
    versions = repo / "migrations" / "versions"
    (versions / "0002_a.py").write_text(INDEX_REVISION.format(doc="a", rev="0002", down="0001", body="pass"))
    result = try_hook(repo, "dbops-heads")
    assert result.returncode == 0, result.stdout + result.stderr
    (versions / "0003_b.py").write_text(INDEX_REVISION.format(doc="b", rev="0003", down="0001", body="pass"))
    result = try_hook(repo, "dbops-heads")
    assert result.returncode == 1
    assert "0002" in result.stdout and "0003" in result.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_revision_filename_hook(repo: Path) -> None:
    versions = repo / "migrations" / "versions"
    (versions / "0002-Add Thing.py").write_text(INDEX_REVISION.format(doc="a", rev="0002", down="0001", body="pass"))
    result = try_hook(repo, "dbops-revision-filename", "migrations/versions/0002-Add Thing.py")
    assert result.returncode == 1  # no pattern configured: refused, not a silent pass
    assert "does not set one, so no name was checked" in result.stdout

    (repo / "dbops.toml").write_text('script_location = "migrations"\n'
                                     'revision_filename = "^\\\\d{4}_[a-z0-9_]+\\\\.py$"\n')
    result = try_hook(repo, "dbops-revision-filename", "migrations/versions/0002-Add Thing.py",
                      "migrations/versions/0001_first.py")
    assert result.returncode == 1
    assert "DB008 revision file name '0002-Add Thing.py' does not match revision_filename" in result.stdout
    assert "0001_first.py:1" not in result.stdout
    (versions / "0002-Add Thing.py").rename(versions / "0002_add_thing.py")
    result = try_hook(repo, "dbops-revision-filename", "migrations/versions/0002_add_thing.py")
    assert result.returncode == 0, result.stdout
