#!/usr/bin/env python
"""check-drift --against migrations on a long chain: a full replay vs a replay cloned from the cache.

Builds a throwaway project with N revisions (default 200: each creates a table with a unique
constraint, an index and a foreign key to the previous one), then runs, as the user would,
`dbops check-drift --against migrations` with `--no-cache` (the anchor: a full replay) and with the
cache warm (the clone, no revision left to apply), interleaved, median of R runs each. Reports the
ratio (goal: <= 0.3x) and the first run that writes the cache.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres). Usage:
    python scripts/bench_replay_cache.py [--revisions 200] [--runs 3]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

BIN = Path(sys.executable).parent
URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

REVISION = '''"""t{i}"""
revision = "r{i:04d}"
down_revision = {down}
branch_labels = None
depends_on = None

from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table("t{i:04d}", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("code", sa.String(40), nullable=False, unique=True),
                    sa.Column("qty", sa.Integer, nullable=False, server_default="0"),
                    sa.Column("parent_id", sa.Integer{fk}))
    op.create_index("ix_t{i:04d}_qty", "t{i:04d}", ["qty"])


def downgrade():
    op.drop_table("t{i:04d}")
'''

MODELS = '''import sqlalchemy as sa

metadata = sa.MetaData()
for i in range({n}):
    sa.Table(f"t{{i:04d}}", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("code", sa.String(40), nullable=False, unique=True),
             sa.Column("qty", sa.Integer, nullable=False, server_default="0", index=True),
             sa.Column("parent_id", sa.Integer, *([sa.ForeignKey(f"t{{i - 1:04d}}.id")] if i else [])))
'''


def build(root: Path, n: int) -> Path:
    app = root / "bench_app"
    versions = app / "migrations" / "versions"
    versions.mkdir(parents=True)
    (app / "migrations" / "env.py").write_text("from dbops.alembic_env import run_migrations\nrun_migrations()\n"
                                               f"# {uuid.uuid4().hex}\n")
    module = f"bench_models_{uuid.uuid4().hex[:6]}"
    (app / f"{module}.py").write_text(MODELS.format(n=n))
    for i in range(n):
        down = "None" if i == 0 else f'"r{i - 1:04d}"'
        fk = f', sa.ForeignKey("t{i - 1:04d}.id")' if i else ""
        (versions / f"r{i:04d}.py").write_text(REVISION.format(i=i, down=down, fk=fk))
    (app / "dbops.toml").write_text(f'metadata = "{module}:metadata"\nscript_location = "migrations"\n')
    return app


def timed(app: Path, *extra: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "dbops"), "check-drift", "--against", "migrations", "--database-url", URL,
                           "--format", "json", *extra], cwd=app, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"check-drift failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
    import json

    return elapsed, str(json.loads(done.stdout).get("replay_cache"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    run(args.revisions, args.runs)


def run(revisions: int, runs: int) -> None:
    """Print the first run, the full replay, the cloned replay and their ratio (bench_check_drift calls
    it too, so one run reports every check-drift speed goal)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = build(Path(tmp), revisions)
        first, how = timed(app)
        print(f"{revisions} revisions; first run (writes the cache): {first:.2f} s ({how})")
        full, cached = [], []
        for _ in range(runs):
            full.append(timed(app, "--no-cache")[0])
            elapsed, how = timed(app)
            cached.append(elapsed)
        f, c = statistics.median(full), statistics.median(cached)
        print(f"full replay (--no-cache): median {f:.2f} s | cloned from the cache: median {c:.2f} s ({how})")
        print(f"ratio {c / f:.2f}x (goal <= 0.3x)")
    engine = sa.create_engine(URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:  # the benchmark's own caches
        for (name,) in conn.execute(sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'dbops_cache_%' "
                                            "AND shobj_description(oid, 'pg_database') LIKE '%r0000%'")).all():
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    engine.dispose()


if __name__ == "__main__":
    main()
