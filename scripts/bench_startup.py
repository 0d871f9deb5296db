#!/usr/bin/env python
"""Start-up cost of dbops against Alembic, measured in the same run (ratios, not seconds).

1. `dbops --help` vs `alembic --help`            goal: ratio <= 0.2
2. no-op `dbops upgrade` vs `alembic upgrade head` on the same chain at head (SQLite)
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
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """CPU seconds (user + sys) of the child: far steadier than wall time on a shared machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def pair(a: list[str], b: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    timed(a, env), timed(b, env)  # warm the OS file cache
    ta, tb = [], []
    for _ in range(runs):
        ta.append(timed(a, env))
        tb.append(timed(b, env))
    return statistics.median(ta), statistics.median(tb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DBOPS_DATABASE_URL")}

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
        d_up, a_up = pair([dbops, "upgrade", "-q"], a_cmd, args.runs, env)
    diff = (d_up - a_up) * 1000
    print(f"no-op upgrade:  dbops {d_up * 1000:7.1f} ms   alembic {a_up * 1000:7.1f} ms   "
          f"ratio {d_up / a_up:.2f}x   difference {diff:+.1f} ms   (goal <= +50 ms) "
          f"{'OK' if diff <= 50 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
