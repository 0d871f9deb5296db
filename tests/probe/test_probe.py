"""dbops probe against a real incident on PostgreSQL: idle-in-transaction root, a queued ALTER,
three readers queued behind it."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from click.testing import Result

from tests.helpers import execute

pytestmark = pytest.mark.postgres


def _engine(url: str, name: str) -> sa.Engine:
    return sa.create_engine(url, connect_args={"application_name": name})


@pytest.fixture
def incident(pg_psycopg_url: str) -> Iterator[int]:
    execute(pg_psycopg_url, "CREATE TABLE accounts (id int PRIMARY KEY, balance int)",
            "INSERT INTO accounts VALUES (1, 10), (2, 20)")
    root_engine = _engine(pg_psycopg_url, "app-web")
    root = root_engine.connect()
    tx = root.begin()
    root.execute(sa.text("UPDATE accounts SET balance = balance + 1 WHERE id = 1"))
    root_pid = root.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()  # then: idle in transaction
    engines = [_engine(pg_psycopg_url, "deploy-migrate")] + [_engine(pg_psycopg_url, f"reader-{i}") for i in range(3)]
    statements = ["ALTER TABLE accounts ADD COLUMN note text"] + ["SELECT count(*) FROM accounts"] * 3
    errors: list[BaseException] = []

    def run(engine: sa.Engine, statement: str) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(statement))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = []
    for engine, statement in zip(engines, statements, strict=True):
        thread = threading.Thread(target=run, args=(engine, statement), daemon=True)
        thread.start()
        threads.append(thread)
        time.sleep(0.2)  # the ALTER queues first, the readers behind it
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = execute(pg_psycopg_url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        if waiting[0][0][0] >= 4:
            break
        time.sleep(0.05)
    try:
        yield root_pid
    finally:
        tx.rollback()
        root.close()
        for thread in threads:
            thread.join(timeout=20)
        root_engine.dispose()
        for engine in engines:
            engine.dispose()
        assert not errors, errors


def test_incident_names_the_idle_root_and_exits_2(invoke: Callable[..., Result], incident: int,
                                                  pg_psycopg_url: str) -> None:
    result = invoke("probe", "--database-url", pg_psycopg_url, "--format", "json")
    assert result.exit_code == 2, result.stdout
    data = json.loads(result.stdout)
    assert data["status"] == "CRIT"
    assert data["verdict"].startswith(f"CRIT: 4 session(s) blocked behind pid {incident} (app-web, "
                                      "idle in transaction ")
    root = data["blocking"][0]
    assert (root["pid"], root["blocks"], root["state"], root["application"]) == (
        incident, 4, "idle in transaction", "app-web")
    assert root["terminate"] == f"SELECT pg_terminate_backend({incident});"
    waiters = {w["application"]: w for w in root["waiters"]}
    assert waiters["deploy-migrate"]["mode"] == "AccessExclusiveLock"
    assert waiters["deploy-migrate"]["relation"] == "accounts"
    assert {w["mode"] for n, w in waiters.items() if n.startswith("reader-")} == {"AccessShareLock"}
    # soft blocks: the readers wait behind the queued ALTER, not the root (pg_blocking_pids sees it)
    assert all(w["blocked_by"] != [incident] for n, w in waiters.items() if n.startswith("reader-"))
    assert data["wait_events"]["Lock:relation"] == 4
    assert all(w["query"] is None for w in root["waiters"])  # no SQL text without --show-queries
    table = invoke("probe", "--database-url", pg_psycopg_url)
    assert table.exit_code == 2
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"CRIT: 4 session(s) blocked behind pid {incident} (app-web, idle in transaction ")
    assert any(line.strip().startswith(f"cancel its query: SELECT pg_cancel_backend({incident});")
               for line in lines)
    shown = invoke("probe", "--database-url", pg_psycopg_url, "--format", "json", "--show-queries")
    queries = [w["query"] for w in json.loads(shown.stdout)["blocking"][0]["waiters"]]
    assert "ALTER TABLE accounts ADD COLUMN note text" in queries


def test_thresholds_and_ok(invoke: Callable[..., Result], pg_psycopg_url: str) -> None:
    ok = invoke("probe", "--database-url", pg_psycopg_url, "--format", "json")
    assert ok.exit_code == 0
    data = json.loads(ok.stdout)
    assert data["status"] == "OK" and data["verdict"].startswith("OK: ")
    assert data["server"]["role"] == "primary" and data["server"]["pg_monitor"] is True
    assert data["thresholds"]["idle_in_transaction_warn_s"] == 60.0
    engine = _engine(pg_psycopg_url, "forgotten")
    with engine.connect() as conn, conn.begin():
        conn.execute(sa.text("SELECT 1"))
        time.sleep(1.2)
        warn = invoke("probe", "--database-url", pg_psycopg_url, "--threshold", "idle_in_transaction_warn_s=1",
                      "--format", "json")
        crit = invoke("probe", "--database-url", pg_psycopg_url, "--threshold", "idle_in_transaction_warn_s=0.5",
                      "--threshold", "idle_in_transaction_crit_s=1", "--format", "json")
    engine.dispose()
    assert warn.exit_code == 1
    assert json.loads(warn.stdout)["verdict"].startswith("WARN: 1 session(s) idle in transaction, oldest pid ")
    assert crit.exit_code == 2
    bad = invoke("probe", "--database-url", pg_psycopg_url, "--threshold", "nope=1")
    assert bad.exit_code == 3
    assert "--threshold 'nope=1': expected NAME=VALUE" in bad.stderr


def test_unreachable_server_is_crit_without_traceback(invoke: Callable[..., Result]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = invoke("probe", "--database-url", f"postgresql://u:secret-pw@127.0.0.1:{port}/app")
    assert result.exit_code == 2
    assert result.stdout.startswith(f"CRIT: cannot connect: Could not connect to postgresql+psycopg://u:***@127.0.0.1:"
                                    f"{port}/app: the connection was refused.")
    assert "Traceback" not in result.stdout + result.stderr and "secret-pw" not in result.stdout + result.stderr


def test_role_without_pg_monitor_is_labelled(invoke: Callable[..., Result], pg_psycopg_url: str) -> None:
    execute(pg_psycopg_url, "DROP ROLE IF EXISTS dbops_probe_plain", "CREATE ROLE dbops_probe_plain LOGIN")
    try:
        url = pg_psycopg_url.replace("postgres@", "dbops_probe_plain@", 1)
        result = invoke("probe", "--database-url", url, "--format", "json")
        data = json.loads(result.stdout)
        assert result.exit_code == 1
        assert data["server"]["pg_monitor"] is False
        assert any(f["code"] == "privileges" and "lacks pg_monitor" in f["message"] for f in data["findings"])
        table = invoke("probe", "--database-url", url)
        assert "WITHOUT pg_monitor: partial view" in table.stdout
    finally:
        execute(pg_psycopg_url, "DROP ROLE IF EXISTS dbops_probe_plain")


def test_watch_refreshes_with_rates(pg_psycopg_url: str) -> None:
    import signal
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).with_name("dbops"))
    proc = subprocess.Popen([exe, "probe", "--watch", "0.5", "--database-url", pg_psycopg_url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # a loaded machine may take seconds to start it: wait for its first sample
        line = proc.stdout.readline()
        first.append(line)
        if "OK: " in line or not line:
            break
    time.sleep(1.5)  # then at least one refresh (every 0.5 s)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=20)
    out = "".join(first) + rest
    assert proc.returncode == 0, err
    assert out.count("OK: ") >= 2 and "commits/s" in out and "Traceback" not in err
