"""data-migrate on real PostgreSQL (psycopg and asyncpg) and SQLite."""
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
import sqlalchemy as sa
from click.testing import Result

from dbops.data import DataMigration, run_data_migration
from dbops.errors import DataMigrationError
from tests.helpers import execute

DBOPS = str(Path(sys.executable).with_name("dbops"))


def _state(url: str) -> tuple[int, int, int]:
    """(rows, rows with n == 1, rows with n not in (0, 1))."""
    rows = execute(url, "SELECT count(*), sum(CASE WHEN n = 1 THEN 1 ELSE 0 END), "
                        "sum(CASE WHEN n NOT IN (0, 1) THEN 1 ELSE 0 END) FROM items")[0][0]
    return int(rows[0]), int(rows[1] or 0), int(rows[2] or 0)


def _checkpoint(url: str, name: str) -> tuple[object, ...] | None:
    rows = execute(url, f"SELECT status, last_key, rows_done, error FROM dbops_data_migrations WHERE name = '{name}'")
    return tuple(rows[0][0]) if rows[0] else None


@pytest.fixture(params=["pg-psycopg", "pg-asyncpg", "sqlite"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param.startswith("pg-"):
        return request.getfixturevalue(f"pg_{request.param[3:]}_url")  # type: ignore[no-any-return]
    return request.getfixturevalue("sqlite_url")  # type: ignore[no-any-return]


def test_sql_path_gaps_filter_and_composite_keys(invoke: Callable[..., Result], data_project, url: str) -> None:  # type: ignore[no-untyped-def]
    project = data_project(url, rows=5000)
    result = invoke("data-migrate", "bump_open", "--batch-size", "700", "--database-url", url, "--format", "json",
                    cwd=project)
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)["runs"][0]
    assert (run["status"], run["rows_done"], run["rows_scanned"], run["batches"]) == ("done", 2500, 5000, 8)
    assert run["last_key"] == "[15000]"
    assert execute(url, "SELECT state, min(n), max(n) FROM items GROUP BY state ORDER BY state")[0] == [
        ("closed", 0, 0), ("open", 1, 1)]
    pairs = invoke("data-migrate", "pairs_total", "--batch-size", "333", "--database-url", url, cwd=project)
    assert pairs.exit_code == 0, pairs.stderr
    wrong = execute(url, "SELECT count(*) FROM pairs WHERE total IS NULL OR total <> a * 1000 + b")[0][0][0]
    assert wrong == 0
    again = invoke("data-migrate", "bump_open", "--database-url", url, "--format", "json", cwd=project)
    assert json.loads(again.stdout)["runs"][0]["status"] == "done"  # finished ones are not re-run
    assert _state(url)[2] == 0


def test_python_path_failure_keeps_checkpoint_then_resumes(
    invoke: Callable[..., Result], data_project, url: str, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    project = data_project(url, rows=3000)
    monkeypatch.setenv("DBOPS_TEST_FAIL_AT", "4503")  # row 1501 -> in the 2nd batch of 1000
    failed = invoke("data-migrate", "double_py", "--batch-size", "1000", "--database-url", url, "-q", cwd=project)
    assert failed.exit_code == 1
    assert failed.stderr.startswith("Error: Data migration 'double_py' stopped: the "
                                    "function raised on the batch starting at key [3003]: ValueError: cannot "
                                    "handle row 4503.")
    assert "the checkpoint is at the last good batch (after key [3000])" in failed.stderr
    status, last_key, done, error = _checkpoint(url, "double_py")  # type: ignore[misc]
    assert (status, last_key, done) == ("failed", "[3000]", 1000)
    assert "cannot handle row 4503" in str(error)
    assert execute(url, "SELECT count(*) FROM items WHERE n = 1")[0][0][0] == 1000  # batch 2 rolled back
    monkeypatch.delenv("DBOPS_TEST_FAIL_AT")
    resumed = invoke("data-migrate", "double_py", "--batch-size", "1000", "--database-url", url, "-q", cwd=project)
    assert resumed.exit_code == 0, resumed.stderr
    assert "resumed after key [3000]" in resumed.stdout
    assert _state(url) == (3000, 3000, 0)


def test_dry_run_writes_nothing(invoke: Callable[..., Result], data_project, url: str) -> None:  # type: ignore[no-untyped-def]
    project = data_project(url, rows=2000)
    result = invoke("data-migrate", "bump_open", "--dry-run", "--database-url", url, "--format", "json", cwd=project)
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)["runs"][0]
    assert run["status"] == "dry_run" and run["would_change"] == 1000 and run["estimated_seconds"] is not None
    assert _state(url) == (2000, 0, 0)
    tables = execute(url, "SELECT count(*) FROM items WHERE n <> 0")[0][0][0]
    assert tables == 0
    listing = invoke("data-migrate", "--list", "--database-url", url, "--format", "json", cwd=project)
    assert {m["name"]: m["status"] for m in json.loads(listing.stdout)["migrations"]}["bump_open"] == "pending"


def test_bad_input_is_refused_before_any_write(data_project, url: str) -> None:  # type: ignore[no-untyped-def]
    data_project(url, rows=100)
    engine = sa.create_engine(url.replace("+asyncpg", "+psycopg"))
    cases = [
        (DataMigration(name="x", table="nope", set={"n": "1"}), "table 'nope' does not exist"),
        (DataMigration(name="x", table="items", set={"missing": "1"}), "has no column(s) missing"),
        (DataMigration(name="x", table="items", key="state", set={"n": "1"}),
         "key (state) of 'items' is not the primary key or a unique index"),
        (DataMigration(name="x", table="items", set={"n": "n +* 1"}), "its SQL does not run on 'items'"),
        (DataMigration(name="x", table="items", set={"n": "1"}, where="no_such_col = 1"),
         "its SQL does not run on 'items'"),
    ]
    try:
        for migration, message in cases:
            with engine.connect() as conn, pytest.raises(DataMigrationError) as caught:
                run_data_migration(conn, migration)
            assert message in caught.value.message, caught.value.message
    finally:
        engine.dispose()
    assert _state(url) == (100, 0, 0)
    assert not sa.inspect(sa.create_engine(url.replace("+asyncpg", "+psycopg"))).has_table("dbops_data_migrations")


def test_required_revision_is_checked(invoke: Callable[..., Result], sqlite_url: str, tmp_path: Path) -> None:
    from tests.helpers import REPO

    result = invoke("data-migrate", "orders_total_recompute", "--database-url", sqlite_url, cwd=REPO)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Data migration 'orders_total_recompute' needs schema revision 0002, "
                                    "which is not applied (the database is at base).")
    assert "Run: dbops upgrade 0002" in result.stderr

    # a requires= that names no revision at all is said so, for --list as for a run
    import shutil

    app = tmp_path / "typo"
    shutil.copytree(REPO / "migrations", app / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    (app / "data_migrations").mkdir()
    (app / "data_migrations" / "typo.py").write_text(
        "from dbops.data import DataMigration\n"
        "migration = DataMigration(name='typo', table='orders', set={'total': '0'}, requires='00002')\n")
    (app / "dbops.toml").write_text('script_location = "migrations"\n')
    for argv in (("data-migrate", "typo"), ("data-migrate", "--list")):
        typo = invoke(*argv, "--database-url", sqlite_url, cwd=app)
        assert typo.exit_code == 1
        assert typo.stderr.startswith("Error: Data migration 'typo' requires revision '00002', which is no "
                                      "revision file in "), typo.stderr


def _wait_for_progress(url: str, name: str, minimum: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            cp = _checkpoint(url, name)
        except Exception:
            cp = None
        if cp is not None and int(cp[2]) >= minimum:  # type: ignore[call-overload]
            return
        time.sleep(0.02)
    raise AssertionError("no progress")


@pytest.mark.postgres
@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_kill_9_at_random_batches_resumes_exactly_once(data_project, pg_psycopg_url: str, driver: str) -> None:  # type: ignore[no-untyped-def]
    url = pg_psycopg_url.replace("+psycopg", f"+{driver}")
    project = data_project(url, rows=30000)
    rng = random.Random(7)
    env = {**os.environ, "DATABASE_URL": url}
    for _ in range(3):
        proc = subprocess.Popen([DBOPS, "data-migrate", "bump", "--batch-size", "500", "--pause", "0.01", "-q"],
                                cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cp = _checkpoint(url, "bump") if _has_checkpoints(url) else None
        start = int(cp[2]) if cp else 0  # type: ignore[call-overload]
        _wait_for_progress(url, "bump", start + 500 * rng.randint(1, 8), proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rows, ones, wrong = _state(url)
        assert wrong == 0  # no row applied twice
        status, last_key, done, _ = _checkpoint(url, "bump")  # type: ignore[misc]
        assert status == "running" and done == ones  # checkpoint and data moved together
    final = subprocess.run([DBOPS, "data-migrate", "bump", "--format", "json"], cwd=project, env=env,
                           capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert _state(url) == (30000, 30000, 0)
    assert json.loads(final.stdout)["runs"][0]["resumed_from"] is not None


def _has_checkpoints(url: str) -> bool:
    return sa.inspect(sa.create_engine(url.replace("+asyncpg", "+psycopg"))).has_table("dbops_data_migrations")


@pytest.mark.parametrize("url_fixture", ["pg_psycopg_url", "sqlite_url"])
def test_ctrl_c_pauses_with_130_then_resumes(data_project, request: pytest.FixtureRequest, url_fixture: str) -> None:  # type: ignore[no-untyped-def]
    url = request.getfixturevalue(url_fixture)
    project = data_project(url, rows=20000)
    env = {**os.environ, "DATABASE_URL": url}
    proc = subprocess.Popen([DBOPS, "data-migrate", "bump", "--batch-size", "500", "--pause", "0.02"],
                            cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_progress(url, "bump", 1000, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Stopped after the current batch: bump is paused with" in err
    assert "Resume with: dbops data-migrate bump" in err
    assert "Traceback" not in err
    status, _, done, _ = _checkpoint(url, "bump")  # type: ignore[misc]
    assert status == "paused" and 0 < int(done) < 20000  # type: ignore[call-overload]
    assert _state(url)[1] == done
    resumed = subprocess.run([DBOPS, "data-migrate", "bump", "-q"], cwd=project, env=env, capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert _state(url) == (20000, 20000, 0)


@pytest.mark.postgres
def test_concurrent_runner_is_refused_naming_the_holder(
    invoke: Callable[..., Result], data_project, pg_psycopg_url: str  # type: ignore[no-untyped-def]
) -> None:
    project = data_project(pg_psycopg_url, rows=100)
    holder = sa.create_engine(pg_psycopg_url, connect_args={"application_name": "other-runner"})
    with holder.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(hashtextextended('dbops-data:bump', 0))"))
        result = invoke("data-migrate", "bump", "--database-url", pg_psycopg_url, cwd=project)
        conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
    holder.dispose()
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Another runner holds the lock for data migration 'bump' "
                                    "(dbops-data:bump): pid ")
    assert "(other-runner, user postgres" in result.stderr
    assert _state(pg_psycopg_url) == (100, 0, 0)
    assert invoke("data-migrate", "bump", "--database-url", pg_psycopg_url, cwd=project).exit_code == 0


@pytest.mark.postgres
def test_lock_timeout_retries_against_a_real_blocking_transaction(data_project, pg_psycopg_url: str) -> None:  # type: ignore[no-untyped-def]
    import threading

    data_project(pg_psycopg_url, rows=3000)
    blocker = sa.create_engine(pg_psycopg_url)
    conn = blocker.connect()
    tx = conn.begin()
    conn.execute(sa.text("UPDATE items SET state = state WHERE id = 3"))  # row lock on the first batch
    sleeps: list[float] = []

    def release_later() -> None:
        time.sleep(1.0)
        tx.rollback()
        conn.close()

    threading.Thread(target=release_later, daemon=True).start()
    engine = sa.create_engine(pg_psycopg_url)
    with engine.connect() as c:
        result = run_data_migration(c, DataMigration(name="bump", table="items", set={"n": "n + 1"}),
                                    batch_size=1000, lock_timeout=0.2, retries=8,
                                    sleep=lambda s: (sleeps.append(s), time.sleep(s)))
    engine.dispose()
    blocker.dispose()
    assert result.status == "done" and result.rows_done == 3000
    assert len(sleeps) >= 1 and sleeps == sorted(sleeps)  # backed off, then got through
    assert _state(pg_psycopg_url) == (3000, 3000, 0)


def test_adaptive_batch_size_and_throttle_with_a_fake_clock(data_project, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    data_project(sqlite_url, rows=20000)
    now = [0.0]
    slept: list[float] = []

    def clock() -> float:
        now[0] += 0.01  # every clock read costs 10 ms of "time"
        return now[0]

    sizes: list[int] = []
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        run_data_migration(conn, DataMigration(name="bump", table="items", set={"n": "n + 1"}),
                           batch_seconds=0.5, clock=clock, sleep=slept.append,
                           progress=lambda p: sizes.append(p.batch_size))
        with conn.begin():
            conn.execute(sa.text("UPDATE items SET n = 0"))
        run_data_migration(conn, DataMigration(name="bump2", table="items", set={"n": "n + 1"}),
                           batch_size=1000, max_rows_per_second=2000, clock=clock, sleep=slept.append)
    engine.dispose()
    assert sizes[0] > 1000 and sizes[1] > sizes[0]  # one batch "takes" 10 ms: it grows toward 0.5 s
    assert max(sizes) <= 200_000
    assert len(slept) == 20 and all(0.45 <= s <= 0.5 for s in slept)  # 1000 rows at 2000/s = 0.5 s per batch


def test_python_path_respects_the_filter(data_project, url: str) -> None:  # type: ignore[no-untyped-def]
    data_project(url, rows=4000)

    def plus_ten(rows: list[dict]) -> list[dict]:
        assert all(r["state"] == "open" for r in rows)  # only filtered rows reach the function
        return [{"id": r["id"], "n": r["n"] + 10} for r in rows]

    engine = sa.create_engine(url.replace("+asyncpg", "+psycopg"))
    with engine.connect() as conn:
        result = run_data_migration(conn, DataMigration(name="open10", table="items", fn=plus_ten,
                                                        columns=["n", "state"], where="state = 'open'"),
                                    batch_size=300)
    engine.dispose()
    assert (result.status, result.rows_done, result.rows_scanned) == ("done", 2000, 2000)
    assert execute(url, "SELECT state, min(n), max(n) FROM items GROUP BY state ORDER BY state")[0] == [
        ("closed", 0, 0), ("open", 10, 10)]


@pytest.mark.asyncio
@pytest.mark.postgres
async def test_inside_an_async_connection_via_run_sync(data_project, pg_asyncpg_url: str) -> None:  # type: ignore[no-untyped-def]
    """The pattern inside async code: await conn.run_sync(run_data_migration, migration)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    data_project(pg_asyncpg_url, rows=1500)
    engine = create_async_engine(pg_asyncpg_url)
    async with engine.connect() as conn:
        result = await conn.run_sync(
            lambda sync: run_data_migration(sync, DataMigration(name="bump", table="items", set={"n": "n + 1"}),
                                            batch_size=400))
    await engine.dispose()
    assert (result.status, result.rows_done, result.batches) == ("done", 1500, 4)
    assert _state(pg_asyncpg_url) == (1500, 1500, 0)


REVISION_WITH_DATA = '''"""backfill inside a revision"""
from alembic import op
from dbops.data import DataMigration, run_data_migration

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BACKFILL = DataMigration(name="0003_orders_status", table="orders", key="id", set={{"status": "'archived'"}},
                         where="status = 'old'")


def upgrade():
    {body}


def downgrade():
    pass
'''


@pytest.mark.postgres
@pytest.mark.parametrize("style", ["inline", "autocommit_block"])
@pytest.mark.parametrize("driver", ["psycopg", "asyncpg"])
def test_inside_an_alembic_revision(invoke: Callable[..., Result], project: Path, pg_psycopg_url: str,
                                    style: str, driver: str) -> None:
    url = pg_psycopg_url.replace("+psycopg", f"+{driver}")
    body = ("run_data_migration(op.get_bind(), BACKFILL, batch_size=2)" if style == "inline" else
            "with op.get_context().autocommit_block():\n        run_data_migration(op.get_bind(), BACKFILL, "
            "batch_size=2)")
    (project / "migrations" / "versions" / "0003_backfill.py").write_text(REVISION_WITH_DATA.format(body=body))
    assert invoke("upgrade", "0002", "--database-url", url, cwd=project).exit_code == 0
    execute(url, "INSERT INTO users (id, email, is_active, hashed_password) VALUES (1, 'a@x', true, 'x')",
            "INSERT INTO orders (id, user_id, status, total) VALUES (1, 1, 'old', 0), (2, 1, 'new', 0), "
            "(3, 1, 'old', 0), (7, 1, 'old', 0), (9, 1, 'paid', 0)")
    result = invoke("upgrade", "--database-url", url, cwd=project)
    assert result.exit_code == 0, result.stderr
    assert execute(url, "SELECT id, status FROM orders ORDER BY id")[0] == [
        (1, "archived"), (2, "new"), (3, "archived"), (7, "archived"), (9, "paid")]
    assert _checkpoint(url, "0003_orders_status")[:3] == ("done", "[9]", 3)  # type: ignore[index]
    drift = invoke("check-drift", "--database-url", url, cwd=project)
    assert drift.exit_code == 0, drift.stdout  # the checkpoint table is dbops's, not drift


def test_sqlite_second_runner_is_refused(data_project, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    project = data_project(sqlite_url, rows=30000)
    env = {**os.environ, "DATABASE_URL": sqlite_url}
    first = subprocess.Popen([DBOPS, "data-migrate", "bump", "--batch-size", "500", "--pause", "0.05", "-q"],
                             cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_progress(sqlite_url, "bump", 500, first)
    second = subprocess.run([DBOPS, "data-migrate", "bump", "-q"], cwd=project, env=env, capture_output=True,
                            text=True, timeout=60)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    assert second.returncode == 1
    assert second.stderr.startswith("Error: Another runner holds the lock for data migration 'bump' "
                                    f'(dbops-data:bump): {{"pid": {first.pid}, ')


@pytest.mark.mariadb
def test_mariadb_run_and_resume(invoke: Callable[..., Result], data_project, mariadb_url: str) -> None:  # type: ignore[no-untyped-def]
    project = make_mariadb_rows(data_project, mariadb_url)
    result = invoke("data-migrate", "bump_open", "--batch-size", "300", "--database-url", mariadb_url,
                    "--format", "json", cwd=project)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["runs"][0]["rows_done"] == 1000
    pairs = invoke("data-migrate", "pairs_total", "--batch-size", "97", "--database-url", mariadb_url, cwd=project)
    assert pairs.exit_code == 0, pairs.stderr
    assert execute(mariadb_url, "SELECT count(*) FROM pairs WHERE total IS NULL OR total <> a * 1000 + b")[0][0][0] == 0


def make_mariadb_rows(data_project, url: str) -> Path:  # type: ignore[no-untyped-def]
    project = data_project(None)  # files only; MariaDB's tables below
    execute(url, "CREATE TABLE items (id integer PRIMARY KEY, n integer NOT NULL, state varchar(10) NOT NULL)",
            "CREATE TABLE pairs (a integer NOT NULL, b integer NOT NULL, total integer, PRIMARY KEY (a, b))",
            "INSERT INTO items SELECT seq * 3, 0, IF(seq % 2 = 0, 'open', 'closed') FROM seq_1_to_2000",
            "INSERT INTO pairs (a, b) SELECT x.seq, y.seq FROM seq_1_to_40 x, seq_1_to_50 y "
            "WHERE (x.seq + y.seq) % 7 <> 0")
    return project
