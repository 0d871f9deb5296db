"""`dbops pool`: read the app's snapshot endpoint a few times, join held connections with
pg_stat_activity, and judge each pool: ok, busy (saturated but moving) or stuck (saturated,
no check-in during the window)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import sqlalchemy as sa

from dbops.errors import SnapshotUnavailable
from dbops.reports import PoolReport

ACTIVITY = sa.text(
    "SELECT pid, state, wait_event_type, wait_event, application_name, "
    "EXTRACT(EPOCH FROM now() - state_change)::float8, EXTRACT(EPOCH FROM now() - xact_start)::float8 "
    "FROM pg_stat_activity WHERE pid = ANY(:pids)"
)


def fetch(url: str, token: str | None, timeout: float = 5.0) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's URL
            return json.loads(response.read())  # type: ignore[no-any-return]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SnapshotUnavailable(
            f"Could not read the pool snapshot at {url}: {exc}. Usually the app is not running there, the "
            "endpoint is not mounted (app.include_router(dbops.pool.endpoint.pool_router())), or it needs a token.",
            hint="Check the URL; pass --token (or DBOPS_POOL_TOKEN) if the endpoint requires one.",
        ) from exc


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f} min"


def inspect_pools(url: str, *, token: str | None = None, database_url: str | None = None, samples: int = 3,
                  interval: float = 1.0, stuck_after: float = 10.0) -> PoolReport:
    snaps = []
    for i in range(max(1, samples)):
        if i:
            time.sleep(interval)
        snaps.append(fetch(url, token))
    first, last = snaps[0], snaps[-1]
    window = last["taken_at"] - first["taken_at"]
    pools = []
    pids: list[int] = []
    before = {(w["pid"], p["name"]): p for w in first["workers"] for p in w["pools"]}
    for worker in last["workers"]:
        for p in worker["pools"]:
            earlier = before.get((worker["pid"], p["name"]), p)
            saturated = p["capacity"] > 0 and p["checked_out"] >= p["capacity"]
            moved = p["checkins"] > earlier["checkins"]
            oldest = max((h["age_s"] for h in p["held"]), default=0.0)
            if saturated and not moved and (window >= stuck_after or oldest >= stuck_after):
                verdict = "stuck"
            elif saturated:
                verdict = "busy"
            else:
                verdict = "ok"
            pools.append({"worker_pid": worker["pid"], **p, "verdict": verdict,
                          "checkins_in_window": p["checkins"] - earlier["checkins"]})
            pids += [h["backend_pid"] for h in p["held"] if h.get("backend_pid")]
    server: dict[int, dict[str, Any]] = {}
    if database_url and pids:
        from dbops.db.engine import run_with_connection
        from dbops.db.url import parse_url

        rows = run_with_connection(parse_url(database_url), lambda c: c.execute(ACTIVITY, {"pids": pids}).all())
        server = {r[0]: {"state": r[1], "wait": f"{r[2]}:{r[3]}" if r[2] else None, "application": r[4],
                         "state_age_s": r[5], "xact_age_s": r[6]} for r in rows}
    lines = []
    for p in pools:
        for h in p["held"]:
            s = server.get(h.get("backend_pid") or -1)
            where = f"checked out in {h['site']}" if h.get("site") else "checked out (no site recorded)"
            if s:
                lines.append(f"slot {h['slot']}: {s['state']} on the server for {_age(s['state_age_s'])}"
                             f"{' waiting on ' + s['wait'] if s['wait'] else ''}, {where} (backend pid "
                             f"{h['backend_pid']}, held {_age(h['age_s'])})")
                h["server"] = s
            else:
                lines.append(f"slot {h['slot']}: held {_age(h['age_s'])}, {where}"
                             + (f" (backend pid {h['backend_pid']})" if h.get("backend_pid") else ""))
    worst = "CRIT" if any(p["verdict"] == "stuck" for p in pools) else \
        "WARN" if any(p["verdict"] == "busy" or p["timeouts"] for p in pools) else "OK"
    headline = next((p for p in pools if p["verdict"] == "stuck"), None) or \
        next((p for p in pools if p["verdict"] == "busy"), None)
    if headline:
        verdict = (f"{worst}: pool {headline['name']} (worker {headline['worker_pid']}) {headline['verdict']}: "
                   f"{headline['checked_out']}/{headline['capacity']} checked out, {headline['waiting']} waiting, "
                   f"{headline['timeouts']} timeouts, {headline['checkins_in_window']} check-ins in {window:.1f}s")
    else:
        verdict = f"{worst}: {len(pools)} pool(s), none saturated" + (
            f"; {sum(p['timeouts'] for p in pools)} timeouts so far" if worst == "WARN" else "")
    return PoolReport(command="pool", url=url, status=worst, verdict=verdict, window_s=round(window, 3),
                      pools=tuple(pools), held=tuple(lines))
