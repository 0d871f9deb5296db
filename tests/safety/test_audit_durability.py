"""The audit row of a revision is committed with the revision: interruptions never leave a
committed revision unrecorded; verify fails on unrecorded revisions until a baseline is taken;
a no-op upgrade never waits behind a data migration."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import SLOW_AUTOCOMMIT_UP, chain, dbops_app, execute, kill_mid_statement_then_rerun

DBOPS = str(Path(sys.executable).with_name("dbops"))
CHAIN = 6


def _chain_app(root: Path) -> Path:
    return dbops_app(root, "chain", chain(CHAIN, 0.4))


def _version(url: str) -> int:
    exists = execute(url, "SELECT to_regclass('alembic_version') IS NOT NULL")[0][0][0]
    rows = execute(url, "SELECT version_num FROM alembic_version")[0] if exists else []
    return int(rows[0][0]) if rows else 0


def _success_rows(url: str) -> list[tuple[str, object]]:
    exists = execute(url, "SELECT to_regclass('dbops_history') IS NOT NULL")[0][0][0]
    if not exists:
        return []
    return [(r, t) for r, t in execute(url, "SELECT revision, started_at FROM dbops_history WHERE outcome = "
                                            "'success' AND direction = 'upgrade' ORDER BY id")[0]]


@pytest.mark.postgres
def test_every_committed_revision_keeps_its_row_through_sigint_sigterm_and_kill(
    tmp_path: Path, pg_psycopg_url: str
) -> None:
    app = _chain_app(tmp_path)
    env = {**os.environ, "DATABASE_URL": pg_psycopg_url}
    rng = random.Random(int(os.environ.get("DBOPS_TEST_SEED", "1729")))
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        start = _version(pg_psycopg_url)
        if start >= CHAIN - 1:
            break
        stop_at = rng.randint(start + 1, CHAIN - 1)  # interrupt after this revision committed
        proc = subprocess.Popen([DBOPS, "upgrade", "-q"], cwd=app, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while _version(pg_psycopg_url) < stop_at and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(sig)
        proc.communicate(timeout=60)
        reached = _version(pg_psycopg_url)
        assert stop_at <= reached < CHAIN, (sig, reached)
        recorded = [r for r, _ in _success_rows(pg_psycopg_url)]
        assert recorded == [f"{i:04d}" for i in range(1, reached + 1)], (sig, reached, recorded)
        verify = subprocess.run([DBOPS, "verify", "-q"], cwd=app, env=env, capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr
    done = subprocess.run([DBOPS, "upgrade", "--format", "json"], cwd=app, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = _success_rows(pg_psycopg_url)
    assert [r for r, _ in rows] == [f"{i:04d}" for i in range(1, CHAIN + 1)]  # each exactly once
    starts = [t for _, t in rows]
    assert starts == sorted(starts) and len(set(starts)) == CHAIN  # each revision's own start time


def test_verify_fails_on_unrecorded_until_a_baseline(invoke: Callable[..., Result], mini_app: Path,
                                                     sqlite_url: str) -> None:
    # a database migrated before dbops was adopted: revisions applied, no audit rows
    assert invoke("upgrade", "0002", "--database-url", sqlite_url, cwd=mini_app).exit_code == 0
    execute(sqlite_url, "DELETE FROM dbops_history")
    unrecorded = invoke("verify", "--database-url", sqlite_url, "--format", "json", cwd=mini_app)
    assert unrecorded.exit_code == 3
    assert {i["revision"]: i["status"] for i in json.loads(unrecorded.stdout)["items"]} == {
        "0001": "unrecorded", "0002": "unrecorded"}
    assert unrecorded.stderr.startswith("Error: 2 applied revision(s) have no audit row")
    assert "dbops verify --baseline" in unrecorded.stderr

    baseline = invoke("verify", "--baseline", "--database-url", sqlite_url, cwd=mini_app)
    assert baseline.exit_code == 0, baseline.stderr
    assert baseline.stdout.splitlines()[-1] == "2 applied revision(s) match their files."
    applied = json.loads(invoke("history", "--applied", "--database-url", sqlite_url, "--format", "json",
                                cwd=mini_app).stdout)["rows"]
    assert [(r["command"], r["revision"], r["outcome"]) for r in reversed(applied)] == [
        ("baseline", "0001", "baseline"), ("baseline", "0002", "baseline")]
    again = invoke("verify", "--baseline", "--database-url", sqlite_url, cwd=mini_app)
    assert again.exit_code == 0
    assert len(json.loads(invoke("history", "--applied", "--database-url", sqlite_url, "--format", "json",
                                 cwd=mini_app).stdout)["rows"]) == 2  # a second baseline adds nothing

    assert invoke("upgrade", "--database-url", sqlite_url, cwd=mini_app).exit_code == 0
    assert invoke("verify", "--database-url", sqlite_url, cwd=mini_app).exit_code == 0
    rev1 = mini_app / "migrations" / "versions" / "0001.py"
    rev1.write_text(rev1.read_text().replace("sa.String(100)", "sa.String(120)"))
    edited = invoke("verify", "--database-url", sqlite_url, "--format", "json", cwd=mini_app)
    assert edited.exit_code == 3
    assert {i["revision"]: i["status"] for i in json.loads(edited.stdout)["items"]}["0001"] == "edited"


@pytest.mark.postgres
def test_noop_upgrade_never_waits_for_a_data_migration(mini_app: Path, pg_psycopg_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": pg_psycopg_url}
    assert subprocess.run([DBOPS, "upgrade", "0002", "-q"], cwd=mini_app, env=env).returncode == 0
    execute(pg_psycopg_url, "INSERT INTO widgets (id, name) SELECT g, 'w' FROM generate_series(1, 3000) g")
    (mini_app / "data_migrations").mkdir()
    (mini_app / "data_migrations" / "slow.py").write_text(
        "from dbops.data import DataMigration\n"
        "migration = DataMigration(name='slow', table='widgets', set={'color': \"'red'\"})\n")
    runner = subprocess.Popen([DBOPS, "data-migrate", "slow", "--batch-size", "50", "--pause", "0.2", "-q"],
                              cwd=mini_app, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not execute(pg_psycopg_url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                          "'dbops-data-migrate'")[0][0][0] and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        noop = subprocess.run([DBOPS, "upgrade", "0002", "--format", "json"], cwd=mini_app, env=env,
                              capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
        assert noop.returncode == 0, noop.stderr
        assert json.loads(noop.stdout)["steps"] == [] and elapsed < 10  # the default --lock-wait is 60 s
        waiting = subprocess.run([DBOPS, "upgrade", "--lock-wait", "0.5"], cwd=mini_app, env=env,
                                 capture_output=True, text=True, timeout=60)
        assert runner.poll() is None, "the data migration finished too early for this test"
    finally:
        runner.send_signal(signal.SIGINT)
        runner.communicate(timeout=60)
    assert waiting.returncode == 1
    assert "held by pid" in waiting.stderr and "(dbops-data-migrate, user postgres" in waiting.stderr
    assert "a data migration is running" in waiting.stderr


@pytest.mark.postgres
def test_kill_9_mid_statement_never_runs_it_twice_at_once(tmp_path: Path, pg_psycopg_url: str) -> None:
    # 8 s: the re-run must start while the killed run's statement still executes, and a re-run's start-up
    # took more than 3 s on a loaded CI machine (the statement had finished; nothing to wait for, nothing said)
    app = dbops_app(tmp_path, "orphan", [("0001", None, "slow autocommit statement",
                                          SLOW_AUTOCOMMIT_UP.format(seconds=8), "    op.execute('DROP TABLE marks')")])
    second, marks, launched = kill_mid_statement_then_rerun(app, {**os.environ, "DATABASE_URL": pg_psycopg_url},
                                                            pg_psycopg_url)
    assert second.returncode == 0, second.stderr
    assert len(marks) == 2  # the killed run's statement finished on its own; the re-run ran it again
    assert marks[1][0] >= marks[0][1], marks  # ... but only after the first had finished, never alongside
    if launched < marks[0][1]:  # launched while the killed run's statement still ran: it waited, and said why
        assert "a migration statement of an earlier run that is still executing" in second.stderr


HALF_UP = '''    op.create_table("first", sa.Column("id", sa.Integer, primary_key=True))
    op.add_column("first", sa.Column("note", sa.String(20)))
    op.execute("SELECT * FROM no_such_table")'''


@pytest.mark.parametrize("kind", [pytest.param("mariadb", marks=pytest.mark.mariadb),
                                  pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_half_applied_revision_is_told_as_it_is(request: pytest.FixtureRequest, invoke: Callable[..., Result],
                                                  tmp_path: Path, kind: str) -> None:
    url = request.getfixturevalue("mariadb_url" if kind == "mariadb" else "pg_psycopg_url")
    app = dbops_app(tmp_path, "half", [("0001", None, "two DDL then a failure", HALF_UP,
                                        "    op.drop_table('first')")])
    failed = invoke("upgrade", "--database-url", url, "--format", "json", cwd=app)
    assert failed.exit_code == 1
    message = json.loads(failed.stdout)["error"]["message"]
    tables = execute(url, "SELECT table_name FROM information_schema.tables WHERE table_name = 'first'")[0]
    if kind == "mariadb":
        assert "so 2 statement(s) of 0001 stayed applied: (1) CREATE TABLE first" in message
        assert message.endswith("The version table still says base (read after the failure).")
        assert "(1) CREATE TABLE first" in message and "(2) ALTER TABLE first ADD COLUMN note" in message
        assert "dbops stamp 0001" in failed.stderr
        assert len(tables) == 1  # it is true: the table is there
    else:
        assert "stayed applied" not in message
        assert message.endswith("The version table still says base (read after the failure).")
        assert tables == []  # transactional DDL: rolled back


def test_verify_reads_checksums_recorded_by_the_first_algorithm(invoke: Callable[..., Result], mini_app: Path,
                                                                sqlite_url: str) -> None:
    from dbops.safety.checksum import revision_checksum

    assert invoke("upgrade", "--database-url", sqlite_url, cwd=mini_app).exit_code == 0
    rev2 = mini_app / "migrations" / "versions" / "0002.py"
    v1 = revision_checksum(rev2.read_text())
    execute(sqlite_url, f"UPDATE dbops_history SET checksum = '{v1}' WHERE revision = '0002'")  # an old row
    assert invoke("verify", "--database-url", sqlite_url, cwd=mini_app).exit_code == 0
    rev2.write_text(rev2.read_text().replace("sa.String(20)", "sa.String(25)"))
    edited = invoke("verify", "--database-url", sqlite_url, "--format", "json", cwd=mini_app)
    assert edited.exit_code == 3
    items = {i["revision"]: i for i in json.loads(edited.stdout)["items"]}
    assert items["0002"]["status"] == "edited" and items["0002"]["recorded_checksum"] == v1
    assert items["0001"]["recorded_checksum"].startswith("v2:")  # new rows say their algorithm
