"""Drift on a schedule: ``check-drift --record`` stores each run's differences in ``dbops_drift_runs``
on the checked database, ``dbops drift-log`` shows when each difference first appeared and when it
went away, and ``--notify URL`` posts a JSON summary to a webhook when the set of differences changed
since the previous recorded run.

A difference's identity is (verdict, kind, change, object); the run's fingerprint also covers each
difference's detail, so a default that changes from one wrong value to another is a change too.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from dbops.config import Config
from dbops.errors import ConfigError, DriftDetected, NotificationFailed
from dbops.reports import DriftHistoryItem, DriftItem, DriftLogReport, DriftRecord, DriftReport, DriftRun
from dbops.reports.drift import VERDICTS

TABLE_NAME = "dbops_drift_runs"
metadata = sa.MetaData()
table = sa.Table(
    TABLE_NAME, metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("against", sa.String(20), nullable=False),
    sa.Column("clean", sa.Boolean, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("counts", sa.Text, nullable=False),  # JSON: verdict -> number of differences
    sa.Column("items", sa.Text, nullable=False),  # JSON: one object per difference (entry() below)
    sa.Column("dbops_version", sa.String(20), nullable=True),
    # --notify: True once the webhook accepted this run's state (or it was what the webhook already knew)
    sa.Column("announced", sa.Boolean, nullable=True),
)


def entry(item: DriftItem) -> dict[str, str]:
    obj = item.object_name
    return {"key": f"{item.verdict} {item.kind} {item.change} {obj}", "verdict": item.verdict, "kind": item.kind,
            "change": item.change, "object": obj, "detail": item.detail, "severity": item.severity}


def _counts(entries: list[dict[str, str]]) -> dict[str, int]:
    return {verdict: sum(1 for e in entries if e["verdict"] == verdict) for verdict in VERDICTS}


def fingerprint(entries: list[dict[str, str]]) -> str:
    body = json.dumps(sorted([e["key"], e["detail"]] for e in entries), separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _connection_options(config: Config) -> dict[str, Any]:
    # a tenant's runs live in its own schema, beside its version table and dbops_history
    schema = config.version_table_schema
    return {"schema_translate_map": {None: schema}} if schema else {}


def _where(config: Config) -> str:
    return f"{config.version_table_schema}.{TABLE_NAME}" if config.version_table_schema else TABLE_NAME


def _require_database(config: Config, what: str) -> None:
    if config.uses_default_database:
        raise ConfigError(
            f"{what} needs the database whose drift it records, and none is configured, so nothing was recorded.",
            hint="Give it with --database-url or DATABASE_URL (or --target NAME).",
        )


def record_and_notify(config: Config, check: Callable[[], DriftReport], *, record_run: bool = True,
                      notify_url: str | None = None) -> DriftReport:
    """Run ``check`` (check-drift), store its outcome, and post to ``notify_url`` when the set of
    differences differs from the last one the webhook accepted (so a failed notification is tried
    again by the next run). ``--notify`` records too. The check's own verdict (exit 3) is kept."""
    try:
        report, found = check(), None
    except DriftDetected as exc:
        report, found = exc.report, exc
    recorded, news = record(config, report, notifying=notify_url is not None)
    if notify_url and news is not None:
        try:
            notify(notify_url, config, report, recorded, news)
        except NotificationFailed as exc:
            raise NotificationFailed(exc.message, hint=exc.hint, report=replace(report, recorded=recorded)) from exc
        _mark_announced(config, recorded.run_id)
        recorded = replace(recorded, notified=True)
    report = replace(report, recorded=recorded)
    if found is not None:
        raise DriftDetected(found.message, hint=found.hint, report=report) from None
    return report


Entries = dict[str, dict[str, str]]  # key -> entry()


def _delta(before: Entries, now: Entries) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(appeared or changed, resolved) keys between two runs' differences."""
    changed = {k for k in now.keys() & before.keys() if now[k]["detail"] != before[k]["detail"]}
    return tuple(sorted(now.keys() - before.keys() | changed)), tuple(sorted(before.keys() - now.keys()))


def _by_key(row: Any) -> Entries:
    return {e["key"]: e for e in json.loads(row["items"])} if row is not None else {}


def record(config: Config, report: DriftReport, *, notifying: bool = False) -> tuple[DriftRecord, Any]:
    """Store ``report``'s differences as one run and compare them with the previous recorded run.
    With ``notifying``, also with the last run the webhook accepted: the second value is then
    (appeared, resolved, that run's time) when there is news for the webhook, else None."""
    from dbops import __version__
    from dbops.db.engine import run_with_connection
    from dbops.db.url import parse_url

    _require_database(config, "check-drift --record")
    entries = [entry(item) for item in report.items]
    now = {e["key"]: e for e in entries}
    counts = _counts(entries)
    print_ = fingerprint(entries)

    def write(conn: sa.Connection) -> tuple[int, Any, Any]:
        conn = conn.execution_options(**_connection_options(config))
        metadata.create_all(conn, checkfirst=True)
        conn.commit()
        newest = sa.select(table).order_by(table.c.id.desc()).limit(1)
        previous = conn.execute(newest).mappings().first()
        told = conn.execute(newest.where(table.c.announced.is_(True))).mappings().first() if notifying else None
        known = told["fingerprint"] if told is not None else fingerprint([])
        inserted = conn.execute(table.insert().values(
            run_at=report.finished_at, against=report.against, clean=report.clean, fingerprint=print_,
            counts=json.dumps(counts), items=json.dumps(entries), dbops_version=__version__,
            announced=(print_ == known) if notifying else None,
        )).inserted_primary_key
        assert inserted is not None  # an INSERT of one row always has one
        run_id = inserted[0]
        conn.commit()
        return int(run_id), dict(previous) if previous is not None else None, \
            (dict(told) if told is not None else None, print_ != known)

    run_id, previous, (told, news) = run_with_connection(parse_url(config.url), write,
                                                         connect_timeout=config.connect_timeout)
    appeared, resolved = _delta(_by_key(previous), now)
    recorded = DriftRecord(
        run_id=run_id, table=_where(config), fingerprint=print_,
        changed=print_ != (previous["fingerprint"] if previous else fingerprint([])),
        appeared=appeared, resolved=resolved, previous_run_at=_utc(previous["run_at"]) if previous else None,
    )
    if not news:
        return recorded, None
    return recorded, (*_delta(_by_key(told), now), _utc(told["run_at"]) if told is not None else None)


def _mark_announced(config: Config, run_id: int) -> None:
    from dbops.db.engine import run_with_connection
    from dbops.db.url import parse_url

    def mark(conn: sa.Connection) -> None:
        conn = conn.execution_options(**_connection_options(config))
        marked = conn.execute(table.update().where(table.c.id == run_id).values(announced=True)).rowcount
        conn.commit()
        if marked != 1:  # read back: the webhook heard it, but the run it should be marked on is gone
            raise NotificationFailed(f"The webhook accepted run {run_id}, but that run is no longer in "
                                     f"{_where(config)}, so it could not be marked as notified.",
                                     hint="Check who deletes dbops_drift_runs rows; the next run notifies again.")

    run_with_connection(parse_url(config.url), mark, connect_timeout=config.connect_timeout)


def notify(url: str, config: Config, report: DriftReport, recorded: DriftRecord, news: Any, *,
           timeout: float = 10.0) -> None:
    """POST the change to ``url`` (JSON): ``news`` is (appeared, resolved, when the webhook last heard).
    Raises NotificationFailed unless the server answers 2xx."""
    import urllib.error
    import urllib.parse
    import urllib.request

    entries = {e["key"]: e for e in (entry(i) for i in report.items)}
    payload = {
        "event": "dbops.drift.changed",
        "database": config.masked_url, "target": config.target,
        "run_id": recorded.run_id, "run_at": _iso(report.finished_at),
        "previous_notified_run_at": _iso(news[2]) if news[2] else None,
        "clean": report.clean,
        "counts": _counts(list(entries.values())),
        "appeared": [entries[k] for k in news[0] if k in entries],
        "resolved": list(news[1]),
        "items": list(entries.values()),
    }
    parts = urllib.parse.urlsplit(url)
    where = f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}"  # never the path
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotificationFailed(f"--notify needs an http(s) URL; {where or 'the value given'} is not one, so no "
                                 "notification was sent (the run was recorded).",
                                 hint="Example: --notify https://hooks.example.com/services/T000/B000/XXXX")
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "dbops"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310  scheme checked above
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotificationFailed(
            f"The drift change (run {recorded.run_id}) was recorded, but the webhook at {where} could not be "
            f"reached ({reason}), so nobody was notified.",
            hint="Check the URL and that this machine can reach it; the next run that sees a change notifies again.",
        ) from exc
    if not 200 <= status < 300:
        raise NotificationFailed(
            f"The drift change (run {recorded.run_id}) was recorded, but the webhook at {where} answered HTTP "
            f"{status}, so the notification was not accepted.",
            hint="Check the webhook's URL and token; the next run that sees a change notifies again.",
        )


def drift_log(config: Config, *, limit: int | None = 50) -> DriftLogReport:
    """The newest ``limit`` recorded runs, and each difference's first and last appearance in them."""
    from dbops.db.engine import run_with_connection
    from dbops.db.url import parse_url

    _require_database(config, "drift-log")

    def read(conn: sa.Connection) -> tuple[list[dict[str, Any]], int]:
        conn = conn.execution_options(**_connection_options(config))
        if not sa.inspect(conn).has_table(TABLE_NAME, schema=config.version_table_schema):
            return [], 0
        stmt = sa.select(table).order_by(table.c.id.desc())
        rows = [dict(r) for r in conn.execute(stmt.limit(limit) if limit else stmt).mappings()]
        total = int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)
        return rows, total

    rows, total = run_with_connection(parse_url(config.url), read, connect_timeout=config.connect_timeout)
    runs = tuple(DriftRun(run_id=r["id"], run_at=_utc(r["run_at"]), against=r["against"], clean=bool(r["clean"]),
                          counts=json.loads(r["counts"]), fingerprint=r["fingerprint"]) for r in rows)
    return DriftLogReport(command="drift-log", database=config.masked_url, target=config.target, runs=runs,
                          differences=_histories(rows), total_runs=total)


def _histories(rows_newest_first: list[dict[str, Any]]) -> tuple[DriftHistoryItem, ...]:
    seen: dict[str, dict[str, Any]] = {}
    for row in reversed(rows_newest_first):
        at = _utc(row["run_at"])
        present = {e["key"]: e for e in json.loads(row["items"])}
        for key, e in present.items():
            h = seen.get(key)
            if h is None or h["resolved_at"] is not None:  # new, or back after it had gone
                seen[key] = h = {**e, "first_seen": at, "runs": 0}
            h.update(detail=e["detail"], last_seen=at, resolved_at=None)
            h["runs"] += 1
        for key, h in seen.items():
            if key not in present and h["resolved_at"] is None:
                h["resolved_at"] = at
    items = [DriftHistoryItem(key=k, verdict=h["verdict"], kind=h["kind"], object=h["object"], detail=h["detail"],
                              first_seen=h["first_seen"], last_seen=h["last_seen"], resolved_at=h["resolved_at"],
                              runs=h["runs"]) for k, h in seen.items()]
    return tuple(sorted(items, key=lambda i: (i.resolved_at is not None, i.first_seen, i.key)))


def _utc(value: datetime) -> datetime:
    # SQLite and MariaDB hand back naive datetimes; they were written in UTC
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _iso(value: datetime) -> str:
    return _utc(value).isoformat().replace("+00:00", "Z")
