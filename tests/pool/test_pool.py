"""dbops pool against the real reference service under uvicorn, saturated for real."""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import Result

from dbops import command
from tests.helpers import config_for, start_shop

pytestmark = pytest.mark.postgres


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(pg_asyncpg_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    command.upgrade(config_for(pg_asyncpg_url))
    extra = getattr(request, "param", {})
    env = {**os.environ, "DATABASE_URL": pg_asyncpg_url, "DBOPS_DB_POOL_SIZE": "2", "DBOPS_DB_MAX_OVERFLOW": "0",
           "DBOPS_DB_POOL_TIMEOUT": "1", "DBOPS_RUNTIME_DIR": str(tmp_path / "rt"), **extra.get("env", {})}
    proc, base = start_shop(env, workers=extra.get("workers", 1))
    yield base
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


def _load(base: str, path: str, n: int) -> list[threading.Thread]:
    def hit() -> None:
        try:
            httpx.get(f"{base}{path}", timeout=30)
        except httpx.HTTPError:
            pass

    threads = [threading.Thread(target=hit, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


def test_the_join_database_can_come_from_a_target(invoke: Callable[..., Result], server: str, pg_asyncpg_url: str,
                                                 tmp_path: Path) -> None:
    """`--target NAME` (or --config): the join uses the url of the dbops configuration, said on stderr
    unless -q; without either, and without --database-url / DATABASE_URL, nothing is joined."""
    project = tmp_path / "ops"
    project.mkdir()
    (project / "dbops.toml").write_text(f'[targets.shop]\nurl = "{pg_asyncpg_url}"\n')
    threads = _load(server, "/slow?seconds=4", 3)
    time.sleep(0.6)
    joined = invoke("pool", "--url", f"{server}/_dbops/pool", "--target", "shop", "--samples", "1", "--format",
                    "json", cwd=project)
    held = json.loads(joined.stdout)["pools"][0]["held"]
    assert held and all(h["server"] and h["server"]["wait"] == "Timeout:PgSleep" for h in held), held
    assert joined.stderr.startswith("joining held connections with postgresql+asyncpg://")
    quiet = invoke("pool", "--url", f"{server}/_dbops/pool", "--target", "shop", "--samples", "1", "-q",
                   "--format", "json", cwd=project)
    assert quiet.stderr == ""
    alone = invoke("pool", "--url", f"{server}/_dbops/pool", "--samples", "1", "--format", "json", cwd=project)
    alone_held = json.loads(alone.stdout)["pools"][0]["held"]
    assert alone_held and all(not h.get("server") for h in alone_held), alone_held
    for t in threads:
        t.join(timeout=30)


# The waiters queue for pool_timeout (4 s) before they time out: the sample must land inside that window,
# which a 1 s timeout did not leave room for on a loaded CI machine (the command's own start-up took it).
@pytest.mark.parametrize("server", [{"env": {"DBOPS_DB_POOL_TIMEOUT": "4"}}], indirect=True)
def test_saturated_busy_pool_joined_to_backends(invoke: Callable[..., Result], server: str,
                                                pg_asyncpg_url: str) -> None:
    threads = _load(server, "/slow?seconds=5", 5)
    time.sleep(0.6)
    result = invoke("pool", "--url", f"{server}/_dbops/pool", "--database-url", pg_asyncpg_url, "--samples", "2",
                    "--interval", "0.3", "--format", "json")
    assert result.exit_code == 1, result.stdout
    data = json.loads(result.stdout)
    pool = data["pools"][0]
    assert (pool["name"], pool["verdict"], pool["capacity"], pool["checked_out"]) == ("shop-api", "busy", 2, 2)
    assert pool["waiting"] >= 1
    assert data["verdict"].startswith("WARN: pool shop-api (worker ")
    assert [h["site"] for h in pool["held"]] == ["GET /slow", "GET /slow"]
    assert all(h["server"]["state"] == "active" and h["server"]["wait"] == "Timeout:PgSleep" for h in pool["held"])
    assert all(h["server"]["application"] == "shop-api" for h in pool["held"])
    for t in threads:
        t.join(timeout=30)
    after = json.loads(invoke("pool", "--url", f"{server}/_dbops/pool", "--samples", "1", "--format",
                              "json").stdout)["pools"][0]
    assert after["timeouts"] >= 1 and after["checked_out"] == 0
    assert after["wait"]["max_ms"] >= 3900  # the timed-out callers waited the whole pool_timeout
    table = invoke("pool", "--url", f"{server}/_dbops/pool", "--samples", "1")
    assert table.exit_code == 1  # not saturated now, but checkouts timed out earlier
    prom = httpx.get(f"{server}/_dbops/pool?format=prometheus").text
    assert 'dbops_pool_capacity{pool="shop-api"' in prom and "dbops_pool_checkout_wait_seconds_bucket" in prom
    assert httpx.get(f"{server}/_dbops/pool/ready").json() == {"ready": True}


def test_stuck_pool_is_crit(invoke: Callable[..., Result], server: str, pg_asyncpg_url: str) -> None:
    threads = _load(server, "/slow?seconds=6&idle=true", 2)
    time.sleep(1.2)
    result = invoke("pool", "--url", f"{server}/_dbops/pool", "--database-url", pg_asyncpg_url, "--samples", "3",
                    "--interval", "0.4", "--stuck-after", "1")
    assert result.exit_code == 2, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("CRIT: pool shop-api (worker ") and " stuck: 2/2 checked out" in lines[0]
    held = [line for line in lines if line.startswith("  slot ")]
    assert len(held) == 2
    assert all("idle in transaction on the server for" in line and "checked out in GET /slow" in line
               for line in held)
    for t in threads:
        t.join(timeout=30)


@pytest.mark.parametrize("server", [{"env": {"DBOPS_POOL_TOKEN": "s3cr3t-token"}}], indirect=True)
def test_token_protects_the_endpoint(invoke: Callable[..., Result], server: str) -> None:
    assert httpx.get(f"{server}/_dbops/pool").status_code == 403
    ok = httpx.get(f"{server}/_dbops/pool", headers={"Authorization": "Bearer s3cr3t-token"})
    assert ok.status_code == 200 and ok.json()["workers"][0]["pools"][0]["name"] == "shop-api"
    denied = invoke("pool", "--url", f"{server}/_dbops/pool", "--samples", "1")
    assert denied.exit_code == 3 and denied.stdout.startswith("UNKNOWN: Could not read the pool snapshot")
    allowed = invoke("pool", "--url", f"{server}/_dbops/pool", "--samples", "1", "--token", "s3cr3t-token")
    assert allowed.exit_code == 0 and allowed.stdout.startswith("OK: 1 pool(s), none saturated")


@pytest.mark.parametrize("server", [{"workers": 2}], indirect=True)
def test_two_workers_are_aggregated(server: str) -> None:
    deadline = time.monotonic() + 15
    pids: set[int] = set()
    while time.monotonic() < deadline and len(pids) < 2:
        pids = {w["pid"] for w in httpx.get(f"{server}/_dbops/pool").json()["workers"]}
        time.sleep(0.3)
    assert len(pids) == 2


def test_unreachable_endpoint_is_unknown(invoke: Callable[..., Result]) -> None:
    result = invoke("pool", "--url", f"http://127.0.0.1:{_port()}/_dbops/pool", "--samples", "1")
    assert result.exit_code == 3
    assert result.stdout.startswith("UNKNOWN: Could not read the pool snapshot at ")
    assert "Traceback" not in result.stdout + result.stderr
