#!/usr/bin/env python
"""Cost of dbops.pool instrumentation on a checkout-heavy loop, against an uninstrumented pool
in the same run (goal: under 5%). Each iteration checks a connection out of a QueuePool and
returns it (`with engine.connect(): pass`), SQLite file database, interleaved rounds.

Usage: python scripts/bench_pool_overhead.py [--iterations 20000] [--rounds 7]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from dbops.pool import instrument


def loop(engine: sa.Engine, n: int, query: bool = False) -> float:
    select = sa.text("SELECT 1")
    t0 = time.perf_counter()
    for _ in range(n):
        with engine.connect() as conn:
            if query:
                conn.execute(select)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'pool.sqlite'}"
        plain = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=5)
        measured = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=5)
        stats = instrument(measured)
        for label, query in (("checkout + return only", False), ("checkout + SELECT 1 + return", True)):
            loop(plain, 1000, query), loop(measured, 1000, query)
            a, b = [], []
            for _ in range(args.rounds):
                a.append(loop(plain, args.iterations, query))
                b.append(loop(measured, args.iterations, query))
            base, inst = statistics.median(a), statistics.median(b)
            per = (inst - base) / args.iterations * 1e6
            print(f"{label}: uninstrumented {base / args.iterations * 1e6:.1f} µs, instrumented "
                  f"{inst / args.iterations * 1e6:.1f} µs | overhead {(inst / base - 1) * 100:+.1f}% ({per:+.2f} µs) "
                  "(goal < 5%)")
        print(f"(counted {stats.checkouts} checkouts; {args.iterations} per round x {args.rounds} rounds, interleaved)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
