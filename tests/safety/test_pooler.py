"""Migration runs through a real PgBouncer in transaction pooling mode: a lease lock instead of a
session lock, timeouts per transaction, nothing applied twice, nothing left behind."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.helpers import (
    REVISION_TEMPLATE,
    SLOW_AUTOCOMMIT_UP,
    chain,
    dbops_app,
    execute,
    kill_mid_statement_then_rerun,
    start_pgbouncer,
    stop_pgbouncer,
)

pytestmark = pytest.mark.postgres
DBOPS = str(Path(sys.executable).with_name("dbops"))
CHAIN = 6


@pytest.fixture
def bouncer(postgresql: object) -> Iterator[tuple[str, str]]:
    """(URL through PgBouncer in transaction mode, direct URL) for a fresh database."""
    dbname = postgresql.info.dbname  # type: ignore[attr-defined]
    proc, port, directory = start_pgbouncer(dbname, mode="transaction", pool_size=4)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/app", f"postgresql+psycopg://postgres@127.0.0.1/{dbname}"
    finally:
        stop_pgbouncer(proc, directory)


def _app(root: Path, *, sleep: float = 0.3, lease_seconds: float = 3) -> Path:
    return dbops_app(root, "pooled", chain(CHAIN, sleep), f"lease_seconds = {lease_seconds}\n")


def _leftovers(direct: str) -> tuple[int, int]:
    """(rows in dbops_lock, advisory locks held on the server)."""
    leases = execute(direct, "SELECT CASE WHEN to_regclass('dbops_lock') IS NULL THEN 0 ELSE "
                             "(SELECT count(*) FROM dbops_lock) END")[0][0][0]
    # this database's (other tests on the server, e.g. under pytest -n, hold their own)
    advisory = execute(direct, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                               "(SELECT oid FROM pg_database WHERE datname = current_database())")[0][0][0]
    return int(leases), int(advisory)


def _success(direct: str) -> list[str]:
    return [r for (r,) in execute(direct, "SELECT revision FROM dbops_history WHERE outcome = 'success' "
                                          "AND direction = 'upgrade' ORDER BY id")[0]]


def test_eight_concurrent_upgrades_through_transaction_pooling(tmp_path: Path, bouncer: tuple[str, str]) -> None:
    pooled, direct = bouncer
    app = _app(tmp_path)
    env = {**os.environ, "DATABASE_URL": pooled}
    procs = [subprocess.Popen([DBOPS, "upgrade", "--format", "json"], cwd=app, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0] * 8, [err[-600:] for _, _, err in results]
    applied = sorted(s["revision"] for _, out, _ in results for s in json.loads(out)["steps"])
    assert applied == [f"{i:04d}" for i in range(1, CHAIN + 1)]  # each revision applied once, by one runner
    assert _success(direct) == [f"{i:04d}" for i in range(1, CHAIN + 1)]  # one audit row each
    assert all("the migration lock is a lease" in err for _, _, err in results), [e[-300:] for _, _, e in results]
    assert _leftovers(direct) == (0, 0)  # no lease row, no advisory lock stranded on a server connection
    again = subprocess.run([DBOPS, "downgrade", "-1", "--lock-wait", "5"], cwd=app, env=env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0, again.stderr  # the next verb is not blocked by anything left behind


def test_kill_9_of_the_holder_frees_the_lease_within_its_expiry(tmp_path: Path, bouncer: tuple[str, str]) -> None:
    pooled, direct = bouncer
    app = _app(tmp_path, sleep=0.5, lease_seconds=3)
    env = {**os.environ, "DATABASE_URL": pooled}
    first = subprocess.Popen([DBOPS, "upgrade", "-q"], cwd=app, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not execute(direct, "SELECT to_regclass('t2') IS NOT NULL")[0][0][0]:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert _leftovers(direct)[0] == 1  # its lease is still there: nobody renews it now
    started = time.monotonic()
    second = subprocess.run([DBOPS, "upgrade", "--lock-wait", "30", "--format", "json"], cwd=app, env=env,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "waiting for the lock for migrations on this database" in second.stderr  # said what it waited for
    assert time.monotonic() - started < 3 + CHAIN * 0.5 + 10  # the lease's expiry, then the remaining work
    assert _success(direct) == [f"{i:04d}" for i in range(1, CHAIN + 1)]
    assert _leftovers(direct) == (0, 0)


def test_timeouts_hold_per_transaction_and_never_leak(tmp_path: Path, bouncer: tuple[str, str]) -> None:
    pooled, direct = bouncer
    app = _app(tmp_path, sleep=0)
    env = {**os.environ, "DATABASE_URL": pooled}
    assert subprocess.run([DBOPS, "upgrade", "0001", "-q"], cwd=app, env=env).returncode == 0
    dbname = direct.rsplit("/", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={dbname}") as holder:
        holder.execute("LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE")
        (app / "migrations" / "versions" / "0002.py").write_text(REVISION_TEMPLATE.format(
            doc="touches t1", rev="0002", down="0001", up="    op.add_column('t1', sa.Column('x', sa.Integer))",
            down_body="    op.drop_column('t1', 'x')"))
        for later in range(3, CHAIN + 1):
            (app / "migrations" / "versions" / f"{later:04d}.py").unlink()
        started = time.monotonic()
        blocked = subprocess.run([DBOPS, "upgrade", "--lock-timeout", "0.5", "--retries", "0"], cwd=app, env=env,
                                 capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
    assert blocked.returncode == 1
    assert "could not get its lock in time" in blocked.stderr and elapsed < 20  # SET LOCAL held in that transaction
    # no session setting was left on any server connection the pooler lends to others
    conns = [psycopg.connect(pooled.replace("postgresql+psycopg", "postgresql")) for _ in range(4)]
    try:
        for c in conns:
            c.execute("BEGIN")  # each client holds its own server connection now
        assert {c.execute("SHOW lock_timeout").fetchone()[0] for c in conns} == {"0"}  # type: ignore[index]
        assert {c.execute("SHOW search_path").fetchone()[0] for c in conns} == {'"$user", public'}  # type: ignore[index]
    finally:
        for c in conns:
            c.close()
    assert _leftovers(direct) == (0, 0)


def test_data_migrate_through_the_pooler_is_exactly_once_across_kills(tmp_path: Path,
                                                                      bouncer: tuple[str, str]) -> None:
    pooled, direct = bouncer
    app = _app(tmp_path, sleep=0)
    env = {**os.environ, "DATABASE_URL": pooled}
    assert subprocess.run([DBOPS, "upgrade", "0001", "-q"], cwd=app, env=env).returncode == 0
    execute(direct, "CREATE TABLE counts (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)",
            "INSERT INTO counts (id) SELECT g FROM generate_series(1, 20000) g")
    (app / "data_migrations").mkdir()
    (app / "data_migrations" / "bump.py").write_text(
        "from dbops.data import DataMigration\n"
        "migration = DataMigration(name='bump', table='counts', set={'n': 'n + 1'})\n")
    rng = random.Random(int(os.environ.get("DBOPS_TEST_SEED", "4242")))
    partial = []
    for _ in range(3):
        runner = subprocess.Popen([DBOPS, "data-migrate", "bump", "--batch-size", "200", "--pause", "0.02", "-q"],
                                  cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.5, 1.5))
        runner.send_signal(signal.SIGKILL)
        runner.communicate()
        partial.append(execute(direct, "SELECT count(*) FILTER (WHERE n = 1), max(n) FROM counts")[0][0])
    assert 0 < partial[0][0] < 20000, partial  # killed mid-way, not before or after
    assert all(top <= 1 for _, top in partial)  # no row bumped twice at any point
    done = subprocess.run([DBOPS, "data-migrate", "bump", "--format", "json"], cwd=app, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert execute(direct, "SELECT n, count(*) FROM counts GROUP BY n")[0] == [(1, 20000)]  # every row exactly once
    assert _leftovers(direct)[1] == 0


def test_kill_9_mid_statement_behind_the_pooler_never_runs_it_twice_at_once(
    tmp_path: Path, bouncer: tuple[str, str]
) -> None:
    pooled, direct = bouncer
    app = dbops_app(tmp_path, "orphan", [("0001", None, "slow autocommit statement",
                                          SLOW_AUTOCOMMIT_UP.format(seconds=8), "    op.execute('DROP TABLE marks')")],
                    "lease_seconds = 1\n")
    # 1.5 s after the kill the lease (1 s) has expired: only the still-running statement can hold the re-run back
    second, marks, launched = kill_mid_statement_then_rerun(app, {**os.environ, "DATABASE_URL": pooled}, direct,
                                                            pause_after_kill=1.5)
    assert second.returncode == 0, second.stderr
    assert len(marks) == 2 and marks[1][0] >= marks[0][1], marks  # one after the other, never alongside
    if launched < marks[0][1]:  # launched while the killed run's statement still ran: it waited, and said why
        assert "a migration statement of an earlier run that is still executing" in second.stderr, \
            (launched, marks, second.stderr)
