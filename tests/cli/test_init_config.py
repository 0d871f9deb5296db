"""`dbops init --config FILE` writes dbops's configuration into that file of the project (pyproject.toml
gets a [tool.dbops] table, the rest of the file untouched); `-q` prints only what was written."""
from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.helpers import REVISION_TEMPLATE

PYPROJECT = '[project]\nname = "shopfront"\nversion = "1.0"\n\n[tool.ruff]\nline-length = 100\n'


def test_new_project_config_in_pyproject(invoke: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    result = invoke("init", "--config", "pyproject.toml", "--metadata", "app.models:Base.metadata", "-q",
                    cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "pyproject.toml ([tool.dbops] added)" in result.stdout
    assert "Next:" not in result.stdout and not (tmp_path / "dbops.toml").exists()
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith(PYPROJECT)  # the project's own settings untouched
    data = tomllib.loads(text)
    assert data["tool"]["dbops"] == {"metadata": "app.models:Base.metadata", "script_location": "migrations"}
    assert data["tool"]["ruff"] == {"line-length": 100}
    assert "# [tool.dbops.targets.staging]" in text  # the commented examples are renamed too
    heads = invoke("heads", "--format", "json", cwd=tmp_path)  # dbops reads it from there
    assert heads.exit_code == 0 and json.loads(heads.stdout)["heads"] == []
    again = invoke("init", "--config", "pyproject.toml", cwd=tmp_path)
    assert again.exit_code == 1
    assert "pyproject.toml already holds dbops's configuration; nothing was written." in again.stderr


def test_config_outside_the_project_is_refused_before_anything_is_written(invoke: Callable[..., Result],
                                                                         tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    result = invoke("init", "--config", str(tmp_path / "elsewhere.toml"), cwd=project)
    assert result.exit_code == 1
    assert "must name a .toml file in the project directory" in result.stderr
    assert list(project.iterdir()) == [] and not (tmp_path / "elsewhere.toml").exists()


def test_existing_alembic_project_adopted_into_pyproject(invoke: Callable[..., Result], tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    command.init(Config(str(tmp_path / "alembic.ini")), str(tmp_path / "migrations"), template="generic")
    (tmp_path / "migrations" / "versions" / "0001.py").write_text(REVISION_TEMPLATE.format(
        doc="one", rev="0001", down=None, up="    pass", down_body="    pass"))
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    result = invoke("init", "--config", "pyproject.toml", "--format", "json", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["existing"] is True and report["created"] == ["pyproject.toml ([tool.dbops] added)"]
    assert report["found"]  # the JSON report stays whole
    assert "dbops" in tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]
    assert not (tmp_path / "dbops.toml").exists()
    heads = invoke("heads", "--format", "json", cwd=tmp_path)
    assert [h["revision"] for h in json.loads(heads.stdout)["heads"]] == ["0001"]


def test_init_at_the_repository_root_writes_beside_an_alembic_ini_one_level_down(
        invoke: Callable[..., Result], tmp_path: Path) -> None:
    """FastAPI-boilerplate keeps alembic.ini, migrations/ and its app package in src/ and runs alembic there.
    `dbops init` at the repository root wrote ./dbops.toml with alembic_ini = "src/alembic.ini", whose
    metadata could not be imported from the root. Now it writes src/dbops.toml, which dbops (and the pytest
    plugin) find from the root too."""
    from alembic import command
    from alembic.config import Config

    src = tmp_path / "repo" / "src"
    src.mkdir(parents=True)
    (tmp_path / "repo" / "pyproject.toml").write_text('[tool.poetry]\nname = "x"\n')
    command.init(Config(str(src / "alembic.ini")), str(src / "migrations"), template="generic")
    (src / "app").mkdir()
    (src / "app" / "__init__.py").write_text("")
    (src / "app" / "models.py").write_text("import sqlalchemy as sa\n\nmetadata = sa.MetaData()\n"
                                           "sa.Table('t', metadata, sa.Column('id', sa.Integer, primary_key=True))\n")
    env = src / "migrations" / "env.py"
    env.write_text(env.read_text().replace("target_metadata = None",
                                           "from app.models import metadata\ntarget_metadata = metadata"))
    done = invoke("init", "--format", "json", cwd=tmp_path / "repo")
    assert done.exit_code == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["directory"] == str(src)
    assert not (tmp_path / "repo" / "dbops.toml").exists()
    assert 'metadata = "app.models:metadata"' in (src / "dbops.toml").read_text()
    # from the root, the models import (from src/) and are compared: table t has no revision yet
    drift = invoke("check-drift", "--against", "migrations", "--format", "json", cwd=tmp_path / "repo")
    assert drift.exit_code == 3, drift.stdout + drift.stderr
    assert [(i["verdict"], i["kind"], i["name"]) for i in json.loads(drift.stdout)["items"]] == [
        ("missing_migration", "table", "t")]
