"""The pytest plugin on small example projects (pytester): pass and fail outcomes."""
from __future__ import annotations

import uuid

import pytest

from tests.helpers import REVISION_TEMPLATE as REV

ENV = "from dbops.alembic_env import run_migrations\nrun_migrations()\n"
MODELS = '''import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("items", metadata,
         sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("name", sa.String(50), nullable=False),
         sa.Index("ix_items_name", "name"))
'''
GOOD = [
    ("0001", None, "items", "    op.create_table('items', sa.Column('id', sa.Integer, primary_key=True),\n"
     "                    sa.Column('name', sa.String(50), nullable=False))", "    op.drop_table('items')"),
    ("0002", "0001", "index on name", "    op.create_index('ix_items_name', 'items', ['name'])",
     "    op.drop_index('ix_items_name', table_name='items')"),
]


def make(pytester: pytest.Pytester, revisions: list[tuple[str, str | None, str, str, str]], *,
         database: str = "sqlite", models: str = MODELS, extra_ini: str = "") -> None:
    module = f"models_{uuid.uuid4().hex[:8]}"
    pytester.makepyfile(**{module: models})
    pytester.makefile(".toml", dbops=f'metadata = "{module}:metadata"\nscript_location = "migrations"\n')
    pytester.makeini(f"[pytest]\ndbops = true\ndbops_database = {database}\n"
                     "postgresql_host = 127.0.0.1\npostgresql_user = postgres\npostgresql_password =\n"
                     "asyncio_default_fixture_loop_scope = function\n" + extra_ini)
    versions = pytester.mkdir("migrations") / "versions"
    versions.mkdir()
    (pytester.path / "migrations" / "env.py").write_text(ENV)
    for rev, down, doc, up, down_body in revisions:
        (versions / f"{rev}.py").write_text(REV.format(rev=rev, down=down, doc=doc, up=up, down_body=down_body))


def test_good_project_passes_on_sqlite(pytester: pytest.Pytester) -> None:
    make(pytester, GOOD)
    result = pytester.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=5, skipped=1)
    result.stdout.fnmatch_lines(["*dbops/testing/migration_tests.py::test_models_registered PASSED*",
                                 "*dbops/testing/migration_tests.py::test_lock_footprint SKIPPED*"])


@pytest.mark.postgres
def test_good_project_passes_on_postgresql(pytester: pytest.Pytester) -> None:
    make(pytester, GOOD, database="postgresql")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_downgrade_that_forgets_an_index_fails(pytester: pytest.Pytester) -> None:
    leaky = [GOOD[0], ("0002", "0001", "index on name", GOOD[1][3], "    pass")]
    make(pytester, leaky)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "*Revision 0002: upgrade then downgrade does not return to the previous schema.*",
        "*What failed*",
        "*- index ix_items_name on items is not in the reference*",
        "*What it usually means*",
        "*Would-be fix*",
        "*op.drop_index('ix_items_name', table_name='items')*",
    ])


def test_model_without_migration_fails(pytester: pytest.Pytester) -> None:
    models = MODELS.replace('sa.Column("name", sa.String(50), nullable=False),',
                            'sa.Column("name", sa.String(50), nullable=False),\n'
                            '         sa.Column("price", sa.Integer, nullable=True),')
    make(pytester, GOOD, models=models)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*The models do not match the schema the migrations build.*",
                                 "*- column items.price is missing*",
                                 "*op.add_column('items', sa.Column('price', sa.Integer(), nullable=True))*"])


def test_two_heads_fail(pytester: pytest.Pytester) -> None:
    branch = ("0003", "0001", "other branch", "    pass", "    pass")
    make(pytester, [*GOOD, branch])
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "single_head")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*The migration history has several heads.*", "*dbops merge*"])


def test_skip_and_minimum_revision_options(pytester: pytest.Pytester) -> None:
    leaky = [GOOD[0], ("0002", "0001", "index on name", GOOD[1][3], "    pass")]
    make(pytester, leaky, extra_ini="dbops_skip_revisions =\n    0002\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "up_down_up")
    result.assert_outcomes(passed=1)


def test_plugin_is_inert_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_seed_fixture_feeds_a_data_migration(pytester: pytest.Pytester) -> None:
    backfill = ("0003", "0002", "backfill", "    op.execute(\"UPDATE items SET name = upper(name)\")", "    pass")
    make(pytester, [*GOOD, backfill])
    pytester.makeconftest(
        "import pytest, sqlalchemy as sa\n\n"
        "@pytest.fixture\n"
        "def dbops_seed():\n"
        "    def seed(conn):\n"
        "        conn.execute(sa.text(\"INSERT INTO items (id, name) VALUES (1, 'pen')\"))\n"
        "    return {'0002': seed}\n\n"
        "@pytest.fixture(autouse=True)\n"
        "def check_after(request, dbops_config):\n"
        "    yield\n"
        "    if request.node.name == 'test_upgrade':\n"
        "        url = dbops_config.url\n"
        "        with sa.create_engine(url).connect() as c:\n"
        "            assert c.execute(sa.text('SELECT name FROM items')).scalar() == 'PEN'\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "test_upgrade")
    result.assert_outcomes(passed=1)


SERIAL = [
    ("0001", None, "counters", "    op.create_table('counters', sa.Column('id', sa.Integer, primary_key=True))",
     "    op.drop_table('counters')"),
    # a downgrade that rebuilds the column as a plain integer: the serial default is lost
    ("0002", "0001", "note column", "    op.add_column('counters', sa.Column('note', sa.Text))",
     "    op.drop_column('counters', 'note')\n"
     "    op.execute('ALTER TABLE counters ALTER COLUMN id DROP DEFAULT')"),
]
SERIAL_MODELS = '''import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("counters", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("note", sa.Text))
'''


@pytest.mark.postgres
def test_a_downgrade_that_loses_a_serial_default_fails(pytester: pytest.Pytester) -> None:
    make(pytester, SERIAL, database="postgresql", models=SERIAL_MODELS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*column counters.id lost its autoincrement (serial default nextval(*"])


def test_the_marker_is_registered_and_the_database_name_is_per_run(pytester: pytest.Pytester) -> None:
    make(pytester, GOOD, extra_ini="filterwarnings = error::pytest.PytestUnknownMarkWarning\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=5, skipped=1)
    from dbops.testing.plugin import _postgres_fixtures

    config = pytester.parseconfig()
    proc, _ = _postgres_fixtures(config)
    assert proc is not None


@pytest.mark.postgres
def test_node_ids_name_the_plugin_module_and_dbops_only_skips_a_heavy_conftest(pytester: pytest.Pytester) -> None:
    make(pytester, GOOD, database="postgresql")  # --dbops-only still gets the plugin's PostgreSQL fixtures
    # an app whose test conftest needs the whole environment: collecting it fails
    tests = pytester.mkdir("tests")
    (tests / "conftest.py").write_text("raise RuntimeError('DATABASE_URL and 12 other settings are required')\n")
    (tests / "test_app.py").write_text("def test_app():\n    pass\n")
    plain = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dbops", "tests")
    assert plain.ret != 0
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dbops-only", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["dbops/testing/migration_tests.py::test_single_head",
                                 "dbops/testing/migration_tests.py::test_up_down_up"])
    assert "test_app" not in result.stdout.str()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dbops-only",
                                           "--deselect", "dbops/testing/migration_tests.py::test_up_down_up")
    result.assert_outcomes(passed=5)


PACKAGE_INIT = """import sqlalchemy as sa

metadata = sa.MetaData()

from {pkg} import items  # noqa: E402,F401  (extra.py is never imported here)
"""
PACKAGE_ITEMS = """import sqlalchemy as sa

from {pkg} import metadata

items = sa.Table("items", metadata,
                 sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(50), nullable=False),
                 sa.Index("ix_items_name", "name"))
"""
PACKAGE_EXTRA = """import sqlalchemy as sa

from {pkg} import metadata

orphans = sa.Table("orphans", metadata, sa.Column("id", sa.Integer, primary_key=True))
"""


def _package_project(pytester: pytest.Pytester, *, import_extra: bool) -> str:
    pkg = f"app_{uuid.uuid4().hex[:8]}"
    make(pytester, GOOD, models="")
    root = pytester.mkpydir(pkg)
    init = PACKAGE_INIT.format(pkg=pkg) + (f"from {pkg} import extra  # noqa: E402,F401\n" if import_extra else "")
    (root / "__init__.py").write_text(init)
    (root / "items.py").write_text(PACKAGE_ITEMS.format(pkg=pkg))
    (root / "extra.py").write_text(PACKAGE_EXTRA.format(pkg=pkg))
    pytester.makefile(".toml", dbops=f'metadata = "{pkg}:metadata"\nscript_location = "migrations"\n')
    return pkg


def test_a_model_module_nothing_imports_fails_models_registered(pytester: pytest.Pytester) -> None:
    pkg = _package_project(pytester, import_extra=False)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "models_registered or models_match")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*Some models of '{pkg}' are not on the metadata*",
                                 f"*- table orphans is defined in {pkg}.extra but is not on {pkg}:metadata*",
                                 f"*import {pkg}.extra  # in the module of {pkg}*"])


def test_models_registered_passes_when_every_module_is_imported(pytester: pytest.Pytester) -> None:
    _package_project(pytester, import_extra=True)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "models_registered")
    result.assert_outcomes(passed=1)


CONVERT = ("0003", "0002", "normalise names", "    op.execute(\"UPDATE items SET name = lower(name)\")", "    pass")
DATA_HOOKS = """import pytest, sqlalchemy as sa

@pytest.fixture
def dbops_before_revision():
    def rows(conn):
        conn.execute(sa.text("INSERT INTO items (id, name) VALUES (1, 'Pen'), (2, 'INK')"))
    return {{"0003": rows}}

@pytest.fixture
def dbops_after_revision():
    def converted(conn):
        names = sorted(conn.execute(sa.text("SELECT name FROM items")).scalars())
        assert names == {expected!r}, f"names after 0003: {{names}}"
    return {{"0003": converted}}
"""


def test_data_hooks_pass_on_a_correct_data_migration(pytester: pytest.Pytester) -> None:
    make(pytester, [*GOOD, CONVERT])
    pytester.makeconftest(DATA_HOOKS.format(expected=["ink", "pen"]))
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "test_upgrade")
    result.assert_outcomes(passed=1)


def test_data_hooks_fail_a_data_migration_that_mis_converts_rows(pytester: pytest.Pytester) -> None:
    make(pytester, [*GOOD, CONVERT])
    pytester.makeconftest(DATA_HOOKS.format(expected=["INK", "PEN"]))
    # a subprocess: the conftest's assert is rewritten as in a user's run (message and diff)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "test_upgrade")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*The data after revision 0003 is not what the test expects.*",
                                 "*names after 0003: ?'ink', 'pen'?*"])


def test_data_hooks_naming_an_unknown_revision_fail(pytester: pytest.Pytester) -> None:
    make(pytester, GOOD)
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef dbops_after_revision():\n"
                          "    return {'0009': lambda conn: None}\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "test_upgrade")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Data hooks name revisions that are not in the history: 0009.*"])


SEED_ROWS = """import pytest, sqlalchemy as sa

@pytest.fixture
def dbops_seed():
    def rows(conn):
        conn.execute(sa.text("INSERT INTO items (id, name) VALUES (1, 'pen')"))
    return {"0001": rows}
"""
WIDEN = ("0003", "0002", "bigint ids", "    op.alter_column('items', 'id', type_=sa.BigInteger)",
         "    op.alter_column('items', 'id', type_=sa.Integer)")


@pytest.mark.postgres
def test_lock_budget_fails_the_revision_that_locks_a_table_with_rows(pytester: pytest.Pytester) -> None:
    models = MODELS.replace("sa.Integer, primary_key", "sa.BigInteger, primary_key")
    make(pytester, [*GOOD, WIDEN], database="postgresql", models=models,
         extra_ini="dbops_lock_budget = SHARE UPDATE EXCLUSIVE\ndbops_allow_rewrites = false\n"
                   "dbops_lock_report = reports/locks.json\n")
    pytester.makeconftest(SEED_ROWS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "lock_footprint")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*2 revision(s) take locks over the budget (SHARE UPDATE EXCLUSIVE on tables with rows, no rewrites): "
        "0002, 0003.*",
        "*- SHARE on public.items (it has rows), over the budget SHARE UPDATE EXCLUSIVE; taken by: CREATE INDEX "
        "ix_items_name ON items (name)*",
        "*- ACCESS EXCLUSIVE on public.items (it has rows)*ALTER TABLE items ALTER COLUMN id TYPE BIGINT*",
        "*- public.items was rewritten (a new relfilenode*",
    ])
    import json

    report = json.loads((pytester.path / "reports" / "locks.json").read_text())
    by_rev = {r["revision"]: r["locks"] for r in report["revisions"]}
    created = {lock["relation"]: (lock["lock"], lock["existed_before"]) for lock in by_rev["0001"]}
    # a new table (with its sequence and primary key): locked, but nobody could have been waiting
    assert created["public.items"] == ("ACCESS EXCLUSIVE", False)
    assert {existed for _, existed in created.values()} == {False}
    assert not any(name.startswith("public.alembic_version") for name in created)  # bookkeeping left out
    items = {lock["relation"]: lock for lock in by_rev["0003"]}["public.items"]
    assert (items["lock"], items["had_rows"], items["rewritten"]) == ("ACCESS EXCLUSIVE", True, True)
    index = {lock["relation"]: lock for lock in by_rev["0002"]}["public.items"]
    assert (index["lock"], index["existed_before"]) == ("SHARE", True)


@pytest.mark.postgres
def test_lock_budget_exempt_revisions_are_measured_not_judged(pytester: pytest.Pytester) -> None:
    make(pytester, GOOD, database="postgresql",
         extra_ini="dbops_lock_budget = SHARE UPDATE EXCLUSIVE\ndbops_lock_budget_exempt =\n    0002\n")
    pytester.makeconftest(SEED_ROWS)
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "lock_footprint")
    result.assert_outcomes(passed=1)


@pytest.mark.mariadb
def test_good_project_passes_on_mariadb(pytester: pytest.Pytester) -> None:
    make(pytester, GOOD, database="mysql+pymysql://root@127.0.0.1:3306/plugin")
    result = pytester.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=5, skipped=1)
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE 'plugin\\_dbops\\_%'")
            assert cur.fetchall() == ()  # every per-test database was dropped
    finally:
        conn.close()


@pytest.mark.mariadb
def test_a_leftover_index_fails_on_mariadb(pytester: pytest.Pytester) -> None:
    leaky = [GOOD[0], ("0002", "0001", "index on name", GOOD[1][3], "    pass")]
    make(pytester, leaky, database="mysql+pymysql://root@127.0.0.1:3306/plugin")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "up_down_up")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- index ix_items_name on items is not in the reference*"])


@pytest.mark.postgres
def test_two_concurrent_runs_on_one_server_do_not_collide(pytester: pytest.Pytester) -> None:
    import subprocess
    import sys

    make(pytester, GOOD, database="postgresql")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k", "upgrade or up_down_up"]
    runs = [subprocess.Popen(cmd, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
        assert "2 passed" in output, output


SETTINGS_ENV = """import os

from alembic import context
from sqlalchemy import create_engine

engine = create_engine(os.environ["APP_DATABASE_URL"])  # the app's settings, not alembic's URL
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""


def test_an_env_that_migrates_the_apps_own_database_fails_with_its_own_title(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    make(pytester, GOOD)
    (pytester.path / "migrations" / "env.py").write_text(SETTINGS_ENV)
    decoy = pytester.path / "app.sqlite"
    monkeypatch.setenv("APP_DATABASE_URL", f"sqlite:///{decoy}")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "test_upgrade")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*The project's env.py migrates another database than the test database the plugin made*",
        "*url = config.get_main_option('sqlalchemy.url') or str(settings.DATABASE_URL)*"])
    import sqlite3

    with sqlite3.connect(decoy) as conn:  # the app's own database was not migrated
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []


# the app's settings read once, at import (mealie, Prefect): this process cannot point them elsewhere
CACHED_SETTINGS_ENV = """from alembic import context
from sqlalchemy import create_engine

from app_settings import URL

with create_engine(URL).connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
"""


def test_an_env_var_url_app_is_checked_in_a_child_process(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """dbops.toml says the URL comes from APP_DATABASE_URL, which the app reads at import: each check runs
    again in a child process whose APP_DATABASE_URL names the test database; the app's own database (the
    decoy) is never migrated, and a real defect is still found there."""
    make(pytester, GOOD)
    (pytester.path / "migrations" / "env.py").write_text(CACHED_SETTINGS_ENV)
    pytester.makepyfile(app_settings="import os\n\nURL = os.environ['APP_DATABASE_URL']\n")
    toml = pytester.path / "dbops.toml"
    toml.write_text(toml.read_text() + '\nurl = "env:APP_DATABASE_URL"\n')
    decoy = pytester.path / "app.sqlite"
    monkeypatch.setenv("APP_DATABASE_URL", f"sqlite:///{decoy}")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "upgrade or up_down_up or models_match")
    result.assert_outcomes(passed=3)
    import sqlite3

    with sqlite3.connect(decoy) as conn:  # the app's own database was not migrated
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []
    # a downgrade that forgets the index: found in the child, its titled block reaches the report
    (pytester.path / "migrations" / "versions" / "0002.py").write_text(REV.format(
        rev="0002", down="0001", doc="index on name", up=GOOD[1][3], down_body="    pass"))
    broken = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "up_down_up")
    broken.assert_outcomes(failed=1)
    broken.stdout.fnmatch_lines(["*What failed*"])
    with sqlite3.connect(decoy) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []


def test_dbops_only_takes_data_hooks_from_a_module_given_with_p(pytester: pytest.Pytester) -> None:
    make(pytester, [*GOOD, CONVERT])
    pytester.makepyfile(migration_hooks=DATA_HOOKS.format(expected=["INK", "PEN"]))
    tests = pytester.mkdir("tests")
    (tests / "conftest.py").write_text("raise RuntimeError('the whole app is needed here')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--dbops-only", "-p", "migration_hooks",
                                           "-k", "test_upgrade")
    result.assert_outcomes(failed=1)  # the hooks ran: the mis-converting revision is caught
    result.stdout.fnmatch_lines(["*The data after revision 0003 is not what the test expects.*"])


def test_a_module_that_cannot_be_imported_alone_is_said_not_checked(pytester: pytest.Pytester) -> None:
    pkg = _package_project(pytester, import_extra=True)
    (pytester.path / pkg / "settings.py").write_text("import os\nDATABASE_URL = os.environ['APP_DATABASE_URL']\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "models_registered")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*1 module(s) of '{pkg}' could not be imported on their own, so any models in "
                                 "them were not checked.*",
                                 f"*- module {pkg}.settings could not be imported: KeyError: 'APP_DATABASE_URL'*"])
    narrowed = pytester.runpytest("-p", "no:cacheprovider", "-k", "models_registered",
                                  "-o", f"dbops_models_package={pkg}.items")
    narrowed.assert_outcomes(passed=1)
