"""Config precedence and discovery (files only, no database)."""
from __future__ import annotations

from pathlib import Path

import pytest

from dbops.config import load_config
from dbops.errors import ConfigError


def _project(root: Path, toml: str = "", ini_url: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "migrations").mkdir(exist_ok=True)
    if toml:
        (root / "dbops.toml").write_text(toml)
    ini = "[alembic]\nscript_location = %(here)s/migrations\n"
    if ini_url:
        ini += f"sqlalchemy.url = {ini_url}\n"
    (root / "alembic.ini").write_text(ini)
    return root


def test_precedence_flag_env_config_ini_default(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", 'url = "sqlite:///from-config.db"\n', ini_url="sqlite:///from-ini.db")
    env = {"DATABASE_URL": "sqlite:///from-database-url.db", "DBOPS_DATABASE_URL": "sqlite:///from-dbops.db"}
    assert load_config(cwd=root, environ=env, database_url="sqlite:///flag.db").url == "sqlite:///flag.db"
    assert load_config(cwd=root, environ=env).url_source == "DBOPS_DATABASE_URL"
    env.pop("DBOPS_DATABASE_URL")
    assert load_config(cwd=root, environ=env).url == "sqlite:///from-database-url.db"
    config = load_config(cwd=root, environ={})
    assert (config.url, config.url_source) == ("sqlite:///from-config.db", "config")
    (root / "dbops.toml").write_text('metadata = "m:x"\n')
    config = load_config(cwd=root, environ={})
    assert (config.url, config.url_source) == ("sqlite:///from-ini.db", "alembic.ini")


def test_embedded_default_when_nothing_is_set(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", ini_url="driver://user:pass@localhost/dbname")
    config = load_config(cwd=root, environ={})
    assert config.url == f"sqlite:///{root / 'dbops.sqlite'}"
    assert config.uses_default_database


def test_env_prefix_reads_variable(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", 'url = "env:APP_DB"\n')
    assert load_config(cwd=root, environ={"APP_DB": "sqlite:///x.db"}).url == "sqlite:///x.db"
    with pytest.raises(ConfigError, match="the environment variable APP_DB is not set"):
        load_config(cwd=root, environ={})


def test_targets_and_target_beats_environment(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", (
        'metadata = "app.models:metadata"\n'
        '[targets.reporting]\nurl = "sqlite:///reporting.db"\nversion_table = "reporting_version"\n'
        'metadata = "app.reporting:metadata"\n'
    ))
    config = load_config(cwd=root, target="reporting", environ={"DATABASE_URL": "sqlite:///other.db"})
    assert config.url == "sqlite:///reporting.db"
    assert config.url_source == "target:reporting"
    assert config.version_table == "reporting_version"
    assert config.metadata == "app.reporting:metadata"
    with pytest.raises(ConfigError, match=r"Unknown target 'prod' \(known targets: reporting\)"):
        load_config(cwd=root, target="prod", environ={})


def test_pyproject_tool_table_and_search_upward(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "src" / "deep").mkdir(parents=True)
    (root / "db").mkdir()
    (root / "pyproject.toml").write_text('[tool.dbops]\nmetadata = "a:b"\nscript_location = "db"\n')
    config = load_config(cwd=root / "src" / "deep", environ={})
    assert config.config_file == root / "pyproject.toml"
    assert config.script_location == root / "db"
    assert config.metadata == "a:b"


def test_alembic_ini_below_repo_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _project(repo / "backend")
    config = load_config(cwd=repo, environ={})
    assert config.alembic_ini == repo / "backend" / "alembic.ini"
    assert config.script_location == repo / "backend" / "migrations"
    (repo / "dbops.toml").write_text('alembic_ini = "backend/alembic.ini"\n')
    assert load_config(cwd=repo, environ={}).script_location == repo / "backend" / "migrations"


def test_dbops_toml_below_repo_root(tmp_path: Path) -> None:
    """FastAPI-boilerplate's layout (session 8): pyproject.toml without [tool.dbops] at the repository root,
    alembic.ini and the dbops.toml `dbops init` wrote in src/. From the root (pytest's rootdir, CI) the
    plugin found alembic.ini one level down but not the dbops.toml beside it, and reported no metadata."""
    repo = tmp_path / "repo"
    _project(repo / "src")
    (repo / "pyproject.toml").write_text('[tool.poetry]\nname = "x"\n')
    (repo / "src" / "dbops.toml").write_text('metadata = "app.models:Base.metadata"\n')
    config = load_config(cwd=repo, environ={})
    assert config.config_file == repo / "src" / "dbops.toml" and config.root == repo / "src"
    assert config.metadata == "app.models:Base.metadata"
    assert config.script_location == repo / "src" / "migrations"
    (repo / "other").mkdir()
    (repo / "other" / "dbops.toml").write_text('metadata = "b:m"\n')  # two below: neither is guessed
    assert load_config(cwd=repo, environ={}).metadata is None


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", 'metdata = "typo:x"\n')
    with pytest.raises(ConfigError, match="Unknown dbops setting"):
        load_config(cwd=root, environ={})


def test_bad_toml(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "metadata = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(cwd=root, environ={})


def test_masked_url(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    config = load_config(cwd=root, environ={}, database_url="postgresql+psycopg://u:Sup3rS3cret@h/db")
    assert config.masked_url == "postgresql+psycopg://u:***@h/db"


def test_flask_migrate_layout_alembic_ini_inside_the_migrations_directory(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "alembic.ini").write_text("[alembic]\n")  # Flask-Migrate's: no script_location
    (migrations / "env.py").write_text("")
    config = load_config(config_path=migrations / "alembic.ini", cwd=tmp_path, environ={})
    assert config.script_location == migrations.resolve()


def test_lock_mode_is_checked(tmp_path: Path) -> None:
    (tmp_path / "dbops.toml").write_text('lock_mode = "sometimes"\n')
    with pytest.raises(ConfigError, match="lock_mode .* must be one of auto, session, lease"):
        load_config(cwd=tmp_path, environ={})
    assert load_config(cwd=tmp_path, environ={"DBOPS_LOCK_MODE": "lease"}).lock_mode == "lease"
