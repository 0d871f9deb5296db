"""The env.py zoo: dbops driving env.py files written the ways real projects write them.

Each style gets a project made by Alembic's own ``init`` (its template, then the project's edits),
models that print on import (apps do), two revisions, and three databases: the one dbops is given,
a decoy (where the project's alembic.ini points), and a reference migrated by plain Alembic. For
each verb, dbops must leave the given database exactly as plain Alembic leaves the reference
(``pg_dump --schema-only``, dbops's own tables aside), never touch the decoy, report the steps it
observed, and keep ``--format json`` parseable.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import REVISION_TEMPLATE, empty_databases, execute

pytestmark = pytest.mark.postgres
SERVER = "host=127.0.0.1 user=postgres dbname=postgres"

MODELS = '''import sqlalchemy as sa

print("models loaded")  # an app's import-time print: dbops's stdout must stay its result

metadata = sa.MetaData()
sa.Table("widgets", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("color", sa.Text))
'''

SETTINGS = '''import os

print("settings loaded")


class Settings:
    DATABASE_URI = os.environ.get("ZOO_APP_DB", "{decoy}")


settings = Settings()
'''

# the URL from the app's settings object, not from alembic.ini (many FastAPI templates)
SETTINGS_ENV = '''from alembic import context
from sqlalchemy import engine_from_config, pool

from {module}.config import settings
from {module}.models import metadata

config = context.config
section = config.get_section(config.config_ini_section) or {{}}
section["sqlalchemy.url"] = settings.DATABASE_URI
with engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool).connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
'''

# an app that runs Alembic from its async startup, in a worker thread (anyio.to_thread.run_sync),
# and whose env.py hands the async work back to that loop
WORKER_THREAD_ENV = '''from alembic import context
from anyio import from_thread
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from {module}.models import metadata

config = context.config


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations():
    engine = create_async_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


from_thread.run(run_async_migrations)
'''

# Alembic's documented recipe: no empty revision files when autogenerate finds nothing
EMPTY_DIRECTIVES = '''

def process_revision_directives(context, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
'''

# a schema-per-tenant app whose own env.py loops over the tenants with search_path
TENANT_LOOP_ENV = '''from alembic import context
from sqlalchemy import engine_from_config, pool, text

from {module}.models import metadata

config = context.config
TENANTS = ["tenant_a", "tenant_b"]
engine = engine_from_config(config.get_section(config.config_ini_section) or {{}}, prefix="sqlalchemy.",
                            poolclass=pool.NullPool)
with engine.connect() as connection:
    for schema in TENANTS:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{{schema}}"'))
        connection.execute(text(f'SET search_path TO "{{schema}}"'))
        connection.commit()
        context.configure(connection=connection, target_metadata=metadata, version_table_schema=schema)
        with context.begin_transaction():
            context.run_migrations()
'''


@dataclass
class Style:
    name: str
    template: str  # alembic init -t
    env: str | None = None  # replaces env.py (formatted with module=)
    patch: Callable[[str, str], str] | None = None  # (env.py text, module) -> env.py text
    settings_url: bool = False  # the app's URL comes from its settings: dbops.toml url = "py:..."
    worker_thread: bool = False  # the app calls Alembic from an anyio worker thread
    schemas: tuple[str, ...] = ()  # the env's own per-tenant loop
    drops_empty_revisions: bool = False


def _with_metadata(text: str, module: str) -> str:
    return text.replace("target_metadata = None", f"from {module}.models import metadata as target_metadata")


def _cmd_opts_reader(text: str, module: str) -> str:
    return ("import sys\nfrom alembic import context as _ctx\n"
            "sys.stderr.write(f'env saw cmd={_ctx.config.cmd_opts.cmd[0].__name__}\\n')\n"
            + _with_metadata(text, module))


def _empty_directives(text: str, module: str) -> str:
    text = _with_metadata(text, module).replace(
        "connection=connection, target_metadata=target_metadata",
        "connection=connection, target_metadata=target_metadata,\n"
        "            process_revision_directives=process_revision_directives,")
    assert "process_revision_directives=" in text
    return text.replace("\n\ndef run_migrations_offline", EMPTY_DIRECTIVES + "\n\ndef run_migrations_offline", 1)


STYLES = [
    Style("generic", "generic", patch=_with_metadata),
    Style("async", "async", patch=_with_metadata),
    Style("settings_url", "generic", env=SETTINGS_ENV, settings_url=True),
    Style("worker_thread", "generic", env=WORKER_THREAD_ENV, worker_thread=True),
    Style("empty_directives", "generic", patch=_empty_directives, drops_empty_revisions=True),
    Style("cmd_opts", "generic", patch=_cmd_opts_reader),
    Style("tenant_loop", "generic", env=TENANT_LOOP_ENV, schemas=("tenant_a", "tenant_b")),
]


@pytest.fixture
def dbs() -> Iterator[dict[str, str]]:
    with empty_databases("dbops_zoo", ("given", "decoy", "ref")) as names:
        yield names


def url(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1/{name}"


def schema_dump(name: str) -> str:
    """The schema as pg_dump prints it, without dbops's own tables and the dump's comments."""
    out = subprocess.run(["pg_dump", "--schema-only", "--no-owner", "-h", "127.0.0.1", "-U", "postgres",
                          "-T", "*.dbops_history*", "-T", "*.dbops_lock", "-T", "*.dbops_data_migrations", name],
                         capture_output=True, text=True, check=True).stdout
    return "\n".join(line for line in out.splitlines() if line and not line.startswith(("--", "\\")))


def user_tables(name: str) -> list[str]:
    rows = execute(url(name), "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname NOT IN "
                              "('pg_catalog', 'information_schema') AND tablename NOT LIKE 'dbops%' ORDER BY 1")[0]
    return [r[0] for r in rows]


def make_project(root: Path, style: Style, decoy: str) -> tuple[Path, str]:
    from alembic import command
    from alembic.config import Config

    module = f"zoo_{style.name}_{uuid.uuid4().hex[:6]}"
    app = root / "proj"
    app.mkdir()
    cfg = Config(str(app / "alembic.ini"))
    command.init(cfg, str(app / "migrations"), template=style.template)
    ini = app / "alembic.ini"  # the project's configured database is the decoy
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", url(decoy)))
    env_py = app / "migrations" / "env.py"
    if style.env is not None:
        env_py.write_text(style.env.format(module=module))
    if style.patch is not None:
        env_py.write_text(style.patch(env_py.read_text(), module))
    (app / module).mkdir()
    (app / module / "__init__.py").write_text("")
    (app / module / "models.py").write_text(MODELS)
    (app / module / "config.py").write_text(SETTINGS.format(decoy=url(decoy)))
    versions = app / "migrations" / "versions"
    versions.mkdir(exist_ok=True)
    (versions / "0001_widgets.py").write_text(REVISION_TEMPLATE.format(
        doc="widgets", rev="0001", down=None,
        up="    op.create_table('widgets', sa.Column('id', sa.Integer, primary_key=True))",
        down_body="    op.drop_table('widgets')"))
    (versions / "0002_color.py").write_text(REVISION_TEMPLATE.format(
        doc="color", rev="0002", down="0001", up="    op.add_column('widgets', sa.Column('color', sa.Text))",
        down_body="    op.drop_column('widgets', 'color')"))
    toml = f'script_location = "migrations"\nmetadata = "{module}.models:metadata"\n'
    if style.settings_url:
        toml += f'url = "py:{module}.config:settings.DATABASE_URI"\n'
    (app / "dbops.toml").write_text(toml)
    return app, module


PLAIN = '''import sys
from alembic import command
from alembic.config import Config

cfg = Config("alembic.ini")
cfg.set_main_option("sqlalchemy.url", sys.argv[1])
verb, rev = sys.argv[2], sys.argv[3]  # argv[4]: "thread"
call = getattr(command, verb)
import anyio  # the app runs Alembic from its async startup, in a worker thread
import anyio.to_thread


async def main():
    await anyio.to_thread.run_sync(call, cfg, rev)

anyio.run(main)
'''


def operations(path: Path) -> list[str]:
    """The op.* lines of a revision file's upgrade()."""
    body = path.read_text().split("def upgrade()", 1)[1].split("def downgrade()", 1)[0]
    return [line.strip() for line in body.splitlines() if line.strip().startswith("op.")]


def ini_database(ini: str) -> str:
    line = next(line for line in ini.splitlines() if line.startswith("sqlalchemy.url"))
    return line.rsplit("/", 1)[1].strip()


def plain_alembic(app: Path, style: Style, target: str, verb: str, rev: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(app), "ZOO_APP_DB": url(target)}
    if style.worker_thread:
        argv = [sys.executable, "-c", PLAIN, url(target), verb, rev, "thread"]
    else:  # alembic's own command line, on a copy of alembic.ini that names the reference database
        ini = (app / "alembic.ini").read_text()
        (app / "reference.ini").write_text(ini.replace(url(ini_database(ini)), url(target)))
        argv = [sys.executable, "-m", "alembic", "-c", "reference.ini", verb,
                *(["-m", "plain"] if verb == "revision" else []), rev]
    done = subprocess.run(argv, cwd=app, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.name)
def test_dbops_drives_the_env_as_plain_alembic_would(invoke: Callable[..., Result], tmp_path: Path,
                                                     dbs: dict[str, str], style: Style) -> None:
    app, module = make_project(tmp_path, style, dbs["decoy"])
    given = url(dbs["given"])
    env = {"ZOO_APP_DB": given}  # read by the settings-style app; the others ignore it
    args = () if style.settings_url else ("--database-url", given)
    per_schema = len(style.schemas) or 1

    def dbops(*argv: str) -> Result:
        return invoke(*argv, *args, cwd=app, env=env)

    # upgrade: the given database ends as plain Alembic leaves the reference; steps are observed
    up = dbops("upgrade", "--format", "json")
    assert up.exit_code == 0, up.stdout + up.stderr
    report = json.loads(up.stdout)  # the models' print went to stderr
    assert "models loaded" in up.stderr
    assert [s["revision"] for s in report["steps"]] == ["0001", "0002"] * per_schema
    assert [s["schema"] for s in report["steps"]] == [s for s in style.schemas or (None,) for _ in (1, 2)]
    assert report["to_revisions"] == ["0002"]
    plain_alembic(app, style, dbs["ref"], "upgrade", "head")
    assert schema_dump(dbs["given"]) == schema_dump(dbs["ref"])
    assert user_tables(dbs["given"]) == sorted(f"{schema}.{table}" for schema in style.schemas or ("public",)
                                               for table in ("alembic_version", "widgets"))
    assert user_tables(dbs["decoy"]) == []
    audit = execute(given, "SELECT revision, outcome, coalesce(target, '') FROM dbops_history ORDER BY id")[0]
    assert audit == [(rev, "success", schema) for schema in style.schemas or ("",) for rev in ("0001", "0002")]
    if style.name == "cmd_opts":
        assert "env saw cmd=upgrade" in up.stderr

    # current: at head, read through the env
    current = dbops("current", "--check", "--format", "json")
    assert current.exit_code == 0, current.stdout + current.stderr
    assert json.loads(current.stdout)["current"] == ["0002"]

    # autogenerate against a database at head: nothing to add; dbops's tables never proposed
    rev = dbops("revision", "--autogenerate", "-m", "nothing", "--format", "json")
    assert rev.exit_code == 0, rev.stdout + rev.stderr
    made = json.loads(rev.stdout)
    assert not any("dbops" in change for change in made["changes"])
    ours = Path(made["path"]).rename(tmp_path / "ours.py") if made["path"] else None  # not a head for plain
    plain_alembic(app, style, dbs["ref"], "revision", "--autogenerate")
    plain_files = [p for p in (app / "migrations" / "versions").glob("*.py") if not p.name.startswith("000")]
    if style.drops_empty_revisions:
        assert made["revision"] is None and ours is None and plain_files == []
    else:  # the same operations plain Alembic writes (none, or what this env always proposes)
        assert ours is not None and len(plain_files) == 1
        assert operations(ours) == operations(plain_files[0])
        assert bool(made["changes"]) == bool(operations(plain_files[0]))
        plain_files[0].unlink()
    assert sorted(p.name for p in (app / "migrations" / "versions").glob("*.py")) == ["0001_widgets.py",
                                                                                      "0002_color.py"]

    # check-drift: the models match both the live database and a scratch replay of the chain
    drift = dbops("check-drift", "--format", "json")
    if style.settings_url or style.schemas:  # the env picks its own database / schemas: no honest replay
        assert drift.exit_code == 1, drift.stdout + drift.stderr
        error = json.loads(drift.stdout)["error"]
        assert error["kind"] == ("wrong_database" if style.settings_url else "config_error"), error
    else:
        assert drift.exit_code == 0, drift.stdout + drift.stderr
        assert json.loads(drift.stdout)["items"] == []
    if not style.schemas:  # models vs the live database at head needs no replay
        live = dbops("check-drift", "--against", "database", "--format", "json")
        assert live.exit_code == 0 and json.loads(live.stdout)["clean"] is True, live.stdout + live.stderr
    assert user_tables(dbs["decoy"]) == []

    # downgrade one step, as plain Alembic does
    down = dbops("downgrade", "-1", "--format", "json")
    assert down.exit_code == 0, down.stdout + down.stderr
    assert [s["revision"] for s in json.loads(down.stdout)["steps"]] == ["0002"] * per_schema
    plain_alembic(app, style, dbs["ref"], "downgrade", "-1")
    assert schema_dump(dbs["given"]) == schema_dump(dbs["ref"])

    # stamp moves the version table(s) only
    stamp = dbops("stamp", "head", "--format", "json")
    assert stamp.exit_code == 0, stamp.stdout + stamp.stderr
    plain_alembic(app, style, dbs["ref"], "stamp", "head")
    assert schema_dump(dbs["given"]) == schema_dump(dbs["ref"])
    for schema in style.schemas or ("public",):
        assert execute(given, f"SELECT version_num FROM {schema}.alembic_version")[0] == [("0002",)]
    assert user_tables(dbs["decoy"]) == []


def test_multidb_env_is_refused_before_anything_runs(invoke: Callable[..., Result], tmp_path: Path,
                                                     dbs: dict[str, str]) -> None:
    """`alembic init -t multidb` migrates every database alembic.ini lists in one run: dbops migrates
    the one it was given, so it says so instead of letting the env reach the others."""
    from alembic import command
    from alembic.config import Config

    app = tmp_path / "multi"
    app.mkdir()
    command.init(Config(str(app / "alembic.ini")), str(app / "migrations"), template="multidb")
    ini = app / "alembic.ini"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname1", url(dbs["decoy"]))
                   .replace("driver://user:pass@localhost/dbname2", url(dbs["ref"])))
    (app / "migrations" / "versions" / "0001_widgets.py").write_text(REVISION_TEMPLATE.format(
        doc="widgets", rev="0001", down=None, up="    pass", down_body="    pass").replace(
        "def upgrade()", "def upgrade(engine_name=''):\n    pass\n\n\ndef _unused()").replace(
        "def downgrade()", "def downgrade(engine_name=''):\n    pass\n\n\ndef _unused2()"))
    for argv in (("heads",), ("history",)):  # read the scripts only: they work
        assert invoke(*argv, cwd=app).exit_code == 0
    for argv in (("upgrade",), ("upgrade", "--sql"), ("current",), ("downgrade", "base"), ("stamp", "head"),
                 ("history", "--indicate-current")):
        result = invoke(*argv, "--database-url", url(dbs["given"]), "--format", "json", cwd=app)
        assert result.exit_code == 1, (argv, result.stdout, result.stderr)
        error = json.loads(result.stdout)["error"]
        assert error["kind"] == "config_error"
        assert error["message"].startswith("This project's env.py migrates several databases in one run "
                                           "(alembic.ini: databases = engine1, engine2)"), error
    assert not list(Path(app).glob("*.sql"))  # the multidb env's offline mode writes files: it never ran
    for name in dbs.values():
        assert user_tables(name) == []
        assert execute(url(name), "SELECT to_regclass('public.alembic_version') IS NULL")[0] == [(True,)]


def test_an_env_run_from_async_code_gets_a_thread_of_its_own(tmp_path: Path, dbs: dict[str, str]) -> None:
    """dbops's API called from a running event loop (an app's async startup, pytest-asyncio): the
    async template's ``asyncio.run()`` would refuse inside it; dbops runs env.py in a thread."""
    style = STYLES[1]
    app, _ = make_project(tmp_path, style, dbs["decoy"])
    script = textwrap.dedent(f'''
        import asyncio, json, sys
        from dbops import command, load_config

        async def main():
            config = load_config(database_url={url(dbs["given"])!r})
            report = command.upgrade(config)
            print(json.dumps([s.revision for s in report.steps]))

        asyncio.run(main())
    ''')
    done = subprocess.run([sys.executable, "-c", script], cwd=app, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(app)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["0001", "0002"]
    assert user_tables(dbs["given"]) == ["public.alembic_version", "public.widgets"]
    assert user_tables(dbs["decoy"]) == []


def test_per_dialect_version_locations_per_target(invoke: Callable[..., Result], tmp_path: Path,
                                                  dbs: dict[str, str]) -> None:
    """A project that keeps shared revisions in one directory and each dialect's own in another:
    each target reads its own version_locations (relative to the project root)."""
    app = tmp_path / "dialects"
    for directory in ("shared", "pg_only", "sqlite_only"):
        (app / "migrations" / directory).mkdir(parents=True)
    (app / "migrations" / "env.py").write_text("from dbops.alembic_env import run_migrations\nrun_migrations()\n")
    (app / "migrations" / "shared" / "0001_widgets.py").write_text(REVISION_TEMPLATE.format(
        doc="widgets", rev="0001", down=None,
        up="    op.create_table('widgets', sa.Column('id', sa.Integer, primary_key=True))",
        down_body="    op.drop_table('widgets')"))
    brin = "    op.execute('CREATE INDEX widgets_brin ON widgets USING brin (id)')"
    plain = "    op.create_index('widgets_plain', 'widgets', ['id'])"
    for directory, rev, up in (("pg_only", "0002pg", brin), ("sqlite_only", "0002lite", plain)):
        (app / "migrations" / directory / f"{rev}.py").write_text(REVISION_TEMPLATE.format(
            doc=directory, rev=rev, down="0001", up=up, down_body="    pass"))
    lite = tmp_path / "lite.db"
    (app / "dbops.toml").write_text(textwrap.dedent(f'''
        script_location = "migrations"

        [targets.pg]
        url = "{url(dbs["given"])}"
        version_locations = ["migrations/shared", "migrations/pg_only"]

        [targets.lite]
        url = "sqlite:///{lite}"
        version_locations = ["migrations/shared", "migrations/sqlite_only"]
    '''))
    for target, head in (("pg", "0002pg"), ("lite", "0002lite")):
        heads = invoke("heads", "--target", target, "--format", "json", cwd=app)
        assert heads.exit_code == 0, heads.stdout + heads.stderr
        assert [h["revision"] for h in json.loads(heads.stdout)["heads"]] == [head]
        up = invoke("upgrade", "--target", target, "--format", "json", cwd=app)
        assert up.exit_code == 0, up.stdout + up.stderr
        assert [s["revision"] for s in json.loads(up.stdout)["steps"]] == ["0001", head]
    assert execute(url(dbs["given"]), "SELECT indexname FROM pg_indexes WHERE tablename = 'widgets' "
                                      "AND indexname LIKE 'widgets\\_%' ORDER BY 1")[0] == [("widgets_brin",),
                                                                                      ("widgets_pkey",)]
    assert execute(f"sqlite:///{lite}", "SELECT name FROM sqlite_master WHERE type = 'index' "
                                        "AND name LIKE 'widgets_%'")[0] == [("widgets_plain",)]
    (app / "dbops.toml").write_text('script_location = "migrations"\nversion_locations = 7\n')
    wrong = invoke("heads", "--format", "json", cwd=app)
    assert wrong.exit_code == 1
    assert json.loads(wrong.stdout)["error"]["message"].startswith("version_locations for the project in ")
