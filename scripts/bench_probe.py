#!/usr/bin/env python
"""Wall time of a one-shot `dbops probe` including interpreter start (goal < 0.5 s), with
`psql -c 'SELECT 1'` measured in the same run as the anchor for this machine's noise.

Usage: python scripts/bench_probe.py [--runs 15] [--url postgresql://postgres@127.0.0.1/postgres]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    dbops = [str(Path(sys.executable).with_name("dbops")), "probe", "--database-url", args.url]
    psql = [shutil.which("psql") or "psql", "-h", "127.0.0.1", "-U", "postgres", "-c", "SELECT 1"]
    wall(dbops), wall(psql)
    ours, anchor = [], []
    for _ in range(args.runs):
        ours.append(wall(dbops))
        anchor.append(wall(psql))
    d, a = statistics.median(ours), statistics.median(anchor)
    print(f"dbops probe one-shot: median {d * 1000:.0f} ms wall (goal < 500 ms) "
          f"{'OK' if d < 0.5 else 'MISSED'} | psql SELECT 1: {a * 1000:.0f} ms | ratio {d / a:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
