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
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


@pytest.mark.postgres
def test_good_project_passes_on_postgresql(pytester: pytest.Pytester) -> None:
    make(pytester, GOOD, database="postgresql")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_downgrade_that_forgets_an_index_fails(pytester: pytest.Pytester) -> None:
    leaky = [GOOD[0], ("0002", "0001", "index on name", GOOD[1][3], "    pass")]
    make(pytester, leaky)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
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
    result.assert_outcomes(passed=3, failed=1)
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
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*column counters.id lost its autoincrement (serial default nextval(*"])


def test_the_marker_is_registered_and_the_database_name_is_per_run(pytester: pytest.Pytester) -> None:
    make(pytester, GOOD, extra_ini="filterwarnings = error::pytest.PytestUnknownMarkWarning\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=4)
    from dbops.testing.plugin import _postgres_fixtures

    config = pytester.parseconfig()
    proc, _ = _postgres_fixtures(config)
    assert proc is not None
