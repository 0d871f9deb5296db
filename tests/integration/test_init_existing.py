"""`dbops init` in a project that already has Alembic: only dbops.toml is written, from what env.py
and alembic.ini say; the project's own `alembic` keeps working; dbops then runs with that file."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import REVISION_TEMPLATE, execute
from tests.integration.test_env_zoo import STYLES, dbs, make_project, url, user_tables  # noqa: F401  (dbs: fixture)

pytestmark = pytest.mark.postgres

# full-stack-fastapi-template's shape: the URL from a helper that reads the app's settings
TEMPLATE_ENV = '''from alembic import context
from sqlalchemy import engine_from_config, pool

from {module}.config import settings  # noqa
from {module}.models import metadata  # noqa

config = context.config
target_metadata = metadata


def get_url():
    return str(settings.DATABASE_URI)


def run_migrations_online():
    configuration = config.get_section(config.config_ini_section)
    configuration["sqlalchemy.url"] = get_url()
    connectable = engine_from_config(configuration, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
'''


def _digest(app: Path) -> dict[str, str]:
    return {str(p.relative_to(app)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(app.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def test_init_adopts_a_settings_url_project_and_alembic_still_works(invoke: Callable[..., Result], tmp_path: Path,
                                                                    dbs: dict[str, str]) -> None:  # noqa: F811
    style = next(s for s in STYLES if s.name == "generic")
    app, module = make_project(tmp_path, style, dbs["decoy"])
    (app / "dbops.toml").unlink()
    (app / "migrations" / "env.py").write_text(TEMPLATE_ENV.format(module=module))
    before = _digest(app)
    done = invoke("init", "--format", "json", cwd=app)
    assert done.exit_code == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["existing"] is True and report["created"] == ["dbops.toml"]
    assert f"URL: env.py takes it from {module}.config:settings.DATABASE_URI, not from alembic.ini; dbops takes it " \
           "from the same place" in report["found"]
    assert any(step.startswith("check-drift replays the chain into a scratch database")
               for step in report["next_steps"])
    (hint,) = [step for step in report["next_steps"] if step.startswith("dbops keeps its tables in this database")]
    after = _digest(app)
    assert {k: v for k, v in after.items() if k != "dbops.toml"} == before  # nothing else written
    toml = (app / "dbops.toml").read_text()
    assert f'url = "py:{module}.config:settings.DATABASE_URI"' in toml
    assert f'metadata = "{module}.models:metadata"' in toml

    # dbops now migrates the app's own database, as the settings name it
    env = {"ZOO_APP_DB": url(dbs["given"])}
    up = invoke("upgrade", "--format", "json", cwd=app, env=env)
    assert up.exit_code == 0, up.stdout + up.stderr
    assert [s["revision"] for s in json.loads(up.stdout)["steps"]] == ["0001", "0002"]
    live = invoke("check-drift", "--against", "database", "--format", "json", cwd=app, env=env)
    assert live.exit_code == 0 and json.loads(live.stdout)["clean"] is True, live.stdout + live.stderr
    again = invoke("init", cwd=app)
    assert again.exit_code == 1 and "already holds dbops's configuration; nothing was written" in again.stderr

    # the app's own `alembic` (startup scripts, CI) still works, on its own settings
    down = subprocess.run([sys.executable, "-m", "alembic", "downgrade", "base"], cwd=app, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(app), **env})
    assert down.returncode == 0, down.stderr
    plain = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=app, capture_output=True,
                           text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(app), **env})
    assert plain.returncode == 0, plain.stderr
    assert execute(url(dbs["given"]), "SELECT version_num FROM alembic_version")[0] == [("0002",)]
    assert user_tables(dbs["decoy"]) == []

    # the team's own `alembic check` sees dbops's audit table as a removed table until env.py keeps it
    # out, with the line init suggested (taken from its hint, so the hint is code that works)
    check = [sys.executable, "-m", "alembic", "check"]
    plain_env = {**os.environ, "PYTHONPATH": str(app), **env}
    seen = subprocess.run(check, cwd=app, capture_output=True, text=True, timeout=120, env=plain_env)
    said = seen.stdout + seen.stderr
    assert seen.returncode != 0 and "remove_table" in said and "dbops_history" in said
    include_name = hint.split("context.configure(): ")[1].split("  (combine")[0]
    env_py = app / "migrations" / "env.py"
    env_py.write_text(env_py.read_text().replace("target_metadata=target_metadata)",
                                                 f"target_metadata=target_metadata, {include_name})"))
    clean = subprocess.run(check, cwd=app, capture_output=True, text=True, timeout=120, env=plain_env)
    assert clean.returncode == 0, clean.stderr
    assert "No new upgrade operations detected" in clean.stdout + clean.stderr
    (app / "dbops.toml").unlink()
    assert not any(step.startswith("dbops keeps its tables") for step in
                   json.loads(invoke("init", "--format", "json", cwd=app).stdout)["next_steps"])


ENVIRON_ENV = '''import os
from alembic import context
from sqlalchemy import create_engine, pool

with create_engine(os.environ["APP_DATABASE_URL"], poolclass=pool.NullPool).connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''


# igorbenav/FastAPI-boilerplate's shape (session 8): the URL set from an f-string of the app's settings, over
# alembic.ini's placeholder; the models registered by a helper that walks the models package
BOILERPLATE_ENV = '''import importlib
import pkgutil

from alembic import context
from app_b.core.config import settings
from app_b.core.db import Base

config = context.config
config.set_main_option(
    "sqlalchemy.url",
    f"{settings.POSTGRES_ASYNC_PREFIX}{settings.POSTGRES_USER}:{settings.POSTGRES_PASSWORD}@{settings.POSTGRES_SERVER}",
)


def import_models(package_name):
    package = importlib.import_module(package_name)
    for _, module_name, _ in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module_name)


import_models("app_b.models")
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
'''


@pytest.mark.parametrize("kind", ["environ", "flask", "heads", "dbops_env", "tenant_loop", "boilerplate"])
def test_init_says_what_it_found(invoke: Callable[..., Result], tmp_path: Path, kind: str) -> None:
    from alembic import command
    from alembic.config import Config

    app = tmp_path / "proj"
    app.mkdir()
    command.init(Config(str(app / "alembic.ini")), str(app / "migrations"), template="generic")
    env_py = app / "migrations" / "env.py"
    versions = app / "migrations" / "versions"
    (versions / "0001.py").write_text(REVISION_TEMPLATE.format(doc="one", rev="0001", down=None, up="    pass",
                                                               down_body="    pass"))
    if kind == "environ":
        env_py.write_text(ENVIRON_ENV)
    elif kind == "flask":
        env_py.write_text("from flask import current_app\nfrom alembic import context\n"
                          "config = context.config\n"
                          "config.set_main_option('sqlalchemy.url',\n"
                          "                       current_app.config.get('SQLALCHEMY_DATABASE_URI'))\n"
                          "target_metadata = current_app.extensions['migrate'].db.metadata\n")
    elif kind == "heads":
        (versions / "0002a.py").write_text(REVISION_TEMPLATE.format(doc="a", rev="0002a", down="0001", up="    pass",
                                                                    down_body="    pass"))
        (versions / "0002b.py").write_text(REVISION_TEMPLATE.format(doc="b", rev="0002b", down="0001", up="    pass",
                                                                    down_body="    pass"))
    elif kind == "dbops_env":
        env_py.write_text("from dbops.alembic_env import run_migrations\nrun_migrations()\n")
    elif kind == "tenant_loop":
        env_py.write_text(STYLES[-1].env.format(module="app_x"))
    elif kind == "boilerplate":
        env_py.write_text(BOILERPLATE_ENV)
        (app / "app_b" / "models").mkdir(parents=True)
    env_before = env_py.read_text()
    done = invoke("init", "--format", "json", cwd=app)
    assert done.exit_code == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    found, steps, toml = report["found"], report["next_steps"], (app / "dbops.toml").read_text()
    assert env_py.read_text() == env_before
    if kind == "environ":
        assert 'url = "env:APP_DATABASE_URL"' in toml
        assert any("env.py takes it from env:APP_DATABASE_URL" in f for f in found)
        # replays set APP_DATABASE_URL in a child process (tests/drift/test_replay_env_var.py): no env.py change
        assert any("in a child process whose APP_DATABASE_URL names it" in f for f in found)
        assert not any(s.startswith("check-drift replays the chain") for s in steps) and "dbops check-drift" in steps
    elif kind == "flask":
        assert "Flask-Migrate env.py: it needs the app's context (current_app)" in found
        assert any(s.startswith("Set env_context in dbops.toml") for s in steps)
        assert any(s.startswith("Set url in dbops.toml to where env.py's `current_app.config.get(") for s in steps)
        assert "# env_context = " in toml
    elif kind == "heads":
        assert any(f.startswith("2 heads (0002a, 0002b)") for f in found)
    elif kind == "dbops_env":
        assert "env.py: dbops's own (dbops.alembic_env)" in found
    elif kind == "tenant_loop":
        assert any(f.startswith("env.py picks its version table's schema at run time") for f in found)
    elif kind == "boilerplate":
        assert 'metadata = "app_b.core.db:Base.metadata"' in toml and 'metadata_imports = ["app_b.models"]' in toml
        # its later get_main_option("sqlalchemy.url") reads the value it set: no scratch replay is possible
        assert "dbops check-drift --against database   # models vs the live database" in steps
        assert any(s.startswith("check-drift replays the chain") and "empty sqlalchemy.url in alembic.ini (now "
                   "driver://...)" in s for s in steps), steps
    assert found[0].startswith("alembic.ini: alembic.ini; revisions in migrations (")
