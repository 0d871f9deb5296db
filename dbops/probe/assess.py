"""Turn a Sample into findings with Nagios levels, blocking trees and the verdict line."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields, replace
from typing import Any

from dbops.errors import ConfigError
from dbops.probe.collect import Sample, Session
from dbops.reports import ProbeFinding, ProbeReport, human_seconds

LEVELS = {"OK": 0, "WARN": 1, "CRIT": 2, "UNKNOWN": 3}


@dataclass(frozen=True)
class Thresholds:
    """Defaults, all overridable with ``--threshold name=value`` (seconds, counts, percent)."""

    blocked_warn: int = 1  # sessions waiting behind another session
    blocked_crit: int = 3  # sessions behind one root
    lock_wait_crit_s: float = 60.0  # any single wait this long
    idle_in_transaction_warn_s: float = 60.0
    idle_in_transaction_crit_s: float = 600.0
    long_query_warn_s: float = 60.0
    long_query_crit_s: float = 600.0
    connections_warn_pct: float = 80.0
    connections_crit_pct: float = 95.0
    replication_lag_warn_s: float = 30.0
    replication_lag_crit_s: float = 300.0
    pgbouncer_wait_warn_s: float = 1.0  # oldest client waiting for a server connection
    pgbouncer_wait_crit_s: float = 5.0

    @classmethod
    def parse(cls, overrides: tuple[str, ...]) -> Thresholds:
        values: dict[str, Any] = {}
        names = {f.name: f.type for f in fields(cls)}
        for item in overrides:
            name, sep, raw = item.partition("=")
            if not sep or name not in names:
                raise ConfigError(f"--threshold {item!r}: expected NAME=VALUE with NAME one of {', '.join(names)}.")
            try:
                values[name] = int(raw) if names[name] in ("int", int) else float(raw)
            except ValueError:
                raise ConfigError(f"--threshold {item!r}: {raw!r} is not a number.") from None
        return replace(cls(), **values)


def _who(s: Session) -> str:
    return s.application or "no application_name"


def blocking_trees(sessions: list[Session]) -> list[dict[str, Any]]:
    """Roots (blockers not blocked themselves) first, each with every session it blocks transitively."""
    by_pid = {s.pid: s for s in sessions}
    blocked_by: dict[int, set[int]] = {}
    for s in sessions:
        for blocker in s.blocked_by:
            blocked_by.setdefault(blocker, set()).add(s.pid)
    roots = [pid for pid in blocked_by if not (by_pid.get(pid) and by_pid[pid].blocked_by)]
    trees = []
    for root in roots:
        seen: set[int] = set()
        stack = [root]
        while stack:
            for waiter in blocked_by.get(stack.pop(), ()):
                if waiter not in seen:
                    seen.add(waiter)
                    stack.append(waiter)
        r = by_pid.get(root)
        trees.append({
            "pid": root,
            "application": _who(r) if r else "?",
            "user": r.user if r else None,
            "client": r.client if r else None,
            "state": r.state if r else "not visible",
            "xact_age_s": r.xact_age if r else None,
            "blocks": len(seen),
            "cancel": f"SELECT pg_cancel_backend({root});",
            "terminate": f"SELECT pg_terminate_backend({root});",
            "waiters": [
                {"pid": w.pid, "application": _who(w), "mode": w.lock_mode, "relation": w.lock_relation,
                 "waiting_s": w.state_age, "blocked_by": w.blocked_by, "query": w.query}
                for w in sorted((by_pid[p] for p in seen if p in by_pid), key=lambda x: -(x.state_age or 0))
            ],
        })
    return sorted(trees, key=lambda t: -t["blocks"])


def assess(sample: Sample, t: Thresholds, *, database: str, previous: Sample | None = None,
           pgbouncer: dict[str, Any] | None = None) -> ProbeReport:
    findings: list[ProbeFinding] = []

    def add(level: str, code: str, message: str) -> None:
        findings.append(ProbeFinding(level=level, code=code, message=message))

    sessions = sample.sessions
    settings = sample.settings
    reserved = int(settings.get("superuser_reserved_connections", 0)) + int(settings.get("reserved_connections", 0))
    available = int(settings.get("max_connections", 0)) - reserved
    used = len(sessions) + 1  # + the probe itself
    states = Counter("waiting on a lock" if s.wait_event_type == "Lock" else (s.state or "unknown")
                     for s in sessions)

    trees = blocking_trees(sessions)
    blocked_total = sum(1 for s in sessions if s.blocked_by)
    if trees:
        top = trees[0]
        longest = max((s.state_age or 0) for s in sessions if s.blocked_by) if blocked_total else 0
        level = "CRIT" if top["blocks"] >= t.blocked_crit or longest >= t.lock_wait_crit_s else \
            "WARN" if blocked_total >= t.blocked_warn else "OK"
        add(level, "blocking", f"{top['blocks']} session(s) blocked behind pid {top['pid']} ({top['application']}, "
                               f"{top['state']} {human_seconds(top['xact_age_s'])})")

    idle = sorted((s for s in sessions if (s.state or "").startswith("idle in transaction")),
                  key=lambda s: -(s.state_age or 0))
    if idle:
        worst = idle[0]
        age = worst.state_age or 0
        level = "CRIT" if age >= t.idle_in_transaction_crit_s else \
            "WARN" if age >= t.idle_in_transaction_warn_s else "OK"
        add(level, "idle_in_transaction", f"{len(idle)} session(s) idle in transaction, oldest pid {worst.pid} "
                                          f"({_who(worst)}) for {human_seconds(age)}")

    active = sorted((s for s in sessions if s.state == "active" and not s.blocked_by),
                    key=lambda s: -(s.query_age or 0))
    if active and (active[0].query_age or 0) >= t.long_query_warn_s:
        worst = active[0]
        level = "CRIT" if (worst.query_age or 0) >= t.long_query_crit_s else "WARN"
        add(level, "long_query", f"pid {worst.pid} ({_who(worst)}) has been running one query for "
                                 f"{human_seconds(worst.query_age)}")

    if available > 0:
        pct = used * 100.0 / available
        level = "CRIT" if pct >= t.connections_crit_pct else "WARN" if pct >= t.connections_warn_pct else "OK"
        if level != "OK":
            add(level, "connections", f"{used} of {available} connection slots in use ({pct:.0f}%)")

    empty = sum(1 for s in sessions if not s.application)
    if len(sessions) >= 5 and empty * 2 > len(sessions):
        add("WARN", "application_name", f"{empty} of {len(sessions)} sessions have no application_name, so they "
                                        "cannot be attributed; set it in every app's engine (dbops.runtime does)")

    for r in sample.replicas:
        lag = r.get("replay_lag_s")
        if lag is not None and lag >= t.replication_lag_warn_s:
            add("CRIT" if lag >= t.replication_lag_crit_s else "WARN", "replication_lag",
                f"replica {r['name'] or r['client']} replays {human_seconds(lag)} behind")
    if sample.replay_delay is not None and sample.replay_delay >= t.replication_lag_warn_s:
        add("CRIT" if sample.replay_delay >= t.replication_lag_crit_s else "WARN", "replication_lag",
            f"this replica's last replayed transaction is {human_seconds(sample.replay_delay)} old")

    for p in (pgbouncer or {}).get("pools", []):
        if p["cl_waiting"]:
            level = "CRIT" if p["maxwait_s"] >= t.pgbouncer_wait_crit_s else \
                "WARN" if p["maxwait_s"] >= t.pgbouncer_wait_warn_s or p["cl_waiting"] else "OK"
            add(level, "pgbouncer", f"PgBouncer pool {p['database']}/{p['user']}: {p['cl_waiting']} client(s) waiting "
                                    f"(oldest {p['maxwait_s']:.1f}s), {p['sv_active']} of {p['pool_size']} server "
                                    "connections active")

    flags = [f"{name} = 0 (no limit)" for name in ("idle_in_transaction_session_timeout", "statement_timeout",
                                                   "lock_timeout") if settings.get(name) == "0"]
    if sample.invalid_indexes:
        names = ", ".join(f"{s}.{i} on {t}" for s, t, i in sample.invalid_indexes[:5])
        more = f" and {len(sample.invalid_indexes) - 5} more" if len(sample.invalid_indexes) > 5 else ""
        add("WARN", "invalid_index", f"{len(sample.invalid_indexes)} INVALID index(es) left by a failed CREATE INDEX "
                                     f"CONCURRENTLY ({names}{more}): unused by queries, updated by every write; "
                                     "drop with DROP INDEX CONCURRENTLY, see: dbops verify")
    if not sample.privileged:
        add("WARN", "privileges", "the probe role lacks pg_monitor: other users' sessions show no state or query, "
                                  "so this view is partial (GRANT pg_monitor TO <role>)")

    worst_level = max((f.level for f in findings), key=lambda lv: LEVELS[lv], default="OK")
    headline = next((f for f in sorted(findings, key=lambda f: -LEVELS[f.level]) if f.level == worst_level), None)
    verdict = f"{worst_level}: {headline.message}" if headline else \
        f"OK: {used} of {available} connections, no blocking, no long transactions"
    elapsed = (sample.taken_at - previous.taken_at) if previous else 0
    waits = Counter(f"{s.wait_event_type}:{s.wait_event}" for s in sessions if s.wait_event_type)
    holders = Counter((_who(s), s.user or "?", s.client or "local") for s in sessions)
    return ProbeReport(
        command="probe", database=database, status=worst_level, verdict=verdict,
        server={"version": sample.version, "role": "replica" if sample.in_recovery else "primary",
                "connect_ms": sample.connect_ms, "select1_ms": sample.select1_ms,
                "pg_monitor": sample.privileged},
        connections={"used": used, "available": available, "by_state": dict(states.most_common()),
                     "top_holders": [{"application": a, "user": u, "client": c, "sessions": n}
                                     for (a, u, c), n in holders.most_common(5)],
                     "without_application_name": empty},
        blocking=tuple(trees),
        idle_in_transaction=tuple({"pid": s.pid, "application": _who(s), "user": s.user, "age_s": s.state_age}
                                  for s in idle[:10]),
        long_queries=tuple({"pid": s.pid, "application": _who(s), "age_s": s.query_age, "query": s.query}
                           for s in active[:5] if (s.query_age or 0) >= t.long_query_warn_s),
        wait_events=dict(waits.most_common()),
        settings_flags=tuple(flags),
        replication={"replicas": sample.replicas, "replay_delay_s": sample.replay_delay},
        findings=tuple(sorted(findings, key=lambda f: -LEVELS[f.level])),
        rates={"commits_per_s": round((sample.commits - previous.commits) / elapsed, 1),
               "rollbacks_per_s": round((sample.rollbacks - previous.rollbacks) / elapsed, 1)}
        if previous and elapsed > 0 else None,
        thresholds={f.name: getattr(t, f.name) for f in fields(t)},
        pgbouncer=pgbouncer,
    )
