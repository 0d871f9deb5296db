"""pytest plugin (entry point ``pytest11: dbops``), inert unless enabled.

Enable with ``pytest --dbops`` (the project's tests and these) or ``pytest --dbops-only`` (only
these: the project's own test files and conftest.py are not collected, for apps whose
conftest needs the whole environment), or ``dbops = true`` in the ini file. It adds six tests on
the project's migrations (from the dbops configuration found from the rootdir), with node ids
``dbops/testing/migration_tests.py::<name>``: ``test_single_head``, ``test_upgrade``,
``test_models_match``, ``test_models_registered``, ``test_up_down_up`` (includes
"downgrade leaves no trace"), ``test_lock_footprint`` (PostgreSQL).

ini options: ``dbops`` (bool), ``dbops_database`` (``postgresql`` — a fresh database per test
via pytest-postgresql's ``postgresql_noproc`` on the server its options name, named after its
``postgresql_dbname`` with ``_dbops_<pid>`` appended — or ``sqlite``, or a URL such as
``mysql+pymysql://root@127.0.0.1/test``: a database ``<name>_dbops_<pid>`` is created there per test),
``dbops_minimum_downgrade_revision``, ``dbops_skip_revisions`` (one per line),
``dbops_models_package`` (default: the top package of ``metadata``), ``dbops_lock_budget``
(strongest lock mode allowed on a table that has rows, e.g. ``SHARE UPDATE EXCLUSIVE``),
``dbops_allow_rewrites`` (bool, default true), ``dbops_lock_budget_exempt`` (revisions, one per
line), ``dbops_lock_report`` (a JSON file with every revision's measured locks).
Overridable fixtures: ``dbops_database_url``, ``dbops_config``, ``dbops_engine``, ``dbops_seed``
(``{revision: fn(connection)}`` run after that revision: rows later revisions need),
``dbops_before_revision`` (run just before that revision: rows for its data migration) and
``dbops_after_revision`` (run just after it: assertions on what it did).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS_MODULE = Path(__file__).with_name("migration_tests.py")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dbops", "dbops migration tests")
    group.addoption("--dbops", action="store_true", default=False,
                    help="Run dbops's built-in migration tests on this project's migrations.")
    group.addoption("--dbops-only", action="store_true", default=False,
                    help="Run only dbops's built-in migration tests (the project's test files and their "
                    "conftest.py are not collected).")
    parser.addini("dbops", "Run dbops's built-in migration tests (like --dbops).", type="bool", default=False)
    parser.addini("dbops_database", "postgresql (default), sqlite, or a MariaDB/MySQL server URL "
                  "(mysql+pymysql://user@host/name: a database name_dbops_<pid>_<n> is made per test).",
                  default="postgresql")
    parser.addini("dbops_minimum_downgrade_revision", "Only round-trip revisions from this one on.", default="")
    parser.addini("dbops_skip_revisions", "Revisions left out of the round trip.", type="linelist", default=[])
    parser.addini("dbops_models_package", "The package whose models must all be on the metadata.", default="")
    parser.addini("dbops_lock_budget", "Strongest lock allowed on a table with rows (PostgreSQL), e.g. "
                  "SHARE UPDATE EXCLUSIVE.", default="")
    parser.addini("dbops_allow_rewrites", "Allow revisions that rewrite a table with rows.", type="bool",
                  default=True)
    parser.addini("dbops_lock_budget_exempt", "Revisions measured but not held to the lock budget.",
                  type="linelist", default=[])
    parser.addini("dbops_lock_report", "Write every revision's measured locks to this JSON file.", default="")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """--dbops-only: the plugin's module is the only path, before pytest loads the conftest.py files
    of the paths it was given (an app's tests/conftest.py may need the whole environment)."""
    if getattr(early_config.known_args_namespace, "dbops_only", False):
        early_config.known_args_namespace.file_or_dir = [str(TESTS_MODULE)]


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--dbops") or config.getoption("--dbops-only") or config.getini("dbops"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dbops_migrations: dbops's built-in migration tests (pytest --dbops)")
    if not _enabled(config):
        return
    if config.getoption("--dbops-only"):
        config.args[:] = [str(TESTS_MODULE)]
    elif str(TESTS_MODULE) not in config.args:
        config.args.append(str(TESTS_MODULE))
    if not config.pluginmanager.has_plugin("dbops-postgresql-fixtures"):
        proc, database = _postgres_fixtures(config)
        if proc is not None:  # made once the configuration is known: their database name comes from it
            import types

            fixtures = types.ModuleType("dbops_postgresql_fixtures")  # pytest collects fixtures from modules
            fixtures.dbops_postgresql_proc = proc  # type: ignore[attr-defined]
            fixtures.dbops_postgresql = database  # type: ignore[attr-defined]
            config.pluginmanager.register(fixtures, "dbops-postgresql-fixtures")


NODE_PREFIX = "dbops/testing/migration_tests.py"


def pytest_pycollect_makemodule(module_path: Path, parent: Any) -> Any:
    """The module lives in site-packages, outside the rootdir, so pytest would name its tests
    ``::test_upgrade``; name them after the plugin's module instead (-k, --deselect, JUnit, CI)."""
    if module_path == TESTS_MODULE:
        return pytest.Module.from_parent(parent, path=module_path, nodeid=NODE_PREFIX)
    return None


@pytest.fixture
def dbops_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    kind = request.config.getini("dbops_database").strip()
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'dbops-migrations.sqlite'}"
        return
    if kind.startswith(("mysql", "mariadb")):
        yield from _mysql_database(kind)
        return
    conn = request.getfixturevalue("dbops_postgresql")
    info = conn.info
    yield f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{info.dbname}"


@pytest.fixture
def dbops_config(request: pytest.FixtureRequest, dbops_database_url: str) -> Any:
    from dbops.config import load_config

    # its url_env is still the variable the project's own URL is read from (DATABASE_URL, url = "env:VAR"):
    # a check whose env.py reads the app's settings runs again in a child process with it naming the test
    # database
    return load_config(database_url=dbops_database_url, cwd=request.config.rootpath)


@pytest.fixture
def dbops_engine(dbops_database_url: str) -> Iterator[Any]:
    """A sync SQLAlchemy engine on the test database (for seeds and your own assertions)."""
    import sqlalchemy as sa

    from dbops.db.url import parse_url, sync_url

    engine = sa.create_engine(sync_url(parse_url(dbops_database_url)))
    yield engine
    engine.dispose()


# The data-hook fixtures (dbops_seed, dbops_before_revision, dbops_after_revision) have no default
# here: a default defined by this plugin would shadow the same fixture in a module given with -p
# (registered before entry-point plugins). migration_tests.py asks for them and uses {} when the
# project defines none.


def _postgres_fixtures(config: pytest.Config) -> tuple[Any, Any]:
    """pytest-postgresql's fixtures on the database name the project configures (postgresql_dbname),
    with this run's pid appended: two runs on one server never share (or drop) each other's database."""
    import os

    try:
        from pytest_postgresql import factories
    except ImportError:  # pragma: no cover - the test extra installs it
        return None, None
    try:
        base = config.getini("postgresql_dbname") or "tests"
    except ValueError:  # pytest-postgresql's ini options are not registered
        base = "tests"
    proc = factories.postgresql_noproc(dbname=f"{base}_dbops_{os.getpid()}")
    return proc, factories.postgresql("dbops_postgresql_proc")


_created = 0


def _mysql_database(server_url: str) -> Iterator[str]:
    """A fresh database on the MariaDB/MySQL server of ``server_url`` (its database name, or
    ``tests``, with ``_dbops_<pid>_<n>`` appended), dropped after the test."""
    import os

    import sqlalchemy as sa

    global _created
    _created += 1
    url = sa.engine.make_url(server_url)
    name = f"{url.database or 'tests'}_dbops_{os.getpid()}_{_created}"
    server = sa.engine.URL.create(url.drivername, username=url.username, password=url.password, host=url.host,
                                  port=url.port, query=url.query)  # no database (URL.set keeps one given None)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
            conn.exec_driver_sql(f"CREATE DATABASE `{name}`")
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()
