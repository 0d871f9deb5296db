"""check-drift and squash replay the chain into a scratch database through the project's own env.py. An
env.py that ignores sqlalchemy.url and connects where the app's settings say (Prefect's, session 8) is
refused before any revision runs. When dbops read the URL from an environment variable, the replay is
retried in a child process whose variable names the scratch database; the child's own check still
refuses an env.py that reads another variable. The app caches its settings at import time, as real apps
do, so an in-process retry could never work."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import execute, models_app

pytestmark = pytest.mark.postgres

MODELS = '''import sqlalchemy as sa

metadata = sa.MetaData()
events = sa.Table("events", metadata, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("kind", sa.Text, nullable=False, server_default="new"))
sa.Index("ix_events_kind", events.c.kind)
'''

UP = '''    op.create_table("events", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("kind", sa.Text, nullable=False, server_default="new"))
    op.create_index("ix_events_kind", "events", ["kind"])'''

# the URL from the app's settings, read once at import (Prefect, mealie, FastAPI templates)
ENV_PY = '''from alembic import context
from sqlalchemy import create_engine, pool

from {module}.settings import URL
from {module}.models import metadata

with create_engine(URL, poolclass=pool.NullPool).connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
'''


def _app(tmp_path: Path, variable: str, toml: str = "") -> Path:
    app, module = models_app(tmp_path, "envvar", MODELS, [("0001", None, "events", UP, "    op.drop_table('events')")],
                             toml)
    (app / module / "settings.py").write_text(f"import os\n\nURL = os.environ[{variable!r}]\n")
    (app / "migrations" / "env.py").write_text(ENV_PY.format(module=module))
    return app


# mealie's settings refuse anything but "postgresql://" in POSTGRES_URL_OVERRIDE, then pick the driver
STRICT_SETTINGS = """import os

URL = os.environ["APP_DATABASE_URL"]
if not URL.startswith("postgresql://"):
    raise ValueError("APP_DATABASE_URL scheme must be postgresql")
URL = "postgresql+psycopg://" + URL.split("://", 1)[1]
"""


@pytest.mark.parametrize("scheme", ["driver", "bare"])
def test_a_url_from_env_var_is_replayed_with_the_variable_naming_the_scratch_database(
        invoke: Callable[..., Result], tmp_path: Path, pg_psycopg_url: str, scheme: str) -> None:
    """``bare``: the variable holds ``postgresql://`` and the app refuses any other scheme (mealie): the
    scratch URL handed to the child is written with the variable's own driver part."""
    app = _app(tmp_path, "APP_DATABASE_URL", 'url = "env:APP_DATABASE_URL"\n')
    url = pg_psycopg_url
    if scheme == "bare":
        url = "postgresql://" + pg_psycopg_url.split("://", 1)[1]
        module = next(p for p in app.iterdir() if p.name.startswith("envvar_"))
        (module / "settings.py").write_text(STRICT_SETTINGS)
    env = {"APP_DATABASE_URL": url}
    assert invoke("upgrade", cwd=app, env=env).exit_code == 0
    clean = invoke("check-drift", "--format", "json", cwd=app, env=env)
    assert clean.exit_code == 0, clean.stdout + clean.stderr
    report = json.loads(clean.stdout)
    assert report["against"] == "both" and report["items"] == []
    execute(pg_psycopg_url, "DROP INDEX ix_events_kind")  # a real difference, made out of band
    drift = invoke("check-drift", "--format", "json", cwd=app, env=env)
    assert drift.exit_code == 3, drift.stdout + drift.stderr
    assert [(i["verdict"], i["name"]) for i in json.loads(drift.stdout)["items"]] == [("out_of_band",
                                                                                      "ix_events_kind")]
    # the live database was only read: still at 0001, and no scratch database was left behind
    assert execute(pg_psycopg_url, "SELECT version_num FROM alembic_version")[0] == [("0001",)]


def test_without_an_env_var_url_the_replay_is_still_refused(invoke: Callable[..., Result], tmp_path: Path,
                                                             pg_psycopg_url: str) -> None:
    app = _app(tmp_path, "APP_DATABASE_URL")
    env = {"APP_DATABASE_URL": pg_psycopg_url}
    assert invoke("upgrade", "--database-url", pg_psycopg_url, cwd=app, env=env).exit_code == 0
    refused = invoke("check-drift", "--database-url", pg_psycopg_url, cwd=app, env=env)
    assert refused.exit_code == 1
    assert "the project's env.py connected elsewhere, so the replay was refused" in refused.stderr


def test_the_child_refuses_an_env_py_that_reads_another_variable(invoke: Callable[..., Result], tmp_path: Path,
                                                                 pg_psycopg_url: str) -> None:
    """dbops read DATABASE_URL, the app reads APP_DATABASE_URL: the child's env.py still connects to the live
    database, and its check refuses before any revision runs there."""
    app = _app(tmp_path, "APP_DATABASE_URL")
    env = {"APP_DATABASE_URL": pg_psycopg_url, "DATABASE_URL": pg_psycopg_url}
    assert invoke("upgrade", cwd=app, env=env).exit_code == 0
    before = execute(pg_psycopg_url, "SELECT count(*) FROM dbops_history")[0]
    refused = invoke("check-drift", "--format", "json", cwd=app, env=env)
    assert refused.exit_code == 1, refused.stdout
    assert json.loads(refused.stdout)["error"]["type"] == "WrongDatabase"
    assert "connected to another database than the one dbops was given" in refused.stderr
    assert execute(pg_psycopg_url, "SELECT count(*) FROM dbops_history")[0] == before
