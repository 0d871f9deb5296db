#!/usr/bin/env python
"""Tenant fan-out against the app's own one-process loop, in the same run, on the same server.

For each size (default 12 and 200 tenant schemas) two fresh PostgreSQL databases get the tenants,
each tenant brought to revision 0001 of the reference app, then the one pending revision (0002) is
applied to every tenant, and then the same again with nothing pending (a no-op rollout):
1. `dbops upgrade --group tenants --parallel P` (default 2, this machine's cores),
2. the anchor: ONE Python process that loops over the tenants calling Alembic's
   `command.upgrade(config, "head")` with `-x tenant=<schema>` (what schema-per-tenant apps write;
   the fair anchor: one interpreter, imports paid once),
and prints each ratio (anchor time / dbops time; goals: >= 1.0x at 12 tenants, >= 1.8x at 200) and
the peak number of connections dbops held (goal <= parallel + 1). Wall time: the rollout's length
is what an operator waits for.

Usage: python scripts/bench_fanout.py [--sizes 12 200] [--parallel 2]
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

LOOP = '''
import argparse, sys
from alembic import command
from alembic.config import Config

for tenant in sys.argv[2:]:
    config = Config("alembic.ini")
    config.cmd_opts = argparse.Namespace(x=[f"tenant={tenant}"])
    command.upgrade(config, sys.argv[1])
'''


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


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def one_size(project: Path, tenants: int, parallel: int, env: dict[str, str]) -> list[str]:
    names = [f"tenant_{i:04d}" for i in range(tenants)]
    ours_db, loop_db = "dbops_bench_fan_a", "dbops_bench_fan_b"
    make_database(ours_db, tenants)
    make_database(loop_db, tenants)
    (project / "dbops.toml").write_text(
        'metadata = "shop.models:metadata"\nscript_location = "migrations"\n'
        f"[groups.tenants]\nurl = \"postgresql+psycopg://postgres@127.0.0.1/{ours_db}\"\n"
        "schemas_sql = \"SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_%' ORDER BY 1\"\n")
    dbops = [str(BIN / "dbops"), "upgrade", "--group", "tenants", "--parallel", str(parallel), "-q"]
    loop = [sys.executable, "-c", LOOP]
    loop_env = {**env, "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1/{loop_db}"}
    # every tenant at 0001 first (untimed), so the timed rollout applies one revision per tenant
    subprocess.run([*dbops, "0001"], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*loop, "0001", *names], cwd=project, env=loop_env, check=True, capture_output=True)
    lines = []
    for label in ("one pending revision", "no-op (all at head)"):
        stop, box = threading.Event(), [0]
        watcher = threading.Thread(target=peak_connections, args=(ours_db, stop, box), daemon=True)
        watcher.start()
        ours = timed(dbops, project, env)
        stop.set()
        watcher.join()
        anchor = timed([*loop, "head", *names], project, loop_env)
        goal = 1.0 if tenants <= 12 else 1.8
        lines.append(f"{tenants:4d} tenants, {label:22s}: dbops --parallel {parallel} {ours:6.2f} s | one-process "
                     f"Alembic loop {anchor:6.2f} s | {anchor / ours:.2f}x (goal >= {goal}x) "
                     f"{'OK' if anchor / ours >= goal else 'MISSED'} | peak connections {box[0]} "
                     f"(goal <= {parallel + 1}) {'OK' if box[0] <= parallel + 1 else 'MISSED'}")
    admin(f"DROP DATABASE IF EXISTS {ours_db} WITH (FORCE)", f"DROP DATABASE IF EXISTS {loop_db} WITH (FORCE)")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 200])
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DATABASE_URL", None)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(REPO / "migrations", project / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPO / "alembic.ini", project / "alembic.ini")
        for size in args.sizes:
            for line in one_size(project, size, args.parallel, env):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
