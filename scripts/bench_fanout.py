#!/usr/bin/env python
"""Tenant fan-out against a sequential per-tenant Alembic loop, in the same run.

Creates N tenant schemas (default 200) in two fresh PostgreSQL databases and upgrades the
reference app in every schema:
1. `dbops upgrade --group tenants --parallel P` (default 4),
2. the anchor: `alembic -x tenant=<schema> upgrade head`, one process per tenant, in sequence
   (what a shell loop over tenants does),
and prints the ratio (goal >= 1.8x on 2 cores) and the peak number of connections dbops held.

Usage: python scripts/bench_fanout.py [--tenants 200] [--parallel 4]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin(*statements: str) -> None:
    engine = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


def make_database(name: str, tenants: int) -> None:
    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    engine = sa.create_engine(sa.make_url(SERVER).set(database=name))
    with engine.begin() as conn:
        for i in range(tenants):
            conn.execute(sa.text(f"CREATE SCHEMA tenant_{i:04d}"))
    engine.dispose()


def peak_connections(database: str, stop: threading.Event, box: list[int]) -> None:
    engine = sa.create_engine(SERVER)
    with engine.connect() as conn:
        while not stop.is_set():
            n = conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"),
                             {"d": database}).scalar_one()
            box[0] = max(box[0], int(n))
            conn.rollback()  # pg_stat_activity is a per-transaction snapshot
            time.sleep(0.01)
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(REPO / "migrations", project / "migrations")
        shutil.copy(REPO / "alembic.ini", project / "alembic.ini")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        try:
            make_database("dbops_bench_fan_a", args.tenants)
            make_database("dbops_bench_fan_b", args.tenants)
            (project / "dbops.toml").write_text(
                'metadata = "shop.models:metadata"\nscript_location = "migrations"\n'
                "[groups.tenants]\nurl = \"postgresql+psycopg://postgres@127.0.0.1/dbops_bench_fan_a\"\n"
                "schemas_sql = \"SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_%' ORDER BY 1\"\n")
            stop, box = threading.Event(), [0]
            watcher = threading.Thread(target=peak_connections, args=("dbops_bench_fan_a", stop, box), daemon=True)
            watcher.start()
            t0 = time.perf_counter()
            subprocess.run([str(BIN / "dbops"), "upgrade", "--group", "tenants", "--parallel", str(args.parallel),
                            "-q", "--format", "json"], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
            ours = time.perf_counter() - t0
            stop.set()
            watcher.join()

            env["DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1/dbops_bench_fan_b"
            t0 = time.perf_counter()
            for i in range(args.tenants):
                subprocess.run([str(BIN / "alembic"), "-x", f"tenant=tenant_{i:04d}", "upgrade", "head"],
                               cwd=project, env=env, check=True, capture_output=True)
            anchor = time.perf_counter() - t0
        finally:
            admin("DROP DATABASE IF EXISTS dbops_bench_fan_a WITH (FORCE)",
                  "DROP DATABASE IF EXISTS dbops_bench_fan_b WITH (FORCE)")
    print(f"{args.tenants} tenant schemas: dbops upgrade --group --parallel {args.parallel} {ours:.1f} s | "
          f"sequential `alembic -x tenant=... upgrade head` loop {anchor:.1f} s | speed-up {anchor / ours:.2f}x "
          f"(goal >= 1.8x) | peak connections held by dbops {box[0]} (goal <= parallel + 1 = {args.parallel + 1})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
