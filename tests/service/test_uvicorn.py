"""One real server: `python -m shop` under uvicorn on a loopback port, driven by the load script."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from dbops import command
from tests.helpers import REPO, config_for, execute, start_shop

pytestmark = pytest.mark.postgres


def test_real_uvicorn_smoke_and_pool_saturation(pg_asyncpg_url: str) -> None:
    command.upgrade(config_for(pg_asyncpg_url))
    env = {**os.environ, "DATABASE_URL": pg_asyncpg_url, "DBOPS_DB_POOL_SIZE": "2", "DBOPS_DB_MAX_OVERFLOW": "0",
           "DBOPS_DB_POOL_TIMEOUT": "0.5"}
    server, base = start_shop(env)
    try:
        created = httpx.post(f"{base}/users", json={"email": "u@example.com", "password": "long enough"})
        assert created.status_code == 201
        assert httpx.get(f"{base}/users").json() == [created.json()]

        load = subprocess.run(
            [sys.executable, str(Path(REPO) / "scripts" / "load_service.py"), "--url", base, "--concurrency", "6",
             "--duration", "2", "--path", "/slow?seconds=1"],
            capture_output=True, text=True, timeout=60, check=True)
        report = json.loads(load.stdout)
        assert report["statuses"].get("200", 0) >= 2
        assert report["statuses"].get("503", 0) >= 1  # the pool (2 connections) saturated: timeouts
        names = execute(pg_asyncpg_url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'shop-api'")
        assert names[0][0][0] >= 1
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit -15)
    assert server.returncode in (0, -signal.SIGTERM), out
    assert "Application shutdown complete" in out
    # the lifespan disposed the pool: no connection of the service is left on the server
    left = execute(pg_asyncpg_url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'shop-api'")
    assert left[0][0][0] == 0
