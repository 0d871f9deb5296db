"""pytest plugin (entry point ``pytest11: dbops``), inert unless enabled.

Enable with ``pytest --dbops`` or ``dbops = true`` in the ini file. It adds four tests on the
project's migrations (from the dbops configuration found from the rootdir):
``test_single_head``, ``test_upgrade``, ``test_models_match``, ``test_up_down_up``.

ini options: ``dbops`` (bool), ``dbops_database`` (``postgresql`` — a fresh database per test
via pytest-postgresql's ``postgresql_noproc`` on the server its options name, named after its
``postgresql_dbname`` with ``_dbops_<pid>`` appended — or ``sqlite``),
``dbops_minimum_downgrade_revision``, ``dbops_skip_revisions`` (one per line).
Overridable fixtures: ``dbops_database_url``, ``dbops_config``, ``dbops_engine``, ``dbops_seed``
(``{revision: fn(connection)}`` run after that revision in test_upgrade).
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
    parser.addini("dbops", "Run dbops's built-in migration tests (like --dbops).", type="bool", default=False)
    parser.addini("dbops_database", "postgresql (default) or sqlite.", default="postgresql")
    parser.addini("dbops_minimum_downgrade_revision", "Only round-trip revisions from this one on.", default="")
    parser.addini("dbops_skip_revisions", "Revisions left out of the round trip.", type="linelist", default=[])


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--dbops") or config.getini("dbops"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dbops_migrations: dbops's built-in migration tests (pytest --dbops)")
    if _enabled(config) and str(TESTS_MODULE) not in config.args:
        config.args.append(str(TESTS_MODULE))
        proc, database = _postgres_fixtures(config)
        if proc is not None:  # made once the configuration is known: their database name comes from it
            import types

            fixtures = types.ModuleType("dbops_postgresql_fixtures")  # pytest collects fixtures from modules
            fixtures.dbops_postgresql_proc = proc  # type: ignore[attr-defined]
            fixtures.dbops_postgresql = database  # type: ignore[attr-defined]
            config.pluginmanager.register(fixtures, "dbops-postgresql-fixtures")


@pytest.fixture
def dbops_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    kind = request.config.getini("dbops_database")
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'dbops-migrations.sqlite'}"
        return
    conn = request.getfixturevalue("dbops_postgresql")
    info = conn.info
    yield f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{info.dbname}"


@pytest.fixture
def dbops_config(request: pytest.FixtureRequest, dbops_database_url: str) -> Any:
    from dbops.config import load_config

    return load_config(database_url=dbops_database_url, cwd=request.config.rootpath)


@pytest.fixture
def dbops_engine(dbops_database_url: str) -> Iterator[Any]:
    """A sync SQLAlchemy engine on the test database (for seeds and your own assertions)."""
    import sqlalchemy as sa

    from dbops.db.url import parse_url, sync_url

    engine = sa.create_engine(sync_url(parse_url(dbops_database_url)))
    yield engine
    engine.dispose()


@pytest.fixture
def dbops_seed() -> dict[str, Any]:
    return {}


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
