"""Server-side faults during a migration, injected on a real PostgreSQL: each gets its own paragraph,
exit 1, JSON, and the state read back after the failure."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result

from tests.helpers import dbops_app, schema_of, sync_url

SLOW = [("0001", None, "slow", "    op.execute('CREATE TABLE t (id int)')\n    op.execute('SELECT pg_sleep(4)')",
         "    op.execute('DROP TABLE t')")]




@pytest.mark.postgres
def test_statement_timeout_says_what_was_canceled_and_how_to_raise_it(
        invoke: Callable[..., Result], tmp_path: Path, pg_url: str) -> None:
    app = dbops_app(tmp_path, "slow", SLOW)
    result = invoke("upgrade", "--database-url", pg_url, "--statement-timeout", "1", "--format", "json", cwd=app)
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["message"].startswith("Revision 0001 (slow) ran a statement longer than the statement timeout, "
                                       "and the server canceled it")
    assert "The version table still says base (read after the failure)." in error["message"]
    assert "--statement-timeout SECONDS" in error["hint"]
    assert "t" not in schema_of(pg_url)["tables"]  # the revision's transaction was rolled back


@pytest.mark.postgres
def test_a_session_killed_mid_revision_is_reported_as_a_lost_connection(
        invoke: Callable[..., Result], tmp_path: Path, pg_url: str) -> None:
    app = dbops_app(tmp_path, "killed", SLOW)
    engine = sa.create_engine(sync_url(pg_url), isolation_level="AUTOCOMMIT")
    killed: list[int] = []

    def kill() -> None:  # the fault: an administrator (or a failover) ends the migration's session
        deadline = time.monotonic() + 10
        with engine.connect() as conn:
            while not killed and time.monotonic() < deadline:
                killed.extend(conn.execute(sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep(4)%'")).scalars())
                time.sleep(0.1)

    killer = threading.Thread(target=kill)
    killer.start()
    try:
        result = invoke("upgrade", "--database-url", pg_url, cwd=app)
    finally:
        killer.join()
        engine.dispose()
    assert killed == [True]
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Revision 0001 (slow) lost its connection to the server while it ran (")
    assert "terminating connection due to administrator command). Usually the server restarted or failed over" \
        in result.stderr  # psycopg and asyncpg alike
    assert "The version table still says base (read after the failure)." in result.stderr
    assert "Traceback" not in result.stderr
    assert "t" not in schema_of(pg_url)["tables"]


HALF = [("0001", None, "half", "    op.execute('CREATE TABLE a (id int)')\n    op.execute('INSERT INTO a VALUES (1)')\n"
         "    op.execute('CREATE TABLE b (id int)')\n    op.execute('SELECT nope FROM nowhere')", "    pass")]


@pytest.mark.parametrize("driver", ["sqlite", "sqlite+aiosqlite"])
def test_a_failed_revision_on_sqlite_leaves_none_of_its_ddl(invoke: Callable[..., Result], tmp_path: Path,
                                                            driver: str) -> None:
    """The sqlite3 module runs DDL outside any transaction unless told otherwise: CREATE TABLE a stayed
    while the version table said base, and the re-run failed on 'table a already exists'."""
    app = dbops_app(tmp_path, "half", HALF)
    url = f"{driver}:///{tmp_path / 'app.db'}"
    result = invoke("upgrade", "--database-url", url, cwd=app)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Revision 0001 (half) failed: OperationalError: (sqlite3.OperationalError) "
                                    "no such table: nowhere. The version table still says base")
    assert schema_of(url)["tables"] == []  # neither a nor b
    (app / "migrations" / "versions" / "0001.py").write_text(
        (app / "migrations" / "versions" / "0001.py").read_text().replace("SELECT nope FROM nowhere", "SELECT 1"))
    again = invoke("upgrade", "--database-url", url, cwd=app)
    assert again.exit_code == 0, again.stderr
    assert schema_of(url)["tables"] == ["a", "b"]


def test_a_project_env_on_sqlite_reports_the_ddl_that_stayed(invoke: Callable[..., Result], tmp_path: Path) -> None:
    """The project's own stock env.py opens its own SQLite engine, in the sqlite3 module's default mode:
    CREATE TABLE a commits as it runs, the INSERT opens a transaction that the failure rolls back. The
    message lists what stayed instead of implying a clean state."""
    from alembic import command
    from alembic.config import Config

    app = tmp_path / "stock"
    app.mkdir()
    command.init(Config(str(app / "alembic.ini")), str(app / "migrations"), template="generic")
    ini = app / "alembic.ini"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", f"sqlite:///{tmp_path}/decoy.db"))
    (app / "migrations" / "versions" / "0001.py").write_text(
        (dbops_app(tmp_path, "half", HALF) / "migrations" / "versions" / "0001.py").read_text())
    url = f"sqlite:///{tmp_path / 'app.db'}"
    result = invoke("upgrade", "--database-url", url, cwd=app)
    assert result.exit_code == 1
    assert "The project's env.py runs SQLite through the sqlite3 module's default mode, which commits DDL as it " \
           "runs (until an INSERT, UPDATE or DELETE opens a transaction), so 1 statement(s) of 0001 stayed " \
           "applied: (1) CREATE TABLE a (id int)." in result.stderr
    assert "dbops stamp 0001" in result.stderr
    assert schema_of(url)["tables"] == ["a"]  # what the message says: a stayed, b was rolled back
