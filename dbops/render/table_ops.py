"""Tables of the operations: data-migrate, fan-out (--all/--group), probe, pool."""
from __future__ import annotations

from typing import TYPE_CHECKING

from dbops.render.table import Out, _ms, _revs, new_table, renders
from dbops.reports.base import human_seconds as _age

if TYPE_CHECKING:
    from dbops.reports import DataMigrateReport, DataMigrationListReport, FanOutReport, PoolReport, ProbeReport


@renders("DataMigrateReport")
def _data_migrate(r: DataMigrateReport, console: Out) -> None:
    if not r.runs:
        console.line(f"Nothing to do: every data migration on {r.database} is done.")
        return
    for run in r.runs:
        if run.status == "dry_run":
            eta = f"~{run.estimated_seconds:g} s" if run.estimated_seconds is not None else "unknown"
            console.line(f"{run.name}: would touch up to {run.would_change:,} row(s); estimated {eta} at "
                         f"{run.rows_per_second:,.0f} rows/s (one sampled batch, rolled back). Nothing written.")
        elif run.status == "paused":
            console.line(f"{run.name}: paused after {run.batches} batch(es), {run.rows_done:,} row(s) changed; "
                         f"checkpoint at key {run.last_key}.")
        else:
            resumed = f" (resumed after key {run.resumed_from})" if run.resumed_from else ""
            console.line(f"{run.name}: done{resumed}: {run.rows_done:,} row(s) changed of {run.rows_scanned:,} "
                         f"scanned in {run.batches} batch(es), {run.duration_s:g} s, "
                         f"{run.rows_per_second:,.0f} rows/s.")


@renders("DataMigrationListReport")
def _data_list(r: DataMigrationListReport, console: Out) -> None:
    table = new_table("name", "table", "requires", "status", "rows done", "last key")
    for m in r.migrations:
        requires = (m.requires or "-") + ("" if m.revision_applied else " (not applied)")
        table.add_row(m.name, m.table, requires, m.status, f"{m.rows_done:,}", m.last_key or "")
    console.table(table)


def _fan_out_sql(r: FanOutReport, console: Out) -> None:
    """``upgrade --sql`` over targets: stdout stays a SQL script, each target's part labelled."""
    for t in r.targets:
        console.line(f"-- ===== target {t.target}: {t.outcome}"
                     + (f", {_revs(t.from_revisions)} -> {_revs(t.to_revisions)}" if t.from_revisions is not None
                        else "") + " =====")
        if t.sql is not None:
            console.write(t.sql if t.sql.strip() else "-- nothing to do\n")
        else:
            console.line(f"-- {t.error or t.summary or 'no SQL'}")
    counts = ", ".join(f"{r.count(o)} {o}" for o in ("ok", "failed", "check_failed", "skipped") if r.count(o))
    console.line(f"-- {r.command} --sql on {f'group {r.group}' if r.group else 'all targets'}: "
                 f"{len(r.targets)} target(s), {counts}; a preview: nothing was applied.")


def _clip(text: str, width: int) -> str:
    """At most ``width`` characters, cut at a word boundary with an ellipsis (JSON has the whole text)."""
    if len(text) <= width:
        return text
    cut = text[:width - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + "…"


@renders("FanOutReport")
def _fan_out(r: FanOutReport, console: Out) -> None:
    if any(t.sql is not None for t in r.targets):
        _fan_out_sql(r, console)
        return
    table = new_table("target", "outcome", "from -> to", "duration", "detail")
    for t in r.targets:
        revs = f"{_revs(t.from_revisions)} -> {_revs(t.to_revisions)}" if t.from_revisions is not None \
            or t.to_revisions is not None else ""
        also = f" (also {len(t.serves)} target(s) on the same database: {', '.join(t.serves[:3])}" \
            f"{', ...' if len(t.serves) > 3 else ''})" if t.serves else ""
        also += f" ({len(t.warnings)} warning(s), below)" if t.warnings else ""
        # the detail is clipped, never what the row says about other targets and warnings
        table.add_row(t.target, t.outcome, revs, _ms(t.duration_ms) if t.outcome != "skipped" else "",
                      _clip(t.error or t.summary or "", max(40, 140 - len(also))) + also)
    console.table(table)
    drift = [(t.target, i) for t in r.targets for i in t.items or ()]
    if drift or r.shared_items:  # check-drift: what each target reported, then what all of them did
        items = new_table("target", "verdict", "kind", "object", "detail")
        for target, i in drift:
            items.add_row(target, i.verdict, i.kind, i.object_name, i.detail)
        for i in r.shared_items:
            items.add_row("(every target)", i.verdict, i.kind, i.object_name, i.detail)
        console.table(items)
    for t in r.targets:
        for warning in t.warnings:
            console.line(f"warning: {t.target}: {warning}")
    counts = ", ".join(f"{r.count(o)} {o}" for o in ("ok", "failed", "check_failed", "skipped") if r.count(o))
    scope = f"group {r.group}" if r.group else "all targets"
    shard = f", shard {r.shard}" if r.shard else ""
    console.line(f"{r.command} on {scope}{shard}: {len(r.targets)} target(s), {counts}; parallel {r.parallel}, "
                 f"{_ms(r.duration_ms)}.")


@renders("ProbeReport")
def _probe(r: ProbeReport, console: Out) -> None:
    console.line(r.verdict)
    s = r.server
    console.line(f"server       {s['version']} {s['role']} · connect {s['connect_ms']} ms · SELECT 1 "
                 f"{s['select1_ms']} ms{'' if s['pg_monitor'] else ' · WITHOUT pg_monitor: partial view'}")
    c = r.connections
    states = ", ".join(f"{k} {v}" for k, v in c["by_state"].items()) or "none"
    top = "; ".join(f"{h['application']} ({h['user']}@{h['client']}) {h['sessions']}" for h in c["top_holders"][:3])
    console.line(f"connections  {c['used']} of {c['available']} used · {states}" + (f" · top: {top}" if top else ""))
    if r.rates:
        console.line(f"rates        {r.rates['commits_per_s']} commits/s · {r.rates['rollbacks_per_s']} rollbacks/s")
    for tree in r.blocking:
        console.line(f"blocking     pid {tree['pid']} ({tree['application']}, user {tree['user']}, {tree['state']}, "
                     f"transaction {_age(tree['xact_age_s'])}) blocks {tree['blocks']}")
        for w in tree["waiters"][:10]:
            what = f"{w['mode']} on {w['relation']}" if w["mode"] else "its turn"
            console.line(f"               pid {w['pid']} ({w['application']}) waits {_age(w['waiting_s'])} for {what}"
                         + (f" behind {', '.join(map(str, w['blocked_by']))}" if w["blocked_by"] else ""))
        console.line(f"               cancel its query: {tree['cancel']}  end its session: {tree['terminate']}")
    for s_ in r.idle_in_transaction[:5]:
        console.line(f"idle in tx   pid {s_['pid']} ({s_['application']}, user {s_['user']}) for {_age(s_['age_s'])}")
    for q in r.long_queries:
        console.line(f"long query   pid {q['pid']} ({q['application']}) running {_age(q['age_s'])}"
                     + (f": {q['query']}" if q.get("query") else ""))
    if r.wait_events:
        console.line("wait events  " + ", ".join(f"{k} {v}" for k, v in r.wait_events.items()))
    for p in (r.pgbouncer or {}).get("pools", []):
        console.line(f"pgbouncer    {p['database']}/{p['user']}: {p['cl_active']} active clients, {p['cl_waiting']} "
                     f"waiting (oldest {p['maxwait_s']:.1f}s), servers {p['sv_active']} active {p['sv_idle']} idle "
                     f"of {p['pool_size']}")
    for flag in r.settings_flags:
        console.line(f"setting      {flag}")
    for f in r.findings:
        if f.level != "OK":
            console.line(f"{f.level:<12} {f.code}: {f.message}")


@renders("PoolReport")
def _pool(r: PoolReport, console: Out) -> None:
    console.line(r.verdict)
    for p in r.pools:
        w = p["wait"]
        parts = [f"{p['checked_out']}/{p['capacity']} checked out (overflow {p['overflow_in_use']})",
                 f"{p['waiting']} waiting", f"wait avg {w['avg_ms']} ms max {w['max_ms']} ms",
                 f"{p['timeouts']} timeouts", f"{p['checkouts']} checkouts"]
        console.line(f"pool {p['name']} (worker {p['worker_pid']}): {p['verdict']} · " + " · ".join(parts))
    for line in r.held:
        console.line(f"  {line}")
