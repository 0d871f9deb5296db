"""dbops probe --pgbouncer against a real PgBouncer (session pooling, pool_size 2, 3 clients)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from click.testing import Result

pytestmark = pytest.mark.postgres


@pytest.fixture
def pgbouncer(postgresql: object) -> Iterator[tuple[int, str]]:
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.path.exists(exe):
        pytest.fail("pgbouncer is not installed; .ci/run installs it (apt-get install pgbouncer)")
    dbname = postgresql.info.dbname  # type: ignore[attr-defined]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    directory = tempfile.mkdtemp(prefix="dbops-pgb-", dir="/tmp")
    os.chmod(directory, 0o777)  # pgbouncer runs as postgres (it refuses root)
    with open(f"{directory}/users.txt", "w") as fh:
        fh.write('"postgres" ""\n')
    with open(f"{directory}/pgbouncer.ini", "w") as fh:
        fh.write(f"[databases]\napp = host=127.0.0.1 port=5432 dbname={dbname} pool_size=2\n\n[pgbouncer]\n"
                 f"listen_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\n"
                 f"auth_file = {directory}/users.txt\nadmin_users = postgres\npool_mode = session\n"
                 f"logfile = {directory}/pgbouncer.log\npidfile = {directory}/pgbouncer.pid\nunix_socket_dir =\n")
    for name in os.listdir(directory):
        os.chmod(f"{directory}/{name}", 0o666)
    proc = subprocess.Popen([exe, "-u", "postgres", f"{directory}/pgbouncer.ini"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="pgbouncer",
                            autocommit=True, cursor_factory=psycopg.ClientCursor).close()
            break
        except psycopg.Error:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
    yield port, dbname
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)


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
