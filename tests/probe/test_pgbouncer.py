"""dbops probe --pgbouncer against a real PgBouncer (session pooling, pool_size 2, 3 clients)."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from click.testing import Result

from tests.helpers import start_pgbouncer, stop_pgbouncer

pytestmark = pytest.mark.postgres


@pytest.fixture
def pgbouncer(postgresql: object) -> Iterator[tuple[int, str]]:
    dbname = postgresql.info.dbname  # type: ignore[attr-defined]
    proc, port, directory = start_pgbouncer(dbname, mode="session", pool_size=2)
    yield port, dbname
    stop_pgbouncer(proc, directory)


def test_waiting_clients_are_reported(invoke: Callable[..., Result], pgbouncer: tuple[int, str],
                                      pg_psycopg_url: str) -> None:
    port, _ = pgbouncer
    clients = [psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="app") for _ in range(2)]
    for c in clients:
        c.execute("SELECT 1")  # session pooling: each holds one of the 2 server connections
    third: list[psycopg.Connection] = []

    def connect_third() -> None:
        conn = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="app")
        conn.execute("SELECT 1")  # waits for a server connection
        third.append(conn)

    waiter = threading.Thread(target=connect_third, daemon=True)
    waiter.start()
    time.sleep(1.2)
    result = invoke("probe", "--database-url", pg_psycopg_url, "--pgbouncer",
                    f"postgresql://postgres@127.0.0.1:{port}/pgbouncer", "--format", "json")
    for c in clients:
        c.close()
    waiter.join(timeout=10)
    for c in third:
        c.close()
    data = json.loads(result.stdout)
    pool = next(p for p in data["pgbouncer"]["pools"] if p["database"] == "app")
    assert (pool["cl_waiting"], pool["sv_active"], pool["pool_size"]) == (1, 2, 2)
    assert pool["maxwait_s"] >= 1.0
    assert result.exit_code == 1
    finding = next(f for f in data["findings"] if f["code"] == "pgbouncer")
    assert finding["message"].startswith("PgBouncer pool app/postgres: 1 client(s) waiting (oldest ")
