"""Fixtures: real databases only.

PostgreSQL: pytest-postgresql's ``postgresql_noproc`` against the running server (initdb
refuses to run as root), a fresh database per test. MariaDB: a fresh database per test on
the running server. SQLite: a file under tmp_path. When DBOPS_REQUIRE_POSTGRES=1 (set by
.ci/run) the session fails unless PostgreSQL-marked tests ran and none was skipped.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pytest_postgresql import factories

from dbops.cli import cli

pytest_plugins = ["pytester"]

# dbops caches revision checksums under $XDG_CACHE_HOME; keep the suite's (and its subprocesses') apart. The
# reference app publishes pool snapshots to a runtime directory when it is built: the suite's, not /tmp's.
# Both are removed when this process's session ends (pytest_unconfigure; xdist workers leave with os._exit).
_SCRATCH_DIRS: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    import atexit
    import tempfile

    _SCRATCH_DIRS[:] = [tempfile.mkdtemp(prefix=prefix) for prefix in ("dbops-test-cache-", "dbops-test-rt-")]
    os.environ["XDG_CACHE_HOME"] = _SCRATCH_DIRS[0]
    os.environ.setdefault("DBOPS_RUNTIME_DIR", os.path.join(_SCRATCH_DIRS[1], "pool"))
    # registered before dbops registers its own exit handlers (which write the checksum cache), so it runs
    # after them: atexit runs handlers last-registered first
    atexit.register(_remove_scratch_dirs)


def _remove_scratch_dirs() -> None:
    for path in _SCRATCH_DIRS:
        shutil.rmtree(path, ignore_errors=True)

REPO = Path(__file__).resolve().parents[1]

# One template database per test session (pytest-postgresql clones it per test): a session that was
# killed leaves its template behind, and a fixed name would then break every later session.
SESSION_DB = f"dbops_test_{os.getpid()}"
postgresql_noproc = factories.postgresql_noproc(dbname=SESSION_DB)
postgresql = factories.postgresql("postgresql_noproc")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Drop what killed sessions left: dbops_test_<pid>[_tmpl] whose pid is gone (best effort)."""
    import re

    from dbops.pool.endpoint import pid_alive

    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True,
                             connect_timeout=3) as conn:
            names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname ~ "
                                                "'^dbops_test(_dbops)?(_[0-9]+)?(_tmpl)?$'")]
            for name in names:
                match = re.match(r"^dbops_test(?:_dbops)?_([0-9]+)", name)  # ours, or the plugin's per-run
                pid = int(match.group(1)) if match else None
                if pid is not None and pid != os.getpid() and pid_alive(pid):
                    continue
                if pid == os.getpid():
                    continue
                try:  # pytest-postgresql marks its templates as templates, which DROP refuses
                    conn.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE false')
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except psycopg.Error:
                    continue
    except Exception:  # noqa: BLE001  no server: the PostgreSQL tests report that themselves
        pass


def _pg_url(conn: object, driver: str, password: str | None = None) -> str:
    info = conn.info  # type: ignore[attr-defined]
    auth = f"{info.user}:{password}" if password else info.user
    return f"postgresql+{driver}://{auth}@{info.host}:{info.port}/{info.dbname}"


@pytest.fixture(params=["psycopg", "asyncpg"])
def pg_url(request: pytest.FixtureRequest, postgresql: object) -> str:
    """A fresh PostgreSQL database, once through psycopg and once through asyncpg."""
    request.applymarker(pytest.mark.postgres)
    return _pg_url(postgresql, request.param)


@pytest.fixture
def pg_psycopg_url(request: pytest.FixtureRequest, postgresql: object) -> str:
    request.applymarker(pytest.mark.postgres)
    return _pg_url(postgresql, "psycopg")


@pytest.fixture
def pg_asyncpg_url(request: pytest.FixtureRequest, postgresql: object) -> str:
    request.applymarker(pytest.mark.postgres)
    return _pg_url(postgresql, "asyncpg")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.sqlite'}"


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    import pymysql

    name = f"dbops_t_{uuid.uuid4().hex[:10]}"
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture(params=["sqlite", "pg-psycopg", "pg-asyncpg", "mariadb"])
def any_url(request: pytest.FixtureRequest) -> str:
    """The reference app's databases: SQLite, PostgreSQL (both drivers), MariaDB."""
    name = request.param
    if name.startswith("pg-"):
        request.applymarker(pytest.mark.postgres)
        return _pg_url(request.getfixturevalue("postgresql"), name[3:])
    if name == "mariadb":
        request.applymarker(pytest.mark.mariadb)
        return request.getfixturevalue("mariadb_url")  # type: ignore[no-any-return]
    return request.getfixturevalue("sqlite_url")  # type: ignore[no-any-return]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the reference app's migration environment that a test may change."""
    root = tmp_path / "proj"
    root.mkdir()
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "migrations", root / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "dbops.toml").write_text('metadata = "shop.models:metadata"\nscript_location = "migrations"\n')
    return root


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run ``dbops ARGS`` in-process from ``cwd`` (default: the repo) with a clean environment."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DBOPS_DATABASE_URL", raising=False)

    def run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> Result:
        old = os.getcwd()
        os.chdir(cwd)
        try:
            return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        finally:
            os.chdir(old)

    return run


def run_cli(*args: str, cwd: Path | str = REPO, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real console script in a subprocess (as users and CI do)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DBOPS_DATABASE_URL")}
    full_env.update(env or {})
    exe = Path(sys.executable).with_name("dbops")
    return subprocess.run([str(exe), *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# -- "PostgreSQL tests must run" guard ------------------------------------------------------

# The server-free tier: `pytest -m "not db"` runs every test that needs neither PostgreSQL nor MariaDB
# (SQLite, the pure cores, the CLI's parsing and rendering). A test is `db` when it uses a server
# fixture or carries a server marker. With DBOPS_SERVER_FREE=1 (how .ci/run runs the tier) a tier
# test that still opens a connection to a server port in this process fails: the tier cannot
# silently depend on a server.
SERVER_FIXTURES = frozenset({"pg_url", "pg_psycopg_url", "pg_asyncpg_url", "mariadb_url", "any_url", "postgresql",
                             "postgresql_noproc"})
SERVER_MARKERS = ("postgres", "mariadb", "dbops_migrations")
SERVER_PORTS = frozenset({5432, 3306, 6432})


def _needs_server(item: pytest.Item) -> bool:
    if set(getattr(item, "fixturenames", ())) & SERVER_FIXTURES or any(
            item.get_closest_marker(m) for m in SERVER_MARKERS):
        return True
    # parametrized by server: a fixture's name fetched with getfixturevalue ("pg_psycopg_url", "mariadb_url"),
    # a driver or dialect id ("psycopg", "pg-asyncpg", "mariadb"), or a case that says it needs one
    callspec = getattr(item, "callspec", None)
    for value in callspec.params.values() if callspec is not None else ():
        if isinstance(value, str) and (value in SERVER_FIXTURES or value in ("psycopg", "asyncpg", "mariadb_db")
                                       or value.startswith(("pg_", "pg-", "mariadb"))):
            return True
        if getattr(value, "postgres", False) is True or getattr(value, "mariadb", False) is True:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _needs_server(item):
            item.add_marker(pytest.mark.db)


if os.environ.get("DBOPS_SERVER_FREE") == "1":
    import socket

    _connect = socket.socket.connect

    def _refuse_servers(self: socket.socket, address: object) -> None:
        if isinstance(address, tuple) and len(address) >= 2 and address[1] in SERVER_PORTS:
            raise ConnectionRefusedError(f"DBOPS_SERVER_FREE=1: this test reached a database server at {address}; "
                                         "mark it (a server fixture or @pytest.mark.postgres)")
        _connect(self, address)  # type: ignore[arg-type]

    socket.socket.connect = _refuse_servers  # type: ignore[method-assign]

    # psycopg connects through libpq's own sockets, not Python's: refuse it at its entry points when it
    # aims at a local server (an unresolvable host or a closed port stays a real, server-free test)
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    def _guard(original: Any) -> Any:
        def connect(conninfo: str = "", **kwargs: Any) -> Any:
            params = conninfo_to_dict(conninfo, **kwargs)
            host, port = str(params.get("host") or "localhost"), int(params.get("port") or 5432)
            if (host in ("127.0.0.1", "localhost", "::1") or host.startswith("/")) and port in SERVER_PORTS:
                raise psycopg.OperationalError(f"DBOPS_SERVER_FREE=1: this test reached PostgreSQL at {host}:{port} "
                                               "through psycopg; mark it (a server fixture or @pytest.mark.postgres)")
            return original(conninfo, **kwargs)

        return connect

    psycopg.Connection.connect = _guard(psycopg.Connection.connect)  # type: ignore[method-assign]
    psycopg.AsyncConnection.connect = _guard(psycopg.AsyncConnection.connect)  # type: ignore[method-assign]
    psycopg.connect = psycopg.Connection.connect  # type: ignore[assignment]


_pg_outcomes = {"passed": 0, "skipped": 0, "failed": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "postgres" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _pg_outcomes[report.outcome] = _pg_outcomes.get(report.outcome, 0) + 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("DBOPS_REQUIRE_POSTGRES") != "1":
        return
    if _pg_outcomes["passed"] == 0 or _pg_outcomes["skipped"]:
        sys.stderr.write(
            f"\nDBOPS_REQUIRE_POSTGRES=1 but PostgreSQL tests did not all run: {_pg_outcomes}. "
            "Is the server at 127.0.0.1:5432 up?\n"
        )
        session.exitstatus = 1
