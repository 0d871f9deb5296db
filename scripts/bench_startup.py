#!/usr/bin/env python
"""Start-up cost of dbops against Alembic, measured in the same run (ratios, not seconds).

1. `dbops --help` vs `alembic --help`            goal: ratio <= 0.2
2. no-op `dbops upgrade` vs `alembic upgrade head` on the same chain at head (SQLite)
                                                   goal: difference <= +50 ms
   (the median of the differences of back-to-back pairs)
3. a generated 450-revision chain (SQLite): the whole chain from an empty database,
   dbops vs alembic                                goal: CPU ratio <= 1.05x
   against two anchors: the stock env (one transaction for the whole run) and the stock env
   with transaction_per_migration=True (dbops's default: each revision commits on its own, with
   its audit row); dbops running the stock env.py itself (an adopted project: the same
   transaction layout on both sides); and a no-op on that chain at head
                                                   goal: difference <= +50 ms
   The Alembic side uses a stock `alembic init -t generic` env.py over a copy of this
   repo's revision files: what a team runs before adopting dbops.

Runs are interleaved (A, B, A, B, ...) so machine noise hits both sides alike; the
median CPU time (user + sys) of each side is reported. Usage: python scripts/bench_startup.py [--runs 15]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict[str, str], fresh: Path | None = None, cwd: Path = REPO) -> float:
    """CPU seconds (user + sys) of the child: far steadier than wall time on a shared machine.
    ``fresh``: a SQLite file removed first (untimed), so each run starts from an empty database."""
    if fresh is not None:
        fresh.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def pair(a: list[str], b: list[str], runs: int, env: dict[str, str], *, fresh_a: Path | None = None,
         fresh_b: Path | None = None, cwd: Path = REPO) -> tuple[float, float]:
    """Median CPU time of each side over interleaved runs."""
    ta, tb = samples(a, b, runs, env, fresh_a=fresh_a, fresh_b=fresh_b, cwd=cwd)
    return statistics.median(ta), statistics.median(tb)


def samples(a: list[str], b: list[str], runs: int, env: dict[str, str], *, fresh_a: Path | None = None,
            fresh_b: Path | None = None, cwd: Path = REPO) -> tuple[list[float], list[float]]:
    timed(a, env, fresh_a, cwd), timed(b, env, fresh_b, cwd)  # warm the OS file cache
    ta, tb = [], []
    for _ in range(runs):
        ta.append(timed(a, env, fresh_a, cwd))
        tb.append(timed(b, env, fresh_b, cwd))
    return ta, tb


def paired_difference(a: list[str], b: list[str], runs: int, env: dict[str, str], *,
                      cwd: Path = REPO) -> tuple[float, float, float]:
    """(median a, median b, median of the per-pair differences a_i - b_i). The two runs of a pair
    are back to back, so they share the machine's load at that moment: the paired median is a far
    steadier estimate of the cost dbops adds than the difference of two medians."""
    ta, tb = samples(a, b, runs, env, cwd=cwd)
    return statistics.median(ta), statistics.median(tb), statistics.median(x - y for x, y in zip(ta, tb, strict=True))


REVISION = """\"\"\"r{i}\"\"\"
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}
branch_labels = None
depends_on = None


def _columns():
    return [sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(50), nullable=False),
            sa.Column("created_at", sa.DateTime, server_default=sa.func.now())]


def upgrade():
    op.create_table("t{i}", *_columns())
    op.create_index("ix_t{i}_name", "t{i}", ["name"])


def downgrade():
    op.drop_index("ix_t{i}_name", "t{i}")
    op.drop_table("t{i}")
"""


def long_chain(tmp: Path, alembic: str, env: dict[str, str], n: int = 450) -> tuple[Path, Path]:
    """The same n revisions under a dbops project and under a stock `alembic init` env."""
    ours, stock = tmp / "ours", tmp / "stock"
    (ours / "migrations" / "versions").mkdir(parents=True)
    (ours / "migrations" / "env.py").write_text("from dbops.alembic_env import run_migrations\nrun_migrations()\n")
    (ours / "dbops.toml").write_text('script_location = "migrations"\n')
    stock.mkdir()
    subprocess.run([alembic, "init", "-t", "generic", "migrations"], cwd=stock, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    ini = (stock / "alembic.ini").read_text().replace("driver://user:pass@localhost/dbname",
                                                       f"sqlite:///{tmp}/stock.sqlite")
    (stock / "alembic.ini").write_text(ini)
    for i in range(1, n + 1):
        text = REVISION.format(i=i, rev=f"{i:04d}", down=f"{i - 1:04d}" if i > 1 else None)
        for root in (ours, stock):
            (root / "migrations" / "versions" / f"{i:04d}.py").write_text(text)
    return ours, stock


def per_revision_transactions(stock: Path, tmp: Path) -> Path:
    """A copy of the stock env whose online configure() adds transaction_per_migration=True."""
    tpm = tmp / "stock_tpm"
    shutil.copytree(stock, tpm)
    env_py = tpm / "migrations" / "env.py"
    env_py.write_text(env_py.read_text().replace(
        "connection=connection, target_metadata=target_metadata",
        "connection=connection, target_metadata=target_metadata, transaction_per_migration=True"))
    ini = (tpm / "alembic.ini").read_text().replace("stock.sqlite", "stock_tpm.sqlite")
    (tpm / "alembic.ini").write_text(ini)
    return tpm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    # PYTHONDONTWRITEBYTECODE (set on some CI machines) would make both sides compile every module
    # and revision file from source on every run, which no installed tool does: bytecode is cached
    # for both, as on a developer's machine
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DBOPS_DATABASE_URL", "PYTHONDONTWRITEBYTECODE")}

    dbops, alembic = str(BIN / "dbops"), str(BIN / "alembic")
    d_help, a_help = pair([dbops, "--help"], [alembic, "--help"], args.runs, env)
    ratio = d_help / a_help
    print(f"--help:  dbops {d_help * 1000:7.1f} ms   alembic {a_help * 1000:7.1f} ms   "
          f"ratio {ratio:.2f}x   (goal <= 0.20x) {'OK' if ratio <= 0.2 else 'MISSED'}")

    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.sqlite"
        env["DATABASE_URL"] = db
        anchor = Path(tmp) / "anchor"
        anchor.mkdir()
        subprocess.run([alembic, "init", "-t", "generic", "migrations"], cwd=anchor, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        ini = (anchor / "alembic.ini").read_text().replace("driver://user:pass@localhost/dbname", db)
        (anchor / "alembic.ini").write_text(ini)
        for rev in (REPO / "migrations" / "versions").glob("*.py"):
            (anchor / "migrations" / "versions" / rev.name).write_text(rev.read_text())
        subprocess.run([dbops, "upgrade", "-q"], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
        a_cmd = [alembic, "-c", str(anchor / "alembic.ini"), "upgrade", "head"]
        subprocess.run(a_cmd, env=env, check=True, capture_output=True)  # at head already: a no-op
        d_up, a_up, diff = paired_difference([dbops, "upgrade", "-q"], a_cmd, max(args.runs, 25), env)  # cheap
    diff *= 1000
    print(f"no-op upgrade:  dbops {d_up * 1000:7.1f} ms   alembic {a_up * 1000:7.1f} ms   "
          f"ratio {d_up / a_up:.2f}x   difference {diff:+.1f} ms   (goal <= +50 ms) "
          f"{'OK' if diff <= 50 else 'MISSED'}")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ours, stock = long_chain(tmp, alembic, env)
        env = {**env, "DATABASE_URL": f"sqlite:///{tmp}/ours.sqlite", "XDG_CACHE_HOME": str(tmp / "cache")}
        d_cmd = [dbops, "upgrade", "-q"]
        a_cmd = [alembic, "-c", str(stock / "alembic.ini"), "upgrade", "head"]
        runs = max(3, args.runs // 3)
        d_full, a_full = pair(d_cmd, a_cmd, runs, env, fresh_a=tmp / "ours.sqlite", fresh_b=tmp / "stock.sqlite",
                              cwd=ours)
        ratio = d_full / a_full
        print(f"450 revisions:  dbops {d_full * 1000:7.1f} ms   alembic {a_full * 1000:7.1f} ms   "
              f"ratio {ratio:.3f}x   (goal <= 1.05x) {'OK' if ratio <= 1.05 else 'MISSED'}")
        tpm = per_revision_transactions(stock, tmp)
        t_cmd = [alembic, "-c", str(tpm / "alembic.ini"), "upgrade", "head"]
        d_full, t_full = pair(d_cmd, t_cmd, runs, env, fresh_a=tmp / "ours.sqlite",
                              fresh_b=tmp / "stock_tpm.sqlite", cwd=ours)
        ratio = d_full / t_full
        print(f"450 revisions, alembic with transaction_per_migration=True:  dbops {d_full * 1000:7.1f} ms   "
              f"alembic {t_full * 1000:7.1f} ms   ratio {ratio:.3f}x   (goal <= 1.05x) "
              f"{'OK' if ratio <= 1.05 else 'MISSED'}")
        # an adopted project: dbops runs the project's own (stock) env.py, so both sides have the
        # same transaction layout; dbops adds its lock, timeouts and one audit row per revision
        d_full, a_full = pair(d_cmd, a_cmd, runs, env, fresh_a=tmp / "ours.sqlite", fresh_b=tmp / "stock.sqlite",
                              cwd=stock)
        ratio = d_full / a_full
        print(f"450 revisions, both running the project's own stock env.py:  dbops {d_full * 1000:7.1f} ms   "
              f"alembic {a_full * 1000:7.1f} ms   ratio {ratio:.3f}x   (goal <= 1.05x) "
              f"{'OK' if ratio <= 1.05 else 'MISSED'}")
        d_noop, a_noop, diff = paired_difference(d_cmd, a_cmd, max(args.runs, 25), env, cwd=ours)
        diff *= 1000
        print(f"450 no-op:      dbops {d_noop * 1000:7.1f} ms   alembic {a_noop * 1000:7.1f} ms   "
              f"difference {diff:+.1f} ms   (goal <= +50 ms) {'OK' if diff <= 50 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
