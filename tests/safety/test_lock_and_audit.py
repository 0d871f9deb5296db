"""Migration lock, timeouts with retry, pre-flight, dbops_history and verify on real databases."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result

from tests.helpers import execute

DBOPS = str(Path(sys.executable).with_name("dbops"))

SLOW = '''"""slow"""
from alembic import op
import pathlib, time

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    pathlib.Path({marker!r}).touch()
    {body}


def downgrade():
    pass
'''


def _history(url: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in execute(url, "SELECT command, revision, direction, outcome FROM dbops_history "
                                           "ORDER BY id")[0]]


@pytest.mark.postgres
def test_eight_concurrent_upgrades_apply_each_revision_once(mini_app: Path, pg_psycopg_url: str) -> None:
    marker = mini_app / "started"
    (mini_app / "migrations" / "versions" / "0004.py").write_text(
        SLOW.format(marker=str(marker), body="op.execute('SELECT pg_sleep(1)')"))
    env = {**os.environ, "DATABASE_URL": pg_psycopg_url}
    procs = [subprocess.Popen([DBOPS, "upgrade", "--format", "json", "--lock-wait", "60"], cwd=mini_app, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0] * 8, [err for _, _, err in results]
    applied = [[s["revision"] for s in json.loads(out)["steps"]] for _, out, _ in results]
    assert sorted(applied, key=len, reverse=True) == [["0001", "0002", "0003", "0004"]] + [[]] * 7
    assert sum(1 for _, out, _ in results if json.loads(out)["to_revisions"] == ["0004"]) == 8
    history = _history(pg_psycopg_url)
    assert [(c, r, o) for c, r, _, o in history] == [("upgrade", rev, "success") for rev in ("0001", "0002", "0003",
                                                                                           "0004")]


@pytest.mark.postgres
def test_lock_wait_timeout_names_the_holder(invoke: Callable[..., Result], mini_app: Path, pg_psycopg_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dbops.db.lock.WAIT_REPORT_EVERY", 0.3)
    holder = sa.create_engine(pg_psycopg_url, connect_args={"application_name": "deploy-job-42"})
    with holder.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(hashtextextended('dbops-migrate:.alembic_version', 0))"))
        result = invoke("upgrade", "--lock-wait", "1", "--database-url", pg_psycopg_url, cwd=mini_app)
    holder.dispose()
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    waiting = [line for line in lines if line.startswith("dbops: waiting for the lock for migrations on this database "
                                                          "(dbops-migrate:.alembic_version): held by pid ")]
    assert len(waiting) >= 3 and all("(deploy-job-42, user postgres" in line for line in waiting)  # never silent
    assert lines[len(waiting)].startswith("Error: Another runner holds the lock for migrations on this database "
                                          "(dbops-migrate:.alembic_version): pid ")
    assert "(deploy-job-42, user postgres, from 127.0.0.1, connected since " in result.stderr
    assert "waited 1s" in result.stderr
    assert execute(pg_psycopg_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'widgets'")[0][0][0] == 0
    quiet = invoke("upgrade", "--lock-wait", "0", "-q", "--database-url", pg_psycopg_url, cwd=mini_app)
    assert "waiting" not in quiet.stderr


@pytest.mark.mariadb
def test_lock_on_mariadb_names_the_holder(invoke: Callable[..., Result], mini_app: Path, mariadb_url: str) -> None:
    holder = sa.create_engine(mariadb_url)
    with holder.connect() as conn:
        assert conn.execute(sa.text("SELECT GET_LOCK('dbops-migrate:.alembic_version', 0)")).scalar() == 1
        result = invoke("upgrade", "--lock-wait", "0.3", "--database-url", mariadb_url, cwd=mini_app)
    holder.dispose()
    assert result.exit_code == 1
    assert "Another runner holds the lock for migrations on this database (dbops-migrate:.alembic_version): " \
           "connection " in result.stderr
    assert invoke("upgrade", "--database-url", mariadb_url, cwd=mini_app).exit_code == 0


@pytest.mark.postgres
def test_killed_holder_frees_the_lock(mini_app: Path, pg_psycopg_url: str) -> None:
    marker = mini_app / "started"
    (mini_app / "migrations" / "versions" / "0004.py").write_text(
        SLOW.format(marker=str(marker), body="time.sleep(60)"))
    env = {**os.environ, "DATABASE_URL": pg_psycopg_url}
    first = subprocess.Popen([DBOPS, "upgrade"], cwd=mini_app, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), first.communicate()
    first.send_signal(signal.SIGKILL)
    first.wait()
    (mini_app / "migrations" / "versions" / "0004.py").write_text(SLOW.format(marker=str(marker), body="pass"))
    second = subprocess.run([DBOPS, "upgrade", "--lock-wait", "10"], cwd=mini_app, env=env, capture_output=True,
                            text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "0003 -> 0004" in second.stdout  # 0001-0003 were committed before the kill (transaction per revision)


BLOCKED = '''"""add a column to a busy table"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("widgets", sa.Column("extra", sa.Integer()))


def downgrade():
    op.drop_column("widgets", "extra")
'''


@pytest.mark.postgres
def test_lock_timeout_retries_then_succeeds_and_history_shows_it(
    invoke: Callable[..., Result], mini_app: Path, pg_psycopg_url: str
) -> None:
    assert invoke("upgrade", "--database-url", pg_psycopg_url, cwd=mini_app).exit_code == 0
    (mini_app / "migrations" / "versions" / "0004.py").write_text(BLOCKED)
    blocker = sa.create_engine(pg_psycopg_url)
    conn = blocker.connect()
    tx = conn.begin()
    conn.execute(sa.text("SELECT * FROM widgets"))  # ACCESS SHARE held: ALTER TABLE must wait

    def release() -> None:
        time.sleep(2.0)
        tx.rollback()
        conn.close()

    threading.Thread(target=release, daemon=True).start()
    result = invoke("upgrade", "--lock-timeout", "0.3", "--retries", "6", "--database-url", pg_psycopg_url,
                    "--format", "json", cwd=mini_app)
    blocker.dispose()
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["attempts"] >= 2 and [s["revision"] for s in report["steps"]] == ["0004"]
    rows = execute(pg_psycopg_url, "SELECT revision, outcome, error, statement FROM dbops_history WHERE revision = "
                                   "'0004' ORDER BY id")[0]
    assert [r[1] for r in rows][-1] == "success" and {r[1] for r in rows[:-1]} == {"failed"}
    assert "could not get its lock in time" in rows[0][2]
    assert rows[0][3].startswith("ALTER TABLE widgets ADD COLUMN extra")


@pytest.mark.postgres
def test_lock_timeout_gives_up_and_records_the_failure(
    invoke: Callable[..., Result], mini_app: Path, pg_psycopg_url: str
) -> None:
    invoke("upgrade", "--database-url", pg_psycopg_url, cwd=mini_app)
    (mini_app / "migrations" / "versions" / "0004.py").write_text(BLOCKED)
    blocker = sa.create_engine(pg_psycopg_url)
    with blocker.connect() as conn, conn.begin():
        conn.execute(sa.text("SELECT * FROM widgets"))
        result = invoke("upgrade", "--lock-timeout", "0.2", "--retries", "1", "--database-url", pg_psycopg_url,
                        cwd=mini_app)
    blocker.dispose()
    assert result.exit_code == 1
    assert result.stderr.startswith("dbops: warning: pid ")  # pre-flight named the holder first
    assert "\nError: Revision 0004 (add a column to a busy table) could not get its lock in time " \
           "((psycopg.errors.LockNotAvailable) canceling statement due to lock timeout)." in result.stderr
    failed = execute(pg_psycopg_url, "SELECT count(*) FROM dbops_history WHERE revision = '0004' AND "
                                     "outcome = 'failed'")[0][0][0]
    assert failed == 2  # the first try and one retry
    assert execute(pg_psycopg_url, "SELECT version_num FROM alembic_version")[0] == [("0003",)]


@pytest.mark.postgres
def test_preflight_warns_and_strict_refuses(invoke: Callable[..., Result], mini_app: Path, pg_psycopg_url: str) -> None:
    invoke("upgrade", "--database-url", pg_psycopg_url, cwd=mini_app)
    (mini_app / "migrations" / "versions" / "0004.py").write_text(BLOCKED)
    idle = sa.create_engine(pg_psycopg_url, connect_args={"application_name": "forgotten-shell"})
    with idle.connect() as conn, conn.begin():
        conn.execute(sa.text("SELECT count(*) FROM widgets"))  # then stays idle in transaction
        strict = invoke("upgrade", "--strict", "--database-url", pg_psycopg_url, cwd=mini_app)
        assert strict.exit_code == 3
        assert strict.stderr.startswith("Error: Pre-flight found 1 problem(s) and --strict refuses to migrate: pid ")
        assert "(forgotten-shell, user postgres) holds AccessShareLock on widgets, idle in transaction in a " \
               "transaction open for" in strict.stderr
        assert "SELECT pg_terminate_backend(" in strict.stderr
        warned = invoke("upgrade", "--lock-timeout", "0.2", "--retries", "0", "--database-url", pg_psycopg_url,
                        cwd=mini_app)
        assert "dbops: warning: pid " in warned.stderr
    idle.dispose()


def test_verify_finds_edited_and_removed_revisions(invoke: Callable[..., Result], mini_app: Path,
                                                   sqlite_url: str) -> None:
    assert invoke("upgrade", "--database-url", sqlite_url, cwd=mini_app).exit_code == 0
    ok = invoke("verify", "--database-url", sqlite_url, cwd=mini_app)
    assert ok.exit_code == 0 and ok.stdout.splitlines()[-1] == "3 applied revision(s) match their files."
    rev2 = mini_app / "migrations" / "versions" / "0002.py"
    rev2.write_text(rev2.read_text().replace('"""color"""', '"""color, reworded"""') + "\n# just a comment\n")
    assert invoke("verify", "--database-url", sqlite_url, cwd=mini_app).exit_code == 0  # not code
    rev2.write_text(rev2.read_text().replace("sa.String(20)", "sa.String(25)"))
    edited = invoke("verify", "--database-url", sqlite_url, "--format", "json", cwd=mini_app)
    assert edited.exit_code == 3
    statuses = {i["revision"]: i["status"] for i in json.loads(edited.stdout)["items"]}
    assert statuses == {"0001": "ok", "0002": "edited", "0003": "ok"}
    assert edited.stderr.startswith("Error: 1 applied revision(s) no longer match what ran: 0002 (edited).")
    upgrade = invoke("upgrade", "--database-url", sqlite_url, cwd=mini_app)
    assert "dbops: warning: revision 0002 was edited after it was applied" in upgrade.stderr
    assert invoke("upgrade", "--strict", "--database-url", sqlite_url, cwd=mini_app).exit_code == 3


def test_history_applied(invoke: Callable[..., Result], mini_app: Path, sqlite_url: str) -> None:
    invoke("upgrade", "0002", "--database-url", sqlite_url, cwd=mini_app)
    invoke("downgrade", "-1", "--database-url", sqlite_url, cwd=mini_app)
    invoke("stamp", "0003", "--database-url", sqlite_url, cwd=mini_app)
    result = invoke("history", "--applied", "--database-url", sqlite_url, "--format", "json", cwd=mini_app)
    assert result.exit_code == 0
    rows = json.loads(result.stdout)["rows"]
    assert [(r["command"], r["revision"], r["direction"], r["from_revisions"], r["to_revisions"], r["outcome"])
            for r in reversed(rows)] == [
        ("upgrade", "0001", "upgrade", "", "0001", "success"),
        ("upgrade", "0002", "upgrade", "0001", "0002", "success"),
        ("downgrade", "0002", "downgrade", "0002", "0001", "success"),
        ("stamp", None, None, "0001", "0003", "success"),
    ]
    assert all(r["os_user"] and r["host"] and r["dbops_version"] for r in rows)
    assert len(rows[-1]["checksum"]) == 64


@pytest.mark.postgres
def test_running_data_migration_holds_off_schema_changes(mini_app: Path, pg_psycopg_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": pg_psycopg_url}
    assert subprocess.run([DBOPS, "upgrade", "-q"], cwd=mini_app, env=env, capture_output=True).returncode == 0
    execute(pg_psycopg_url, "INSERT INTO widgets (id, name) SELECT g, 'w' FROM generate_series(1, 3000) g")
    (mini_app / "data_migrations").mkdir()
    (mini_app / "data_migrations" / "slow.py").write_text(
        "from dbops.data import DataMigration\n"
        "migration = DataMigration(name='slow', table='widgets', set={'weight': 'weight + 1'})\n")
    runner = subprocess.Popen([DBOPS, "data-migrate", "slow", "--batch-size", "100", "--pause", "0.1", "-q"],
                              cwd=mini_app, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = execute(pg_psycopg_url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                       "'dbops-data-migrate'")[0][0][0]
        if rows:
            break
        time.sleep(0.05)
    blocked = subprocess.run([DBOPS, "downgrade", "-1", "--lock-wait", "0.5"], cwd=mini_app, env=env,
                             capture_output=True, text=True, timeout=60)
    runner.send_signal(signal.SIGINT)
    runner.communicate(timeout=60)
    assert blocked.returncode == 1
    assert "Another runner holds the lock for migrations on this database" in blocked.stderr
    assert "(dbops-data-migrate, user postgres" in blocked.stderr


@pytest.mark.parametrize("database", [
    "sqlite_url",
    pytest.param("pg_psycopg_url", marks=pytest.mark.postgres),
    pytest.param("pg_asyncpg_url", marks=pytest.mark.postgres),
    "mariadb_url",
])
def test_each_revision_row_is_written_with_its_revision_on_every_driver(
        request: pytest.FixtureRequest, invoke: Callable[..., Result], mini_app: Path, database: str) -> None:
    """The audit row goes through the migration connection's own DBAPI cursor (compiled once per run):
    every column must arrive as SQLAlchemy would have sent it, on each driver's parameter style."""
    url = request.getfixturevalue(database)
    assert invoke("upgrade", "--database-url", url, cwd=mini_app).exit_code == 0
    result = invoke("history", "--applied", "--database-url", url, "--format", "json", cwd=mini_app)
    rows = list(reversed(json.loads(result.stdout)["rows"]))
    assert [(r["revision"], r["from_revisions"], r["to_revisions"], r["outcome"]) for r in rows] == [
        ("0001", "", "0001", "success"), ("0002", "0001", "0002", "success"), ("0003", "0002", "0003", "success")]
    assert len({r["run_id"] for r in rows}) == 1
    assert all(r["checksum"].startswith("v2:") and r["duration_ms"] > 0 and r["os_user"] and r["dbops_version"]
               for r in rows)
    started = [r["started_at"] for r in rows]
    assert started == sorted(started) and len(set(started)) == 3  # each revision's own start time
    # nothing else in the table: the rows were not written twice (once raw, once through SQLAlchemy)
    assert execute(url, "SELECT count(*) FROM dbops_history")[0][0][0] == 3
