"""PgBouncer's admin console (SHOW POOLS / SHOW STATS / SHOW DATABASES). It speaks the simple
query protocol only: psycopg with ClientCursor works, asyncpg does not."""
from __future__ import annotations

from typing import Any

from dbops.db.url import parse_url
from dbops.errors import ConnectionFailed
from dbops.redact import redact


def collect_pgbouncer(url_text: str, *, connect_timeout: float = 3.0) -> dict[str, Any]:
    import psycopg

    url = parse_url(url_text)
    conninfo = {"host": url.host or "127.0.0.1", "port": url.port or 6432, "user": url.username or "pgbouncer",
                "dbname": url.database or "pgbouncer", "connect_timeout": max(1, round(connect_timeout))}
    if url.password:
        conninfo["password"] = str(url.password)
    try:
        conn = psycopg.connect(**conninfo, autocommit=True, cursor_factory=psycopg.ClientCursor)  # type: ignore[arg-type]
    except psycopg.Error as exc:
        raise ConnectionFailed(
            f"Could not connect to the PgBouncer admin console at {redact(url.render_as_string())}: "
            f"{redact(str(exc).strip().splitlines()[0])}. The user must be in admin_users or stats_users.",
            hint="Point --pgbouncer at postgresql://<admin>@<host>:<port>/pgbouncer",
        ) from exc
    with conn:
        def rows(sql: str) -> list[dict[str, Any]]:
            cur = conn.execute(sql)
            names = [d.name for d in cur.description or ()]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        pools, stats, databases = rows("SHOW POOLS"), rows("SHOW STATS"), rows("SHOW DATABASES")
    sizes = {d["name"]: d.get("pool_size") for d in databases}
    avg_wait = {s["database"]: s.get("avg_wait_time") for s in stats}
    out = []
    for p in pools:
        if p["database"] == "pgbouncer":
            continue
        maxwait = float(p.get("maxwait", 0)) + float(p.get("maxwait_us", 0)) / 1e6
        out.append({"database": p["database"], "user": p["user"], "cl_active": p["cl_active"],
                    "cl_waiting": p["cl_waiting"], "sv_active": p["sv_active"], "sv_idle": p["sv_idle"],
                    "pool_size": sizes.get(p["database"]), "maxwait_s": round(maxwait, 3),
                    "avg_wait_time_us": avg_wait.get(p["database"]), "pool_mode": p.get("pool_mode")})
    return {"pools": out}
