#!/usr/bin/env python
"""Drive the reference service until its pool saturates, and report what clients saw.

    python scripts/load_service.py --url http://127.0.0.1:8000 --concurrency 20 --duration 10 \
        --path "/slow?seconds=0.5"

Each of CONCURRENCY workers sends requests back to back for DURATION seconds. Prints one JSON
object: requests, statuses (503 = pool timeout), latency p50/p95/max in ms, requests/s.
With ``/slow`` holding a connection per request, concurrency above the pool's capacity
(pool_size + max_overflow) makes requests wait in the pool, then time out: the load
`dbops pool` is built to explain.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter

import httpx


async def worker(client: httpx.AsyncClient, path: str, deadline: float, latencies: list[float],
                 statuses: Counter[str]) -> None:
    while time.monotonic() < deadline:
        start = time.perf_counter()
        try:
            response = await client.get(path)
            statuses[str(response.status_code)] += 1
        except httpx.HTTPError as exc:
            statuses[type(exc).__name__] += 1
        latencies.append((time.perf_counter() - start) * 1000)


async def run(url: str, path: str, concurrency: int, duration: float, timeout: float) -> dict[str, object]:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        started = time.monotonic()
        deadline = started + duration
        await asyncio.gather(*(worker(client, path, deadline, latencies, statuses) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    ordered = sorted(latencies) or [0.0]
    return {
        "requests": len(latencies),
        "statuses": dict(sorted(statuses.items())),
        "latency_ms": {
            "p50": round(statistics.median(ordered), 1),
            "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
            "max": round(ordered[-1], 1),
        },
        "requests_per_second": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "concurrency": concurrency,
        "path": path,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--path", default="/slow?seconds=0.5")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.path, args.concurrency, args.duration, args.timeout))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
