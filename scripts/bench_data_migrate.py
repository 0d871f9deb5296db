#!/usr/bin/env python
"""data-migrate throughput against a single UPDATE and a naive ORM loop, in the same run.

On an N-row PostgreSQL table (default 1,000,000):
1. one ``UPDATE t SET b = a * 2 + 1`` (the anchor, rows/s),
2. dbops with defaults, SQL-expression path (keyset batches, commit + checkpoint per batch),
   goal >= 0.95x the anchor,
3. dbops, Python-function path, and a naive ORM loop (load each row, set, flush every 1000,
   one commit) on a sample of rows, goal: function path >= 5x the ORM loop,
4. peak RSS of the ``dbops data-migrate`` process at N/4 and N rows (memory flat with size).

Usage: python scripts/bench_data_migrate.py [--rows 1000000] [--sample 200000]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from dbops.data import DataMigration, run_data_migration

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "bench_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    a: Mapped[int]
    b: Mapped[int | None]


def setup(url: str, rows: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("DROP TABLE IF EXISTS bench_rows; DROP TABLE IF EXISTS dbops_data_migrations")
        c.exec_driver_sql("CREATE TABLE bench_rows (id integer PRIMARY KEY, a integer NOT NULL, b integer)")
        c.exec_driver_sql(f"INSERT INTO bench_rows SELECT g, mod(g, 1000), NULL FROM generate_series(1, {rows}) g")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE bench_rows")
    engine.dispose()


def reset(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("UPDATE bench_rows SET b = NULL; DROP TABLE IF EXISTS dbops_data_migrations")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM bench_rows")
    engine.dispose()


def single_update(url: str) -> float:
    engine = sa.create_engine(url)
    with engine.begin() as c:
        t0 = time.perf_counter()
        c.exec_driver_sql("UPDATE bench_rows SET b = a * 2 + 1")
        elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


def dbops_sql(url: str) -> float:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        t0 = time.perf_counter()
        run_data_migration(c, DataMigration(name="bench_sql", table="bench_rows", set={"b": "a * 2 + 1"}))
        elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


def dbops_fn(url: str, sample: int) -> float:
    def fn(rows: list[dict]) -> list[dict]:
        return [{"id": r["id"], "b": r["a"] * 2 + 1} for r in rows]

    engine = sa.create_engine(url)
    with engine.connect() as c:
        t0 = time.perf_counter()
        run_data_migration(c, DataMigration(name="bench_fn", table="bench_rows", fn=fn, columns=["a"],
                                            where=f"id <= {sample}"))
        elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


def orm_loop(url: str, sample: int) -> float:
    engine = sa.create_engine(url)
    with Session(engine) as session:
        t0 = time.perf_counter()
        for i, row in enumerate(session.scalars(sa.select(Row).where(Row.id <= sample).order_by(Row.id)), 1):
            row.b = row.a * 2 + 1
            if i % 1000 == 0:
                session.flush()
        session.commit()
        elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


def peak_rss_mb(url: str) -> float:
    """Peak RSS of a `dbops data-migrate` process over the whole table."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data_migrations").mkdir()
        (root / "data_migrations" / "bench.py").write_text(
            "from dbops.data import DataMigration\n"
            "migration = DataMigration(name='bench_rss', table='bench_rows', set={'b': 'a * 2 + 1'})\n")
        (root / "migrations" / "versions").mkdir(parents=True)
        (root / "migrations" / "env.py").write_text("from dbops.alembic_env import run_migrations\nrun_migrations()\n")
        (root / "dbops.toml").write_text('script_location = "migrations"\n')
        # a small launcher process runs dbops and reports its children's peak RSS: forking dbops
        # straight from this (large) benchmark process would count our pages until exec
        launcher = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
                    "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", launcher, str(BIN / "dbops"), "data-migrate", "bench_rss", "-q"],
                             cwd=root, env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True,
                             check=True)
    return int(out.stdout.strip()) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=200_000)
    args = parser.parse_args()
    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql("DROP DATABASE IF EXISTS dbops_bench_data WITH (FORCE)")
        c.exec_driver_sql("CREATE DATABASE dbops_bench_data")
    url = sa.make_url(SERVER).set(database="dbops_bench_data").render_as_string(hide_password=False)
    try:
        n = args.rows
        setup(url, n)
        anchor = single_update(url)
        reset(url)
        ours = dbops_sql(url)
        print(f"N={n:,}: single UPDATE {n / anchor:,.0f} rows/s ({anchor:.2f} s) | dbops data-migrate (SQL path, "
              f"defaults) {n / ours:,.0f} rows/s ({ours:.2f} s) | ratio {anchor / ours:.2f}x (goal >= 0.95x)")
        setup(url, n)  # a fresh, unbloated table for each of the two row-by-row contenders
        fn_time = dbops_fn(url, args.sample)
        setup(url, n)
        orm_time = orm_loop(url, args.sample)
        s = args.sample
        print(f"sample {s:,} rows: dbops Python-function path {s / fn_time:,.0f} rows/s | naive ORM loop "
              f"{s / orm_time:,.0f} rows/s | ratio {orm_time / fn_time:.1f}x (goal >= 5x) | ORM loop vs single "
              f"UPDATE {(s / orm_time) / (n / anchor):.2f}x")
        setup(url, n // 4)
        small = peak_rss_mb(url)
        setup(url, n)
        large = peak_rss_mb(url)
        print(f"peak RSS of `dbops data-migrate`: {small:.0f} MB at {n // 4:,} rows, {large:.0f} MB at {n:,} rows "
              f"(ratio {large / small:.2f}; flat = ~1.0)")
    finally:
        with admin.connect() as c:
            c.exec_driver_sql("DROP DATABASE IF EXISTS dbops_bench_data WITH (FORCE)")
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
