"""Read one sample of server state over one short-lived connection."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from dbops.errors import ConfigError, ConnectionFailed
from dbops.probe import queries
from dbops.redact import redact, register_secret

APPLICATION_NAME = "dbops-probe"


@dataclass
class Session:
    pid: int
    user: str | None
    application: str
    client: str | None
    state: str | None
    wait_event_type: str | None
    wait_event: str | None
    xact_age: float | None
    query_age: float | None
    state_age: float | None
    blocked_by: list[int]
    query: str | None = None
    lock_mode: str | None = None
    lock_relation: str | None = None


@dataclass
class Sample:
    taken_at: float
    connect_ms: float
    select1_ms: float
    version: str = ""
    in_recovery: bool = False
    privileged: bool = True
    settings: dict[str, str] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0
    replicas: list[dict[str, Any]] = field(default_factory=list)
    replay_delay: float | None = None
    invalid_indexes: list[tuple[str, str, str]] = field(default_factory=list)  # (schema, table, index)


def conninfo(url_text: str) -> dict[str, Any]:
    """A PostgreSQL URL (any driver suffix) as psycopg keyword arguments, without SQLAlchemy."""
    parts = urlsplit(url_text.strip())
    if parts.scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise ConfigError(
            f"probe reads PostgreSQL; {parts.scheme or '(no scheme)'}:// is not supported.",
            hint="Pass a postgresql:// URL (any driver suffix): dbops probe --database-url postgresql://...",
        )
    info: dict[str, Any] = {"host": parts.hostname or "127.0.0.1", "port": parts.port or 5432,
                            "dbname": unquote(parts.path.lstrip("/")) or "postgres"}
    if parts.username:
        info["user"] = unquote(parts.username)
    if parts.password:
        info["password"] = unquote(parts.password)
        register_secret(info["password"])
    info.update(parse_qsl(parts.query))
    return info


def _masked(url_text: str) -> str:
    parts = urlsplit(url_text)
    scheme = "postgresql+psycopg" if parts.scheme in ("postgresql", "postgres") else parts.scheme
    return redact(f"{scheme}://{parts.netloc}{parts.path}")


def _connect_error(exc: BaseException, url_text: str, connect_timeout: float) -> ConnectionFailed:
    from dbops.db.connect_errors import describe_connect_error

    return describe_connect_error(exc, _masked(url_text), connect_timeout)


def collect(url_text: str, *, connect_timeout: float = 3.0, statement_timeout: float = 2.0,
            show_queries: bool = False) -> Sample:
    import psycopg

    info = conninfo(url_text)
    t0 = time.perf_counter()
    try:
        conn = psycopg.connect(**info, autocommit=True, application_name=APPLICATION_NAME,
                               connect_timeout=max(1, round(connect_timeout)))
    except psycopg.Error as exc:
        raise _connect_error(exc, url_text, connect_timeout) from exc
    connect_ms = (time.perf_counter() - t0) * 1000
    with conn:
        conn.execute(queries.SESSION_SETUP, {"ms": str(int(statement_timeout * 1000))})
        t1 = time.perf_counter()
        conn.execute("SELECT 1")
        sample = Sample(taken_at=time.time(), connect_ms=round(connect_ms, 1),
                        select1_ms=round((time.perf_counter() - t1) * 1000, 2))

        def rows(sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
            return conn.execute(sql, params).fetchall()

        version, recovery = rows(queries.SERVER)[0]
        sample.version, sample.in_recovery = version, bool(recovery)
        sample.privileged = bool(rows(queries.PRIVILEGED)[0][0])
        sample.settings = {name: setting for name, setting in rows(queries.SETTINGS)}
        for row in rows(queries.ACTIVITY, {"show_queries": show_queries}):
            sample.sessions.append(Session(
                pid=row[0], user=row[1], application=row[2] or "", client=row[3], state=row[4],
                wait_event_type=row[5], wait_event=row[6], xact_age=row[7], query_age=row[8],
                state_age=row[9], blocked_by=list(row[10] or []), query=row[11],
            ))
        waits = {pid: (mode, kind, rel) for pid, mode, kind, rel in rows(queries.LOCK_WAITS)}
        for s in sample.sessions:
            if s.pid in waits:
                s.lock_mode, kind, relation = waits[s.pid]
                s.lock_relation = relation or kind
        sample.invalid_indexes = [(s, t, i) for s, t, i in rows(queries.INVALID_INDEXES)]
        commits, rollbacks = rows(queries.XACT_COUNTERS)[0]
        sample.commits, sample.rollbacks = int(commits or 0), int(rollbacks or 0)
        if sample.in_recovery:
            sample.replay_delay = rows(queries.REPLAY_DELAY)[0][0]
        else:
            sample.replicas = [{"name": r[0], "client": r[1], "state": r[2], "replay_lag_s": r[3]}
                               for r in rows(queries.REPLICAS)]
    return sample
