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

pytestmark = pytest.mark.postgres


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
    assert result.stderr.startswith("Error: The connection to the server was lost while revision 0001 (slow) ran (")
    assert "terminating connection due to administrator command" in result.stderr  # psycopg and asyncpg alike
    assert "The version table still says base (read after the failure)." in result.stderr
    assert "Traceback" not in result.stderr
    assert "t" not in schema_of(pg_url)["tables"]
