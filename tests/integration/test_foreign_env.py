"""dbops driving a project's own env.py: the stock `alembic init` env, and an env that takes its URL
from the app's settings (with a decoy database there). dbops must migrate the database it was
given, or refuse before any revision runs; steps and audit rows are observed whichever env ran."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import REVISION_TEMPLATE, empty_databases, execute

pytestmark = pytest.mark.postgres
SERVER = "host=127.0.0.1 user=postgres dbname=postgres"

SETTINGS = '''import os

print("loading the app's settings")  # apps do this; dbops's stdout must stay its result


class Settings:
    DATABASE_URI = os.environ.get("APP_DB", "postgresql+psycopg://postgres@127.0.0.1/{decoy}")


settings = Settings()
'''

# what many FastAPI templates do: the URL from the app's settings, not from alembic.ini
SETTINGS_ENV = '''from alembic import context
from sqlalchemy import engine_from_config, pool

from app_{tag}.config import settings

config = context.config


def run_migrations_online():
    section = config.get_section(config.config_ini_section) or {{}}
    section["sqlalchemy.url"] = settings.DATABASE_URI
    connectable = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
'''


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """(given, decoy) database names, both empty."""
    with empty_databases("dbops", ("given", "decoy")) as names:
        yield names["given"], names["decoy"]


def _url(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1/{name}"


def _tables(name: str) -> list[str]:
    return [t for (t,) in execute(_url(name), "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                              "ORDER BY 1")[0]]


def _project(root: Path, env_py: str | None, tag: str) -> Path:
    """alembic.ini + migrations/ made by Alembic's own `init` (generic template), two revisions."""
    from alembic import command
    from alembic.config import Config

    app = root / "proj"
    app.mkdir()
    cfg = Config(str(app / "alembic.ini"))
    command.init(cfg, str(app / "migrations"), template="generic")
    if env_py is not None:
        (app / "migrations" / "env.py").write_text(env_py)
    (app / f"app_{tag}").mkdir()
    (app / f"app_{tag}" / "__init__.py").write_text("")
    versions = app / "migrations" / "versions"
    (versions / "0001.py").write_text(REVISION_TEMPLATE.format(
        doc="widgets", rev="0001", down=None,
        up="    op.create_table('widgets', sa.Column('id', sa.Integer, primary_key=True))",
        down_body="    op.drop_table('widgets')"))
    (versions / "0002.py").write_text(REVISION_TEMPLATE.format(
        doc="color", rev="0002", down="0001", up="    op.add_column('widgets', sa.Column('color', sa.Text))",
        down_body="    op.drop_column('widgets', 'color')"))
    return app


def test_stock_env_migrates_the_database_dbops_was_given(invoke: Callable[..., Result], tmp_path: Path,
                                                        databases: tuple[str, str]) -> None:
    given, decoy = databases
    app = _project(tmp_path, None, uuid.uuid4().hex[:6])  # reads sqlalchemy.url: dbops sets it
    result = invoke("upgrade", "--database-url", _url(given), "--format", "json", cwd=app)
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert [s["revision"] for s in data["steps"]] == ["0001", "0002"]  # observed, though env.py is not dbops's
    assert data["to_revisions"] == ["0002"]
    assert "widgets" in _tables(given) and _tables(decoy) == []
    rows = execute(_url(given), "SELECT revision, outcome FROM dbops_history ORDER BY id")[0]
    assert rows == [("0001", "success"), ("0002", "success")]
    current = invoke("current", "--database-url", _url(given), "--check", cwd=app)
    assert current.exit_code == 0, current.stdout + current.stderr
    down = invoke("downgrade", "-1", "--database-url", _url(given), "--format", "json", cwd=app)
    assert [s["revision"] for s in json.loads(down.stdout)["steps"]] == ["0002"]


def test_env_with_its_own_url_is_refused_before_anything_runs(invoke: Callable[..., Result], tmp_path: Path,
                                                               databases: tuple[str, str]) -> None:
    given, decoy = databases
    tag = uuid.uuid4().hex[:6]
    app = _project(tmp_path, SETTINGS_ENV.format(tag=tag), tag)
    (app / f"app_{tag}" / "config.py").write_text(SETTINGS.format(decoy=decoy))
    given_url = f"postgresql+psycopg://postgres:hunter2@127.0.0.1/{given}"
    result = invoke("upgrade", "--database-url", given_url, "--format", "json", cwd=app)
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]  # parses: the app's print went to stderr
    assert "loading the app's settings" in result.stderr
    assert error["kind"] == "wrong_database"
    assert error["message"].startswith("The project's env.py connected to another database than the one dbops "
                                       "was given, so nothing was run.")
    assert f"database '{given}'" in error["message"] and f"database '{decoy}'" in error["message"]
    assert "hunter2" not in result.stdout + result.stderr
    assert _tables(decoy) == []  # the decoy was not touched
    assert "widgets" not in _tables(given)

    # the way out the message offers: take the URL from the app's settings
    (app / "dbops.toml").write_text(f'url = "py:app_{tag}.config:settings.DATABASE_URI"\n'
                                    'script_location = "migrations"\n')
    adopted = invoke("upgrade", "--format", "json", cwd=app)
    assert adopted.exit_code == 0, adopted.stdout + adopted.stderr
    assert [s["revision"] for s in json.loads(adopted.stdout)["steps"]] == ["0001", "0002"]
    assert "widgets" in _tables(decoy)  # the app's own database, as the app's settings say


def test_a_broken_py_url_is_one_paragraph(invoke: Callable[..., Result], tmp_path: Path) -> None:
    app = tmp_path / "broken"
    app.mkdir()
    (app / "dbops.toml").write_text('url = "py:no_such_module_xyz:settings.URL"\n')
    (app / "migrations" / "versions").mkdir(parents=True)
    (app / "dbops.toml").write_text('url = "py:no_such_module_xyz:settings.URL"\nscript_location = "migrations"\n')
    for offline in (("heads",), ("history",), ("lint",)):  # never need the app's settings
        assert invoke(*offline, cwd=app).exit_code == 0, invoke(*offline, cwd=app).stderr
    result = invoke("current", cwd=app)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: The database URL in the config file comes from "
                                    "'py:no_such_module_xyz:settings.URL', which failed: ModuleNotFoundError")
    assert "Traceback" not in result.stderr


def test_a_failure_reports_what_the_version_table_says(invoke: Callable[..., Result], tmp_path: Path,
                                                       databases: tuple[str, str]) -> None:
    given, _ = databases
    app = _project(tmp_path, None, uuid.uuid4().hex[:6])  # the stock env: one transaction for the whole run
    (app / "migrations" / "versions" / "0003.py").write_text(REVISION_TEMPLATE.format(
        doc="fails", rev="0003", down="0002", up="    op.execute('SELECT * FROM no_such_table')",
        down_body="    pass"))
    result = invoke("upgrade", "--database-url", _url(given), "--format", "json", cwd=app)
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    # the facts, structured, besides the sentence
    assert (error["current_revisions"], error["failed_revision"], error["applied"], error["reverted"]) == \
        ([], "0003", [], ["0001", "0002"])
    message = error["message"]
    assert message.startswith("Revision 0003 (fails) failed: ProgrammingError")
    assert message.endswith("The version table still says base (read after the failure): the 2 revision(s) this "
                            "run applied before it (0001, 0002) were rolled back with it, as env.py runs them in "
                            "one transaction.")
    assert "widgets" not in _tables(given)
    assert execute(_url(given), "SELECT count(*) FROM dbops_history WHERE outcome = 'success'")[0][0][0] == 0


def test_env_reading_cmd_opts_sees_what_the_alembic_cli_would_build(invoke: Callable[..., Result], tmp_path: Path,
                                                                    databases: tuple[str, str]) -> None:
    from alembic import command

    given, _ = databases
    app = _project(tmp_path, None, uuid.uuid4().hex[:6])
    env_py = app / "migrations" / "env.py"
    env_py.write_text("import sys\nfrom alembic import context\n"
                      "opts = context.config.cmd_opts\n"
                      "sys.stderr.write(f'cmd={opts.cmd[0].__name__} sql={getattr(opts, \"sql\", None)} '\n"
                      "                 f'revision={getattr(opts, \"revision\", None)} x={opts.x}\\n')\n"
                      + env_py.read_text())
    up = invoke("upgrade", "0001", "--database-url", _url(given), cwd=app)
    assert up.exit_code == 0, up.stderr
    assert "cmd=upgrade sql=False revision=0001 x=None" in up.stderr
    preview = invoke("upgrade", "--sql", "--database-url", _url(given), cwd=app)
    assert "cmd=upgrade sql=True revision=head" in preview.stderr
    current = invoke("current", "--database-url", _url(given), cwd=app)
    assert current.exit_code == 0 and "cmd=current" in current.stderr
    assert command.upgrade.__name__ == "upgrade"  # the function alembic's own CLI would have put there


NAMED_MODELS = '''import sqlalchemy as sa

metadata = sa.MetaData(naming_convention={
    "ck": "ck_%(table_name)s_%(constraint_name)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ix": "ix_%(table_name)s_%(column_0_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})
'''

NAMED_UP = """    op.create_table('parent', sa.Column('id', sa.Integer, primary_key=True),
                    sa.Column('code', sa.String(10), unique=True),
                    sa.CheckConstraint('id > 0', name='positive'))
    op.create_table('child', sa.Column('id', sa.Integer, primary_key=True),
                    sa.Column('parent_id', sa.Integer, sa.ForeignKey('parent.id')))
    op.create_index(None, 'child', ['parent_id'])"""

STOCK_WITH_METADATA = '''from alembic import context
from sqlalchemy import engine_from_config, pool
from {module}.models import metadata

config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section) or {{}}, prefix="sqlalchemy.",
                                 poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
'''


def test_dbops_env_emits_the_ddl_a_stock_env_emits(invoke: Callable[..., Result], tmp_path: Path,
                                                    databases: tuple[str, str]) -> None:
    """Naming conventions come from target_metadata: dbops's own env must pass it while upgrading."""
    import subprocess
    import sys

    ours, stock = databases
    tag = uuid.uuid4().hex[:6]
    module = f"named_{tag}"
    built: dict[str, list[tuple[str, str]]] = {}
    for kind, name in (("dbops", ours), ("stock", stock)):
        app = tmp_path / kind
        (app / module).mkdir(parents=True)
        (app / module / "__init__.py").write_text("")
        (app / module / "models.py").write_text(NAMED_MODELS)
        versions = app / "migrations" / "versions"
        versions.mkdir(parents=True)
        (versions / "0001.py").write_text(REVISION_TEMPLATE.format(
            doc="named things", rev="0001", down=None, up=NAMED_UP,
            down_body="    op.drop_table('child')\n    op.drop_table('parent')"))
        (app / "alembic.ini").write_text(f"[alembic]\nscript_location = migrations\nsqlalchemy.url = {_url(name)}\n")
        if kind == "dbops":
            (app / "migrations" / "env.py").write_text("from dbops.alembic_env import run_migrations\n"
                                                       "run_migrations()\n")
            (app / "dbops.toml").write_text(f'metadata = "{module}.models:metadata"\nscript_location = "migrations"\n')
            result = invoke("upgrade", "--database-url", _url(name), cwd=app)
            assert result.exit_code == 0, result.stderr
        else:
            (app / "migrations" / "env.py").write_text(STOCK_WITH_METADATA.format(module=module))
            done = subprocess.run([str(Path(sys.executable).with_name("alembic")), "upgrade", "head"], cwd=app,
                                  capture_output=True, text=True, env={"PATH": "/usr/bin", "PYTHONPATH": str(app)})
            assert done.returncode == 0, done.stdout + done.stderr
        rows = execute(_url(name), "SELECT conrelid::regclass::text, conname FROM pg_constraint "
                                   "WHERE connamespace = 'public'::regnamespace UNION ALL "
                                   "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'")[0]
        built[kind] = sorted(r for r in rows if not r[0].startswith("dbops_"))  # dbops's own audit table aside
    assert built["dbops"] == built["stock"]
    assert ("parent", "ck_parent_positive") in built["dbops"] and ("parent", "uq_parent_code") in built["dbops"]


STOCK_WITH_FILTER = '''from alembic import context
from sqlalchemy import engine_from_config, pool
from {module}.models import metadata


def include_object(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and name.startswith("legacy_"))  # the app's own filter


config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section) or {{}}, prefix="sqlalchemy.",
                                 poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()
'''

DBOPS_WITH_FILTER = '''from dbops.alembic_env import run_migrations


def include_object(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and name.startswith("legacy_"))


run_migrations(include_object=include_object)
'''


@pytest.mark.parametrize("style", ["stock", "dbops"])
def test_autogenerate_never_proposes_dropping_dbops_tables(invoke: Callable[..., Result], tmp_path: Path,
                                                           databases: tuple[str, str], style: str) -> None:
    given, _ = databases
    module = f"filt_{uuid.uuid4().hex[:6]}"
    app = tmp_path / "filtered"
    (app / module).mkdir(parents=True)
    (app / module / "__init__.py").write_text("")
    (app / module / "models.py").write_text("import sqlalchemy as sa\nmetadata = sa.MetaData()\n"
                                            "sa.Table('widgets', metadata, sa.Column('id', sa.Integer, "
                                            "primary_key=True))\n")
    versions = app / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "0001.py").write_text(REVISION_TEMPLATE.format(
        doc="widgets", rev="0001", down=None,
        up="    op.create_table('widgets', sa.Column('id', sa.Integer, primary_key=True))",
        down_body="    op.drop_table('widgets')"))
    (app / "migrations" / "script.py.mako").write_text((Path(__file__).parents[2] / "migrations" /
                                                        "script.py.mako").read_text())
    (app / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")
    (app / "migrations" / "env.py").write_text(STOCK_WITH_FILTER.format(module=module) if style == "stock"
                                               else DBOPS_WITH_FILTER)
    (app / "dbops.toml").write_text(f'metadata = "{module}.models:metadata"\nscript_location = "migrations"\n')
    assert invoke("upgrade", "--database-url", _url(given), cwd=app).exit_code == 0
    execute(_url(given), "CREATE TABLE legacy_stuff (id int)")  # the app's filter must still apply
    assert {"dbops_history", "legacy_stuff"} <= set(_tables(given))
    rev = invoke("revision", "--autogenerate", "-m", "nothing", "--database-url", _url(given), "--format", "json",
                 cwd=app)
    assert rev.exit_code == 0, rev.stdout + rev.stderr
    assert json.loads(rev.stdout)["changes"] == []  # neither dbops_history nor legacy_stuff proposed for drop


APP_WITH_CONTEXT = '''import contextlib
import contextvars

current = contextvars.ContextVar("current_app")


class App:
    def __init__(self, url):
        self.url = url

    @contextlib.contextmanager
    def app_context(self):
        token = current.set(self)
        try:
            yield self
        finally:
            current.reset(token)


app = App("{url}")
'''

ENV_NEEDING_CONTEXT = '''from alembic import context
from sqlalchemy import create_engine, pool

from {module}.app import current

app = current.get(None)
if app is None:
    raise RuntimeError("Working outside of application context.")  # what Flask-Migrate's env.py hits
with create_engine(app.url, poolclass=pool.NullPool).connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''


def test_env_context_runs_env_py_inside_the_apps_context(invoke: Callable[..., Result], tmp_path: Path,
                                                         databases: tuple[str, str]) -> None:
    given, _ = databases
    tag = uuid.uuid4().hex[:6]
    module = f"app_{tag}"
    app = _project(tmp_path, ENV_NEEDING_CONTEXT.format(module=module), tag)
    (app / module / "app.py").write_text(APP_WITH_CONTEXT.format(url=_url(given)))
    outside = invoke("upgrade", "--database-url", _url(given), cwd=app)
    assert outside.exit_code == 1 and "Working outside of application context" in outside.stderr
    (app / "dbops.toml").write_text(f'script_location = "migrations"\nenv_context = "{module}.app:app.app_context"\n')
    inside = invoke("upgrade", "--database-url", _url(given), "--format", "json", cwd=app)
    assert inside.exit_code == 0, inside.stdout + inside.stderr
    assert [s["revision"] for s in json.loads(inside.stdout)["steps"]] == ["0001", "0002"]
    assert "widgets" in _tables(given)


BOOTSTRAP = '''import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("things", metadata, sa.Column("id", sa.Integer, primary_key=True), schema="ext")


def bootstrap(connection):
    connection.execute(sa.text("CREATE SCHEMA IF NOT EXISTS ext"))  # made by the app, outside Alembic
'''


def test_bootstrap_prepares_an_empty_database_and_scratch_replays(invoke: Callable[..., Result], tmp_path: Path,
                                                                   databases: tuple[str, str]) -> None:
    given, _ = databases
    module = f"boot_{uuid.uuid4().hex[:6]}"
    app = tmp_path / "boot"
    (app / module).mkdir(parents=True)
    (app / module / "__init__.py").write_text("")
    (app / module / "db.py").write_text(BOOTSTRAP)
    versions = app / "migrations" / "versions"
    versions.mkdir(parents=True)
    (app / "migrations" / "env.py").write_text("from dbops.alembic_env import run_migrations\nrun_migrations()\n")
    (versions / "0001.py").write_text(REVISION_TEMPLATE.format(
        doc="things in ext", rev="0001", down=None,
        up="    op.create_table('things', sa.Column('id', sa.Integer, primary_key=True), schema='ext')",
        down_body="    op.drop_table('things', schema='ext')"))
    toml = f'metadata = "{module}.db:metadata"\nscript_location = "migrations"\n'
    (app / "dbops.toml").write_text(toml)
    without = invoke("upgrade", "--database-url", _url(given), cwd=app)
    assert without.exit_code == 1 and 'schema "ext" does not exist' in without.stderr
    (app / "dbops.toml").write_text(toml + f'bootstrap = "{module}.db:bootstrap"\n')
    done = invoke("upgrade", "--database-url", _url(given), cwd=app)
    assert done.exit_code == 0, done.stderr
    assert execute(_url(given), "SELECT to_regclass('ext.things') IS NOT NULL")[0][0][0]
    drift = invoke("check-drift", "--against", "migrations", "--database-url", _url(given), cwd=app)
    assert drift.exit_code == 0, drift.stdout + drift.stderr  # the scratch replay was bootstrapped too


# an app env.py with a pooled engine (the connection outlives the run in the pool) and a revision that
# records what its own session looks like while it runs
POOLED_ENV = '''from alembic import context
from sqlalchemy import create_engine

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"))  # QueuePool: the connection stays pooled
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''

SELF_REPORT_UP = """    op.execute("CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout, "
               "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks")"""


def test_a_foreign_env_gets_dbops_timeouts_and_session_lock(invoke: Callable[..., Result], tmp_path: Path,
                                                            databases: tuple[str, str]) -> None:
    given, _ = databases
    app = _project(tmp_path, POOLED_ENV, uuid.uuid4().hex[:6])
    (app / "migrations" / "versions" / "0003.py").write_text(REVISION_TEMPLATE.format(
        doc="self report", rev="0003", down="0002", up=SELF_REPORT_UP, down_body="    op.drop_table('seen')"))
    up = invoke("upgrade", "--database-url", _url(given), "--format", "json", cwd=app)
    assert up.exit_code == 0, up.stdout + up.stderr
    # while it ran: dbops's lock_timeout (5 s default) and its session lock, on env.py's own session
    assert execute(_url(given), "SELECT lock_timeout, locks FROM seen")[0] == [("5s", 1)]
    # after it: no advisory lock left on any session of the database, though env.py's pool kept its connection
    leftover = "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database " \
               "WHERE l.locktype = 'advisory' AND d.datname = current_database()"
    assert execute(_url(given), leftover)[0] == [(0,)]
    again = invoke("downgrade", "-1", "--database-url", _url(given), "--format", "json", cwd=app)
    assert again.exit_code == 0, again.stdout + again.stderr  # not refused by a lock the last run left
    assert [s["revision"] for s in json.loads(again.stdout)["steps"]] == ["0003"]
    assert execute(_url(given), leftover)[0] == [(0,)]


def test_x_arguments_reach_env_py_as_with_alembic(invoke: Callable[..., Result], tmp_path: Path,
                                                 databases: tuple[str, str]) -> None:
    given, _ = databases
    app = _project(tmp_path, None, uuid.uuid4().hex[:6])
    env_py = app / "migrations" / "env.py"
    env_py.write_text("import sys\nfrom alembic import context\n"
                      "sys.stderr.write(f'x={context.get_x_argument(as_dictionary=True)}\\n')\n" + env_py.read_text())
    up = invoke("upgrade", "-x", "tenant=acme", "-x", "dry=1", "--database-url", _url(given), cwd=app)
    assert up.exit_code == 0, up.stderr
    assert "x={'tenant': 'acme', 'dry': '1'}" in up.stderr
    plain = invoke("current", "--database-url", _url(given), cwd=app)
    assert "x={}" in plain.stderr


# an env that moves the version table behind Alembic's back after the run
MOVING_ENV = '''from alembic import context
from sqlalchemy import engine_from_config, pool, text

config = context.config
engine = engine_from_config(config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.",
                            poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
    if not context.is_offline_mode() and context.get_context().get_current_heads() == ("0002",):
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        connection.commit()
'''


def test_what_the_run_observed_is_checked_against_the_version_table(invoke: Callable[..., Result],
                                                                    tmp_path: Path,
                                                                    databases: tuple[str, str]) -> None:
    given, _ = databases
    app = _project(tmp_path, MOVING_ENV, uuid.uuid4().hex[:6])
    up = invoke("upgrade", "--database-url", _url(given), "--format", "json", cwd=app)
    assert up.exit_code == 0, up.stdout + up.stderr
    assert json.loads(up.stdout)["warnings"] == [
        "the version table says 0001 after the run, but the run observed 0002; check with: dbops current"]


# Alembic's cookbook: use a connection handed in through config.attributes, else the app's own URL
COOKBOOK_ENV = '''from alembic import context
from sqlalchemy import create_engine, pool

from app_{tag}.config import settings
from app_{tag}.models import metadata

config = context.config


def run(connection):
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


connectable = config.attributes.get("connection", None)
if connectable is None:
    with create_engine(settings.DATABASE_URI, poolclass=pool.NullPool).connect() as connection:
        run(connection)
else:
    run(connectable)
'''


def test_an_env_that_takes_a_handed_in_connection_gets_one(invoke: Callable[..., Result], tmp_path: Path,
                                                          databases: tuple[str, str]) -> None:
    """The app's settings name the decoy, but the env honours config.attributes["connection"]: dbops
    hands it one to the database it was given, so upgrade, current and check-drift's replay all work."""
    given, decoy = databases
    tag = uuid.uuid4().hex[:6]
    app = _project(tmp_path, COOKBOOK_ENV.format(tag=tag), tag)
    (app / f"app_{tag}" / "config.py").write_text(SETTINGS.format(decoy=decoy))
    (app / f"app_{tag}" / "models.py").write_text(
        "import sqlalchemy as sa\nmetadata = sa.MetaData()\n"
        "sa.Table('widgets', metadata, sa.Column('id', sa.Integer, primary_key=True), sa.Column('color', sa.Text))\n")
    (app / "dbops.toml").write_text(f'script_location = "migrations"\nmetadata = "app_{tag}.models:metadata"\n')
    up = invoke("upgrade", "--database-url", _url(given), "--format", "json", cwd=app)
    assert up.exit_code == 0, up.stdout + up.stderr
    assert [s["revision"] for s in json.loads(up.stdout)["steps"]] == ["0001", "0002"]
    assert "widgets" in _tables(given) and _tables(decoy) == []
    assert invoke("current", "--check", "--database-url", _url(given), cwd=app).exit_code == 0
    drift = invoke("check-drift", "--database-url", _url(given), "--format", "json", cwd=app)
    assert drift.exit_code == 0, drift.stdout + drift.stderr
    rev = invoke("revision", "--autogenerate", "-m", "none", "--database-url", _url(given), "--format", "json",
                 cwd=app)
    assert rev.exit_code == 0, rev.stdout + rev.stderr
    assert json.loads(rev.stdout)["changes"] == []
    assert _tables(decoy) == []
    leftover = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    assert execute(_url(given), leftover)[0] == [(0,)]  # the handed connection was closed


FILTERING_ENV = '''from alembic import context
from sqlalchemy import engine_from_config, pool

from {module}.models import metadata


def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and (name.startswith("legacy_") or obj.info.get("managed_elsewhere")):
        return False
    return not (type_ == "column" and name == "search_vector")  # maintained by a trigger the app owns


def include_name(name, type_, parent_names):
    return not (type_ == "index" and name.startswith("pgroonga_"))


config = context.config
connectable = engine_from_config(config.get_section(config.config_ini_section) or {{}}, prefix="sqlalchemy.",
                                 poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, include_object=include_object,
                      include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()
'''

FILTERED_MODELS = '''import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("widgets", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("color", sa.Text))
# a table the app declares but another tool creates: no revision makes it
sa.Table("spatial_ref_sys", metadata, sa.Column("srid", sa.Integer, primary_key=True),
         info={"managed_elsewhere": True})
'''


def _filtered_app(invoke: Callable[..., Result], tmp_path: Path, env_py: str, models: str, given: str) -> Path:
    """The two-revision project with this env.py and models, upgraded on ``given``."""
    tag = uuid.uuid4().hex[:6]
    module = f"app_{tag}"
    app = _project(tmp_path, env_py.format(module=module), tag)
    (app / module / "models.py").write_text(models)
    (app / "dbops.toml").write_text(f'script_location = "migrations"\nmetadata = "{module}.models:metadata"\n')
    assert invoke("upgrade", "--database-url", _url(given), cwd=app).exit_code == 0
    return app


def test_check_drift_honours_the_envs_include_object_and_include_name(invoke: Callable[..., Result],
                                                                      tmp_path: Path,
                                                                      databases: tuple[str, str]) -> None:
    given, _ = databases
    app = _filtered_app(invoke, tmp_path, FILTERING_ENV, FILTERED_MODELS, given)
    execute(_url(given), "CREATE TABLE legacy_orders (id int)",  # what the app's filters keep out
            "ALTER TABLE widgets ADD COLUMN search_vector tsvector",
            "CREATE INDEX pgroonga_widgets ON widgets (color)")
    for against in ("both", "database", "migrations"):
        result = invoke("check-drift", "--against", against, "--database-url", _url(given), "--format", "json",
                        cwd=app)
        assert result.exit_code == 0, (against, result.stdout, result.stderr)
        assert json.loads(result.stdout)["items"] == []
    execute(_url(given), "ALTER TABLE widgets ADD COLUMN hack int")  # not filtered: still caught
    caught = invoke("check-drift", "--database-url", _url(given), "--format", "json", cwd=app)
    assert caught.exit_code == 3
    assert [(i["verdict"], i["name"]) for i in json.loads(caught.stdout)["items"]] == [("out_of_band", "hack")]


# Prefect 3.1's include_object (session 8): it looks at `reflected` and at `compare_to`, as Alembic passes them
PREFECT_FILTER_ENV = FILTERING_ENV.replace('''def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and (name.startswith("legacy_") or obj.info.get("managed_elsewhere")):
        return False
    return not (type_ == "column" and name == "search_vector")  # maintained by a trigger the app owns''',
                                           '''def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "index":
        if not reflected:
            if name.endswith(("asc", "desc")):  # the models' index, when the database has one of that name
                return compare_to is None or obj.name != compare_to.name
        elif name.endswith("case_insensitive"):  # the database's, when it is not the models'
            return False
    return True''')

SORTED_MODELS = '''import sqlalchemy as sa

metadata = sa.MetaData()
widgets = sa.Table("widgets", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("color", sa.Text))
sa.Index("ix_widgets_color_desc", widgets.c.color.desc())
sa.Index("ix_widgets_id_asc", widgets.c.id.asc())
'''


def test_check_drift_calls_the_hooks_as_alembic_does(invoke: Callable[..., Result], tmp_path: Path,
                                                     databases: tuple[str, str]) -> None:
    """`reflected` is True for what was read from a database (the live one, the replays) and an object both
    sides have is given with the database's as `compare_to`: Prefect's filter then hides what it means to
    hide (before: 'ix_..._case_insensitive is not in the reference', '..._desc: (color), expected (colordesc)'),
    and an index only the models have is still reported."""
    given, _ = databases
    app = _filtered_app(invoke, tmp_path, PREFECT_FILTER_ENV, SORTED_MODELS, given)
    execute(_url(given), "CREATE INDEX ix_widgets_color_desc ON widgets (color)",  # no DESC: the filter hides it
            "CREATE INDEX ix_widgets_color_case_insensitive ON widgets (lower(color))")
    result = invoke("check-drift", "--against", "database", "--database-url", _url(given), "--format", "json",
                    cwd=app)
    assert result.exit_code == 3, result.stdout + result.stderr
    items = json.loads(result.stdout)["items"]
    assert [(i["kind"], i["change"], i["name"]) for i in items] == [("index", "missing", "ix_widgets_id_asc")], items
