"""Tables of the checks: check-drift, drift log, history --applied, verify, lint, plan."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbops.render.table import Out, _ms, _revs, new_table, renders

if TYPE_CHECKING:
    from dbops.reports import (
        AppliedHistoryReport,
        DriftLogReport,
        DriftReport,
        LintReport,
        PlanReport,
        SquashReport,
        VerifyReport,
    )


@renders("DriftReport")
def _drift(r: DriftReport, console: Out) -> None:
    sides = {"migrations": "models vs migrations", "database": "models vs database",
             "both": "models vs migrations vs database"}[r.against]
    revs = f" (live {_revs(r.live_revisions)}, head {_revs(r.head_revisions)})" if r.live_revisions is not None \
        else f" (head {_revs(r.head_revisions)})"
    console.line(f"check-drift {r.database or r.dialect}: {sides}{revs}")
    if r.items:
        table = new_table("verdict", "kind", "object", "detail")
        for item in r.items:
            verdict = item.verdict + (" (minor)" if item.severity == "warning" else "")
            table.add_row(verdict, item.kind, item.object_name, item.detail)
        console.table(table)
    pending = sum(1 for i in r.items if i.verdict == "pending_migration")
    minor = sum(1 for i in r.items if i.verdict != "pending_migration" and i.severity == "warning")
    failing = len(r.items) - pending - minor
    ignored = f", {len(r.ignored)} ignored" if r.ignored else ""
    also = f", {minor} minor" if minor else ""
    if r.clean:
        console.line(f"Clean: no drift ({pending} pending{also}{ignored}) in {_ms(r.duration_ms)}.")
    else:
        console.line(f"{failing} difference(s), {pending} pending{also}{ignored}, in {_ms(r.duration_ms)}.")
    if r.recorded is not None:
        rec = r.recorded
        since = "the first recorded run" if rec.previous_run_at is None else \
            f"the last recorded run ({rec.previous_run_at.strftime('%Y-%m-%d %H:%M:%S')} UTC)"
        change = (f"{len(rec.appeared)} new or changed, {len(rec.resolved)} gone since {since}" if rec.changed
                  else f"unchanged since {since}")
        notified = "; webhook notified" if rec.notified else ""
        console.line(f"Recorded as run {rec.run_id} in {rec.table}: {change}{notified}.")


@renders("DriftLogReport")
def _drift_log(r: DriftLogReport, console: Out) -> None:
    if not r.runs:
        console.line(f"No recorded check-drift runs on {r.database} yet (record one with: dbops check-drift --record).")
        return

    def when(value: Any) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""

    if r.differences:
        table = new_table("status", "verdict", "kind", "object", "first seen", "last seen", "gone since")
        for d in r.differences:
            table.add_row("open" if d.resolved_at is None else "gone", d.verdict, d.kind, d.object,
                          when(d.first_seen), when(d.last_seen), when(d.resolved_at))
        console.table(table)
    latest = r.runs[0]
    open_now = sum(1 for d in r.differences if d.resolved_at is None)
    shown = f"the newest {len(r.runs)} of {r.total_runs}" if r.total_runs > len(r.runs) else f"{len(r.runs)}"
    console.line(f"{shown} recorded run(s); the latest ({when(latest.run_at)} UTC) was "
                 f"{'clean' if latest.clean else 'not clean'}; {open_now} difference(s) open, "
                 f"{len(r.differences) - open_now} gone.")


@renders("AppliedHistoryReport")
def _applied(r: AppliedHistoryReport, console: Out) -> None:
    if not r.rows:
        console.line(f"No dbops_history rows on {r.database} yet (they are written by dbops upgrade/downgrade/stamp).")
        return
    table = new_table("when (UTC)", "command", "revision", "from -> to", "duration", "outcome", "who")
    for row in r.rows:
        when = row.started_at.strftime("%Y-%m-%d %H:%M:%S") if row.started_at else ""
        outcome = row.outcome if not row.error else f"{row.outcome}: {row.error[:60]}"
        table.add_row(when, row.command, row.revision or "", f"{row.from_revisions or 'base'} -> "
                      f"{row.to_revisions or 'base'}", _ms(row.duration_ms) if row.duration_ms is not None else "",
                      outcome, f"{row.os_user}@{row.host}")
    console.table(table)
    if r.total > len(r.rows):
        console.line(f"The newest {len(r.rows)} of {r.total} rows; see them all with: dbops history --applied --all")


@renders("VerifyReport")
def _verify(r: VerifyReport, console: Out) -> None:
    table = new_table("revision", "status", "recorded", "now")
    for item in r.items:
        table.add_row(item.revision, item.status, (item.recorded_checksum or "")[:12],
                      (item.current_checksum or "")[:12])
    console.table(table)
    for index in r.invalid_indexes:
        console.line(f"INVALID index {index.schema}.{index.name} on {index.table}: {index.definition}")
        console.line(f"    fix: {index.fix} then build it again once its cause is gone")
    if r.ok:
        console.line(f"{len(r.items)} applied revision(s) match their files.")


@renders("LintReport")
def _lint(r: LintReport, console: Out) -> None:
    for f in r.findings:
        console.line(f"{f.path}:{f.line}: {f.rule}{' (warning)' if f.severity == 'warning' else ''} {f.message}")
        console.line(f"    {f.rationale}")
    warnings = sum(1 for f in r.findings if f.severity == "warning")
    if r.clean and not warnings:
        console.line(f"{len(r.revisions)} revision(s) checked, no findings ({len(r.rules)} rules).")
    elif r.clean:
        console.line(f"{len(r.revisions)} revision(s) checked, {warnings} warning(s), no errors "
                     f"({len(r.rules)} rules).")
    if r.baselined:
        console.line(f"{r.baselined} finding(s) in the baseline, not reported.")
    if r.skipped:
        console.line(f"Skipped {len(r.skipped)} file(s) that are not revisions (no module-level revision = "
                     f"\"...\"): {', '.join(r.skipped)}")


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


@renders("PlanReport")
def _plan(r: PlanReport, console: Out) -> None:
    if not r.revisions:
        console.line(f"Nothing to apply: the database is at {_revs(r.from_revisions)}.")
        return
    speed = "throughput measured on this server" if r.throughput.get("measured") \
        else "fixed throughput figures" + ("" if "copy" in r.throughput else ", --no-calibrate")
    unplanned = sum(1 for rev in r.revisions if rev.unplanned)
    console.line(f"plan {r.database}: {_revs(r.from_revisions)} -> {r.to_revision}, "
                 f"{len(r.revisions)} revision(s), estimated {r.estimated_seconds:.1f} s ({speed})"
                 + (f"; {unplanned} NOT planned (below)" if unplanned else ""))
    for rev in r.revisions:
        console.line("")
        console.line(f"{rev.revision}  {rev.message or ''}".rstrip())
        if rev.unplanned:
            console.line(f"  NOT PLANNED: {rev.unplanned}")
        for stmt in rev.statements:
            text = " ".join(stmt.sql.split())
            console.line(f"  {text if len(text) <= 100 else text[:97] + '...'}")
            if stmt.note and not stmt.effects:
                console.line(f"      {stmt.note}")
            for e in stmt.effects:
                work = [w for w, on in (("REWRITE", e.rewrite), ("index build", e.index_build),
                                        ("full scan", e.scan)) if on]
                where = "new table" if e.new else f"{e.rows:,} rows, {_size(e.bytes)}" if e.rows is not None \
                    else "not found"
                guess = "" if e.certain else " (conservative guess)"
                timing = f", ~{e.estimated_seconds:.1f} s" if e.estimated_seconds >= 0.05 else ""
                console.line(f"    {e.relation}: {e.lock} (blocks {e.blocks}){', ' + ', '.join(work) if work else ''}"
                             f"{guess}; {where}{timing}")
                console.line(f"      {e.what}")
                for s in e.sessions:
                    age = f"transaction open {s.transaction_seconds:.0f} s" if s.transaction_seconds is not None \
                        else "no transaction"
                    held = "holds" if s.granted else "waits for"
                    console.line(f"      pid {s.pid} ({s.application or 'no application_name'}, {s.user}, {s.state}, "
                                 f"{age}) {held} {s.mode}: this statement would queue behind it")
    for v in r.violations:
        console.line(f"over threshold: {v}")


@renders("SquashReport")
def _squash(r: SquashReport, console: Out) -> None:
    kinds = ", ".join(p.dialect for p in r.proofs)
    what = {"check": f"baseline {r.revision} re-proved against {r.archive}",
            "dry_run": f"dry run: {len(r.squashed)} revision(s) would become baseline {r.revision}",
            "squash": f"{len(r.squashed)} revision(s) squashed into baseline {r.revision}"}[r.mode]
    console.line(f"{what} ({kinds}, {_ms(r.duration_ms)})")
    for p in r.proofs:
        on = f"  {p.dialect}: " if len(r.proofs) > 1 else "  "
        if p.objects:
            console.line(f"{on}objects: " + ", ".join(f"{n} {kind}" for kind, n in p.objects.items()))
        if p.proven:
            down = "; downgrade() empties it again" if p.downgrade_proven else ""
            console.line(f"{on}proof: the chain's database and the baseline's are catalog-equal "
                         f"({p.fingerprint_entries} catalog entries compared{down})")
        else:
            nothing = ", nothing written" if r.mode != "check" else ""
            console.line(f"{on}proof FAILED: {len(p.differences)} difference(s){nothing}")
            for diff in p.differences:
                console.line(f"    {diff}")
        for row in p.row_differences:
            console.line(f"{on}rows differ: {row}")
        if p.equivalent:
            console.line(f"{on}{len(p.equivalent)} CHECK(s) spelled differently by the server's deparser, the same "
                         f"expression once re-parsed: {', '.join(k.removeprefix('constraint ') for k in p.equivalent)}")
    for d in r.data_revisions:
        kept = "kept in the baseline (--keep-data)" if d.kept else "NOT carried: rows it wrote are not in the baseline"
        console.line(f"  data: {d.revision} ({d.file}) {kept}")
        for step in d.steps:
            console.line(f"      {step}")
    for db in r.databases:
        console.line(f"  database {db.database} at {_revs(db.revisions)}: {db.status}, {db.action}")
    if r.written:
        console.line(f"  wrote {r.baseline_file}; squashed files and squash.json in {r.archive}")
    for note in r.notes:
        console.line(f"  note: {note}")
