"""Read one sample of server state over one short-lived connection."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dbops.db.connect_errors import translate_connect_error
from dbops.db.engine import connect_args
from dbops.db.url import parse_url, sync_url
from dbops.probe import queries

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


def collect(url_text: str, *, connect_timeout: float = 3.0, statement_timeout: float = 2.0,
            show_queries: bool = False) -> Sample:
    url = sync_url(parse_url(url_text))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT",
                              connect_args=connect_args(url, connect_timeout=connect_timeout,
                                                        application_name=APPLICATION_NAME))
    try:
        t0 = time.perf_counter()
        try:
            conn = engine.connect()
        except Exception as exc:
            raise translate_connect_error(exc, parse_url(url_text), connect_timeout) from exc
        connect_ms = (time.perf_counter() - t0) * 1000
        with conn:
            conn.execute(queries.SESSION_SETUP, {"ms": str(int(statement_timeout * 1000))})
            t1 = time.perf_counter()
            conn.execute(sa.text("SELECT 1"))
            sample = Sample(taken_at=time.time(), connect_ms=round(connect_ms, 1),
                            select1_ms=round((time.perf_counter() - t1) * 1000, 2))
            version, recovery, _ = conn.execute(queries.SERVER).one()
            sample.version, sample.in_recovery = version, bool(recovery)
            sample.privileged = bool(conn.execute(queries.PRIVILEGED).scalar())
            sample.settings = {name: setting for name, setting in conn.execute(queries.SETTINGS)}
            for row in conn.execute(queries.ACTIVITY, {"show_queries": show_queries}):
                sample.sessions.append(Session(
                    pid=row[0], user=row[1], application=row[2] or "", client=row[3], state=row[4],
                    wait_event_type=row[5], wait_event=row[6], xact_age=row[7], query_age=row[8],
                    state_age=row[9], blocked_by=list(row[10] or []), query=row[11],
                ))
            waits = {pid: (mode, kind, rel) for pid, mode, kind, rel in conn.execute(queries.LOCK_WAITS)}
            for s in sample.sessions:
                if s.pid in waits:
                    s.lock_mode, kind, s.lock_relation = waits[s.pid]
                    s.lock_relation = s.lock_relation or kind
            commits, rollbacks = conn.execute(queries.XACT_COUNTERS).one()
            sample.commits, sample.rollbacks = int(commits or 0), int(rollbacks or 0)
            if sample.in_recovery:
                sample.replay_delay = conn.execute(queries.REPLAY_DELAY).scalar()
            else:
                sample.replicas = [{"name": r[0], "client": r[1], "state": r[2], "replay_lag_s": r[3]}
                                   for r in conn.execute(queries.REPLICAS)]
        return sample
    finally:
        engine.dispose()
