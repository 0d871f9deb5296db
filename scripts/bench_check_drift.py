#!/usr/bin/env python
"""check-drift against Alembic on a synthetic N-table PostgreSQL schema, in the same run.

For each N (default 200 and 1000): tables of 12 columns of varied types with server
defaults, 2 unique constraints, 3 indexes and 1 foreign key. Reports, as ratios:

1. compare step, in-process: dbops (batched reflection + normalise + compare) vs Alembic
   ``compare_metadata`` on the same MetaData and database (median of 3 interleaved runs);
   with the number of SQL statements each sends.            goal: >= 10x faster at N=1000
2. whole process: ``dbops check-drift --against database`` vs ``alembic check``
   (stock env.py with the same MetaData).                   goal: <= 0.5x; <= 0.2x at N=1000
3. the same verdict: both clean on the clean schema, and both see the injected drift
   (a column added, a type changed, an index dropped, a default changed).
4. the cached replay of ``--against migrations`` on a 200-revision chain (bench_replay_cache.py):
   a run cloned from the cache vs a full replay.             goal: <= 0.3x

Needs PostgreSQL on 127.0.0.1:5432 (user postgres). Usage:
    python scripts/bench_check_drift.py [--sizes 200 1000] [--url postgresql+psycopg://postgres@127.0.0.1/postgres]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

BIN = Path(sys.executable).parent

MODELS = '''
import sqlalchemy as sa

metadata = sa.MetaData()
N = {n}
for i in range(N):
    sa.Table(
        f"t{{i:04d}}", metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey(f"t{{max(i - 1, 0):04d}}.id", ondelete="CASCADE")),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("slug", sa.String(80), nullable=False),
        sa.Column("title", sa.String(200), nullable=False, server_default="untitled"),
        sa.Column("body", sa.Text),
        sa.Column("qty", sa.Integer, nullable=False, server_default="0"),
        sa.Column("price", sa.Numeric(10, 2), nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("ratio", sa.Float),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("day", sa.Date),
        sa.UniqueConstraint("code", name=f"uq_t{{i:04d}}_code"),
        sa.UniqueConstraint("slug", "qty", name=f"uq_t{{i:04d}}_slug_qty"),
        sa.Index(f"ix_t{{i:04d}}_title", "title"),
        sa.Index(f"ix_t{{i:04d}}_created", "created_at"),
        sa.Index(f"ix_t{{i:04d}}_parent_qty", "parent_id", "qty"),
    )
'''

DRIFT = [
    "ALTER TABLE t0003 ADD COLUMN surprise integer",
    "ALTER TABLE t0005 ALTER COLUMN code TYPE varchar(50)",
    "DROP INDEX ix_t0007_title",
    "ALTER TABLE t0009 ALTER COLUMN qty SET DEFAULT 5",
]


def _count_statements(engine: sa.Engine) -> list[int]:
    box = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_args: object) -> None:
        box[0] += 1

    return box


def catalog_floor(url: str, runs: int = 3) -> float:
    """The catalog-read floor: the same catalog queries dbops's compare step sends, rows fetched and
    nothing built from them (median of ``runs``)."""
    from dbops.drift.pg_catalog import COLUMNS, CONSTRAINTS, INDEXES
    from dbops.drift.reflect import PG_ENUMS, PG_FREE_SEQUENCES

    times = []
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        for _ in range(runs):
            t0 = time.perf_counter()
            for query in (COLUMNS, CONSTRAINTS, INDEXES, PG_ENUMS, PG_FREE_SEQUENCES):
                conn.execute(query, {"schemas": ["public"]}).all()
            times.append(time.perf_counter() - t0)
    engine.dispose()
    return statistics.median(times)


def compare_step(url: str, metadata: sa.MetaData, runs: int = 3) -> tuple[float, int, int, float, int, int]:
    """Median of ``runs`` interleaved runs of each side (dbops, alembic, dbops, alembic, ...)."""
    results = [_compare_once(url, metadata) for _ in range(runs)]
    d = statistics.median(r[0] for r in results)
    a = statistics.median(r[3] for r in results)
    first = results[0]
    return d, first[1], first[2], a, first[4], first[5]


def _compare_once(url: str, metadata: sa.MetaData) -> tuple[float, int, int, float, int, int]:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from dbops.drift.check import compare_step as dbops_compare_step

    engine = sa.create_engine(url)
    counter = _count_statements(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        counter[0] = 0
        t0 = time.perf_counter()
        diffs = dbops_compare_step(conn, metadata, exclude_tables={"alembic_version"})
        d_time, d_statements = time.perf_counter() - t0, counter[0]
    engine.dispose()

    engine = sa.create_engine(url)
    counter = _count_statements(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        counter[0] = 0
        t0 = time.perf_counter()
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        alembic_diffs = compare_metadata(ctx, metadata)
        a_time, a_statements = time.perf_counter() - t0, counter[0]
    engine.dispose()
    return d_time, d_statements, len(diffs), a_time, a_statements, len(alembic_diffs)


def whole_process(project: Path, url: str) -> tuple[float, int, float, int]:
    env = {**os.environ, "DATABASE_URL": url}
    t0 = time.perf_counter()
    d = subprocess.run([str(BIN / "dbops"), "check-drift", "--against", "database", "-q"], cwd=project, env=env,
                       capture_output=True, text=True)
    d_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    a = subprocess.run([str(BIN / "alembic"), "check"], cwd=project, env=env, capture_output=True, text=True)
    a_time = time.perf_counter() - t0
    return d_time, d.returncode, a_time, a.returncode


def make_project(tmp: Path, n: int, url: str) -> Path:
    project = tmp / f"bench_{n}"
    project.mkdir()
    (project / f"bench_models_{n}.py").write_text(MODELS.format(n=n))
    subprocess.run([str(BIN / "alembic"), "init", "-t", "generic", "migrations"], cwd=project, check=True,
                   capture_output=True)
    ini = (project / "alembic.ini").read_text().replace("driver://user:pass@localhost/dbname", url)
    (project / "alembic.ini").write_text(ini)
    env_py = (project / "migrations" / "env.py").read_text()
    env_py = env_py.replace("target_metadata = None", f"from bench_models_{n} import metadata as target_metadata")
    env_py = env_py.replace("target_metadata=target_metadata", "target_metadata=target_metadata, "
                            "compare_type=True, compare_server_default=True")
    (project / "migrations" / "env.py").write_text(env_py)
    (project / "dbops.toml").write_text(f'metadata = "bench_models_{n}:metadata"\nscript_location = "migrations"\n')
    return project


def run(n: int, server_url: str) -> None:
    name = f"dbops_bench_{n}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp), n, url)
            sys.path.insert(0, str(project))
            module = __import__(f"bench_models_{n}")
            metadata = module.metadata
            engine = sa.create_engine(url)
            t0 = time.perf_counter()
            tables = metadata.sorted_tables
            for start in range(0, len(tables), 100):  # one transaction per 100 tables (lock table size)
                with engine.begin() as conn:
                    metadata.create_all(conn, tables=tables[start:start + 100])
            engine.dispose()
            print(f"\nN={n}: schema created in {time.perf_counter() - t0:.1f} s "
                  f"({len(metadata.tables)} tables)")

            d, ds, dn, a, as_, an = compare_step(url, metadata)
            print(f"  compare step (clean):  dbops {d * 1000:8.1f} ms, {ds:4d} statements, {dn} differences | "
                  f"alembic {a * 1000:8.1f} ms, {as_:5d} statements, {an} differences | "
                  f"speed-up {a / d:5.1f}x (goal >= 10x at N=1000)")
            floor = catalog_floor(url)
            print(f"  catalog-read floor:    {floor * 1000:8.1f} ms (the same queries, nothing built) | compare step "
                  f"{d / floor:.1f}x the floor (goal <= 3x)")
            dw, drc, aw, arc = whole_process(project, url)
            print(f"  whole process (clean): dbops check-drift {dw:6.2f} s exit {drc} | alembic check {aw:6.2f} s "
                  f"exit {arc} | ratio {dw / aw:.2f}x (goal <= {0.2 if n >= 1000 else 0.5}x)")

            engine = sa.create_engine(url)
            with engine.begin() as conn:
                for stmt in DRIFT:
                    conn.execute(sa.text(stmt))
            engine.dispose()
            d, ds, dn, a, as_, an = compare_step(url, metadata)
            print(f"  compare step (drift):  dbops {dn} differences, alembic {an} differences "
                  f"({len(DRIFT)} injected) | speed-up {a / d:5.1f}x")
            dw, drc, aw, arc = whole_process(project, url)
            print(f"  whole process (drift): dbops exit {drc} (3 = drift) | alembic check exit {arc} "
                  f"(255 = drift) | ratio {dw / aw:.2f}x")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--replay-revisions", type=int, default=200,
                        help="also the cached replay of a chain this long (bench_replay_cache.py; 0: skip)")
    args = parser.parse_args()
    for n in args.sizes:
        run(n, args.url)
    if args.replay_revisions:
        import bench_replay_cache

        print("\ncached replay (--against migrations):")
        bench_replay_cache.run(args.replay_revisions, runs=3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
