"""`dbops plan`: for each pending revision and each statement it will run, the lock it takes and on
what, whether it rewrites, scans or indexes the table, how big that table is right now, who holds or
waits for a lock it would queue behind, and how long this server would take (measured throughput).

The statements are the ones ``dbops upgrade --sql`` renders (Alembic's offline mode, from the
revision the database is at): the preview writes nothing, and nothing here writes either. The
calibration sample is a TEMPORARY table in a transaction that is rolled back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dbops.config import Config
from dbops.errors import DbopsError, PlanOverThreshold
from dbops.lint.lock_modes import ACCESS_EXCLUSIVE, BLOCKS, mode_name
from dbops.lint.locks import Classified, Effect, classify
from dbops.reports.plan import PlanEffect, PlanReport, PlanRevision, PlanSession, PlanStatement

# the --fail-on access-exclusive-rows threshold: PostgreSQL's ACCESS EXCLUSIVE, and on MariaDB/MySQL an
# ALTER that blocks writes while it copies or rebuilds (LOCK=SHARED at best)
BLOCKING_WRITES = (mode_name(ACCESS_EXCLUSIVE), "LOCK=SHARED")
_RUNNING = re.compile(r"^-- Running upgrade (.*?) -> (.*)$")
THRESHOLDS = {
    "access-exclusive-rows": "ACCESS EXCLUSIVE on an existing table with more rows than this",
    "rewrite-mb": "a rewrite of a table bigger than this many MB",
    "seconds": "a statement estimated to take longer than this",
    "blockers": "any session holding or waiting for a lock a statement would queue behind (no value)",
}


def parse_thresholds(values: tuple[str, ...]) -> dict[str, float]:
    """``("access-exclusive-rows=100000", "blockers")`` -> {name: limit}; ValueError names the valid ones."""
    out: dict[str, float] = {}
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            name, _, limit = item.partition("=")
            name = name.strip().lower()
            if name not in THRESHOLDS:
                raise ValueError(f"unknown threshold {name!r}; one of: " + ", ".join(
                    f"{k}=N ({v})" if k != "blockers" else f"{k} ({v})" for k, v in THRESHOLDS.items()))
            if name == "blockers":
                out[name] = 0.0
                continue
            try:
                out[name] = float(limit)
            except ValueError:
                raise ValueError(f"threshold {name} needs a number, e.g. {name}=100000 (got {limit!r})") from None
    return out


def split_by_revision(sql: str) -> list[tuple[str, str, str]]:
    """Alembic's offline output -> [(from, to, that revision's SQL)], in order."""
    chunks: list[tuple[str, str, list[str]]] = []
    for line in sql.splitlines():
        found = _RUNNING.match(line)
        if found:
            chunks.append((found.group(1).strip(), found.group(2).strip(), []))
        elif chunks:
            chunks[-1][2].append(line)
    return [(a, b, "\n".join(lines)) for a, b, lines in chunks]


def plan(config: Config, revision: str = "head", *, calibrate: bool = True,
         fail_on: tuple[str, ...] = ()) -> PlanReport:
    from dbops.db.engine import run_with_connection
    from dbops.db.url import parse_url

    thresholds = parse_thresholds(fail_on)
    url = parse_url(config.url)
    if url.get_backend_name() not in ("postgresql", "mysql", "mariadb"):
        raise DbopsError(
            f"dbops plan asks the database what each pending statement will lock and rewrite (PostgreSQL's lock "
            f"table and catalog, MariaDB/MySQL's ALTER algorithms); this database is {url.get_backend_name()}, "
            "which has neither, so there is nothing it can measure there.",
            hint="Review the revisions statically with: dbops lint",
        )
    offline = _offline(config, revision, segments=url.get_backend_name() == "postgresql")
    chunks, messages, unplanned = offline.chunks, offline.messages, offline.unplanned
    if url.get_backend_name() != "postgresql":
        from dbops.plan.build_mysql import plan_mysql

        report = plan_mysql(config, url, revision, offline.preview, chunks)
        return _gate(report, thresholds)
    from dbops.bridge.env_settings import not_app_tables

    skip = not_app_tables(config.version_table)  # Alembic's and dbops's bookkeeping

    def read(conn: Any) -> tuple[list[PlanRevision], dict[str, float]]:
        from dbops.plan.live import DEFAULT_THROUGHPUT, LiveCatalog
        from dbops.plan.live import calibrate as measure

        throughput = measure(conn) if calibrate and chunks else DEFAULT_THROUGHPUT
        conn.rollback()
        catalog = LiveCatalog(conn)
        facts: dict[tuple[str | None, str], Any] = {}
        created: set[str] = set()
        revisions = []
        for before, after, sql in chunks:
            if after in unplanned:  # its SQL could not be rendered: nothing to measure, and the report says so
                revisions.append(PlanRevision(revision=after, down_revisions=tuple(r for r in before.split(",") if r),
                                              message=messages.get(after), statements=(), estimated_seconds=0.0,
                                              unplanned=unplanned[after]))
                continue
            statements = []
            for item in classify(sql, catalog):
                if item.kind == "TransactionStmt" or _bookkeeping(item, skip):
                    continue
                statements.append(_statement(conn, item, created, facts, throughput))
            revisions.append(PlanRevision(
                revision=after, down_revisions=tuple(r for r in before.split(",") if r), message=messages.get(after),
                statements=tuple(statements), estimated_seconds=round(sum(s.estimated_seconds for s in statements), 3)))
        conn.rollback()
        speeds = {"scan": throughput.scan, "rewrite": throughput.rewrite, "index_build": throughput.index_build,
                  "update": throughput.update, "measured": 1.0 if throughput.measured else 0.0}
        return revisions, speeds

    revisions, speeds = run_with_connection(url, read, connect_timeout=config.connect_timeout)
    report = PlanReport(command="plan", database=config.masked_url, target=config.target,
                        from_revisions=offline.from_revisions, to_revision=revision, revisions=tuple(revisions),
                        throughput=speeds,
                        estimated_seconds=round(sum(r.estimated_seconds for r in revisions), 3))
    return _gate(report, thresholds)


@dataclass
class _Offline:
    """The pending revisions' SQL, split by revision, in chain order; those that could not be rendered."""

    preview: Any  # the first rendering (MariaDB/MySQL: the only one)
    from_revisions: tuple[str, ...]
    chunks: list[tuple[str, str, str]] = field(default_factory=list)
    messages: dict[str, str | None] = field(default_factory=dict)
    unplanned: dict[str, str] = field(default_factory=dict)  # revision -> why


def _offline(config: Config, revision: str, *, segments: bool) -> _Offline:
    """The pending revisions' SQL from Alembic's offline mode (writes nothing). A revision whose upgrade()
    cannot be rendered offline (a data step that reads rows: ``connection.execute(...).fetchall()`` has no
    rows in offline mode) is left unplanned with the reason, and rendering resumes after it (``segments``;
    PostgreSQL, where each statement is measured on its own), instead of the whole plan failing."""
    from dbops.bridge.project import revision_message
    from dbops.errors import MigrationFailed
    from dbops.migrate.apply import upgrade
    from dbops.migrate.environment import revision_ids

    out: _Offline | None = None
    start: str | None = None

    def add(preview: Any) -> _Offline:
        nonlocal out
        out = out or _Offline(preview, preview.from_revisions)
        out.chunks += split_by_revision(preview.sql or "")
        out.messages.update({s.revision: s.message for s in preview.steps})
        return out

    while True:
        try:
            return add(upgrade(config, revision, sql=True, start=start))
        except MigrationFailed as exc:
            run = exc.run
            failing = getattr(run, "failing_revision", None) if run is not None and run.as_sql else None
            downs = revision_ids(failing.down_revision) if failing is not None else ()
            if not segments or failing is None or len(downs) > 1 or (out and failing.revision in out.unplanned):
                raise
            if downs and downs[0] != start:  # the part before it, from where this segment started
                add(upgrade(config, downs[0], sql=True, start=start))
            if out is None:  # the very first pending revision: the database is at its parent
                out = _Offline(None, downs)
            out.chunks.append((",".join(downs), failing.revision, ""))
            out.messages[failing.revision] = revision_message(failing) or None
            out.unplanned[failing.revision] = exc.message
            start = failing.revision


def _gate(report: PlanReport, thresholds: dict[str, float]) -> PlanReport:
    crossed = violations(report, thresholds)
    if crossed:
        from dataclasses import replace

        report = replace(report, violations=tuple(crossed))
        raise PlanOverThreshold(
            f"{len(crossed)} pending statement(s) cross the --fail-on thresholds: {crossed[0]}"
            + (f" (and {len(crossed) - 1} more)" if len(crossed) > 1 else "")
            + ". Nothing was run.",
            hint="Rewrite the revision the safe way (dbops lint --explain names it for each rule), schedule it for a "
            "quiet window, or end the blocking sessions first; the report lists each statement.",
            report=report,
        )
    return report


def _bookkeeping(item: Classified, skip: set[str]) -> bool:
    return bool(item.effects) and all(e.relation in skip for e in item.effects)


def _statement(conn: Any, item: Classified, created: set[str], facts: dict[tuple[str | None, str], Any],
               throughput: Any) -> PlanStatement:
    from dbops.plan.live import conflicting_sessions, relation_facts

    effects = []
    for effect in item.effects:
        new = effect.new or effect.relation in created
        if effect.new:
            created.add(effect.relation)
        rows = size = None
        sessions: list[Any] = []
        if not new:
            key = (effect.schema, effect.relation)
            if key not in facts:
                facts[key] = relation_facts(conn, effect.schema, effect.relation)
            fact = facts[key]
            if fact.exists:
                rows, size = fact.rows, fact.bytes
                sessions = conflicting_sessions(conn, fact.schema, effect.relation, effect.mode)
        effects.append(PlanEffect(
            relation=effect.name, lock=mode_name(effect.mode), blocks=BLOCKS[effect.mode], what=effect.what,
            rewrite=effect.rewrite, scan=effect.scan, index_build=effect.index_build, new=new,
            certain=effect.certain, rows=rows, bytes=size,
            estimated_seconds=round(_seconds(item.kind, effect, size, throughput), 3),
            sessions=tuple(PlanSession(s.pid, s.application, s.user, s.state, s.transaction_seconds,
                                       mode_name(s.mode), s.granted, s.query) for s in sessions)))
    return PlanStatement(sql=item.sql, kind=item.kind, concurrent=item.concurrent, note=item.note,
                         effects=tuple(effects), estimated_seconds=round(sum(e.estimated_seconds for e in effects), 3))


def _seconds(kind: str, effect: Effect, size: int | None, throughput: Any) -> float:
    if not size or effect.new or effect.empties:
        return 0.0
    if kind == "UpdateStmt":  # a new version of every row it touches, and its index entries
        return float(size / throughput.update)
    if effect.rewrite:
        return float(size / throughput.rewrite)
    if effect.index_build:
        return float(size / throughput.index_build)
    if effect.scan:
        return float(size / throughput.scan)
    return 0.0


def violations(report: PlanReport, thresholds: dict[str, float]) -> list[str]:
    out = []
    for rev in report.revisions:
        if rev.unplanned and thresholds:  # a gate never passes on what it did not look at
            out.append(f"{rev.revision} could not be planned (its SQL cannot be rendered offline), so the "
                       "thresholds cannot be checked for it")
        for stmt in rev.statements:
            head = f"{rev.revision}: {_short(stmt.sql)}"
            for e in stmt.effects:
                if e.new:
                    continue
                limit = thresholds.get("access-exclusive-rows")
                if limit is not None and e.lock in BLOCKING_WRITES and (e.rows or 0) > limit:
                    out.append(f"{head} takes {e.lock} on {e.relation} ({e.rows:,} rows > {limit:,.0f})")
                limit = thresholds.get("rewrite-mb")
                if limit is not None and e.rewrite and (e.bytes or 0) > limit * 1e6:
                    out.append(f"{head} rewrites {e.relation} ({(e.bytes or 0) / 1e6:.1f} MB > {limit:g} MB)")
                if "blockers" in thresholds and e.sessions:
                    first = e.sessions[0]
                    out.append(f"{head} would queue behind pid {first.pid} ({first.application or 'no application'}, "
                               f"{first.state}) holding {first.mode} on {e.relation}")
            limit = thresholds.get("seconds")
            if limit is not None and stmt.estimated_seconds > limit:
                out.append(f"{head} is estimated at {stmt.estimated_seconds:.1f} s (> {limit:g} s)")
    return out


def _short(sql: str, most: int = 80) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= most else text[:most - 3] + "..."
