"""THE Python API: one function per CLI verb. Each takes a :class:`~dbops.config.Config`
and returns a report from :mod:`dbops.reports`; none prints or exits. Failures raise
:class:`~dbops.errors.DbopsError` subclasses carrying their exit code.

Example::

    from dbops.config import load_config
    from dbops import command

    report = command.upgrade(load_config(database_url="sqlite:///app.db"))
    print([step.revision for step in report.steps])
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbops.config import Config
from dbops.options import BatchPolicy, SafetyOptions

if TYPE_CHECKING:
    from dbops.migrate.apply import Safety
    from dbops.probe.collect import Sample
    from dbops.reports import (
        AppliedHistoryReport,
        CurrentReport,
        DataMigrateReport,
        DataMigrationListReport,
        DriftLogReport,
        DriftReport,
        FanOutReport,
        HeadsReport,
        HistoryReport,
        InitReport,
        LintReport,
        MigrationReport,
        PlanReport,
        PoolReport,
        ProbeReport,
        RevisionReport,
        SquashReport,
        StatusReport,
        VerifyReport,
    )


def _safety(config: Config, safety: SafetyOptions | None, share_connection: bool) -> Safety:
    from dataclasses import asdict

    from dbops.migrate import apply

    return apply.Safety.from_config(config, **(asdict(safety) if safety is not None else {}),
                                    share_connection=share_connection)


def upgrade(config: Config, revision: str | None = None, *, sql: bool = False, wait: float | None = None,
            safety: SafetyOptions | None = None, share_connection: bool = False,
            known_pending: bool = False) -> MigrationReport:
    """Upgrade the database to ``revision`` (default: head, or the target's ``revision`` such as a
    branch head ``reports@head``); ``sql=True`` previews instead; ``wait``: first wait that many seconds
    for the database to accept connections. ``safety``: lock wait, timeouts, retries, strictness (each
    None: the config's). ``share_connection``: run on the lock's connection (fan-out: one per target).
    ``known_pending``: the caller read the version table a moment ago and found revisions to apply, so
    the lock-free "nothing to do?" read is skipped (the run under the lock reads it again anyway).
    """
    from dbops.migrate import apply

    if wait:
        from dbops.db.url import parse_url
        from dbops.db.wait import wait_for_database

        wait_for_database(parse_url(config.url), wait, connect_timeout=config.connect_timeout)
    return apply.upgrade(config, revision or config.head_revision, sql=sql,
                         safety=_safety(config, safety, share_connection), quick_check=not known_pending)


def downgrade(config: Config, revision: str, *, safety: SafetyOptions | None = None,
              share_connection: bool = False) -> MigrationReport:
    """Revert the database to ``revision`` (an id, ``-1`` or ``base``)."""
    from dbops.migrate import apply

    return apply.downgrade(config, revision, safety=_safety(config, safety, share_connection))


def stamp(config: Config, revision: str, *, purge: bool = False,
          safety: SafetyOptions | None = None) -> MigrationReport:
    """Record ``revision`` as applied without running any migration."""
    from dbops.migrate import apply

    return apply.stamp(config, revision, purge=purge, safety=_safety(config, safety, False))


def current(config: Config, *, check: bool = False) -> CurrentReport:
    """The database's revision(s), the heads and what is pending; ``check`` raises NotAtHead."""
    from dbops.migrate import status

    return status.current(config, check=check)


def status(config: Config) -> StatusReport:
    """Where the database stands (as ``current``) and its latest dbops_history row."""
    from dbops.db.engine import run_with_connection
    from dbops.db.url import parse_url
    from dbops.reports import StatusReport
    from dbops.safety.history import latest_run

    report = current(config)
    last = run_with_connection(parse_url(config.url), lambda conn: latest_run(conn, schema=config.tenant_schema),
                               connect_timeout=config.connect_timeout)
    return StatusReport(command="status", database=config.masked_url, target=config.target, current=report.current,
                        heads=report.heads, at_head=report.at_head, pending=report.pending, last_run=last)


def heads(config: Config, *, check: bool = False) -> HeadsReport:
    """The head revisions of the scripts; ``check`` raises MultipleHeads when there are several."""
    from dbops.migrate import status

    return status.heads(config, check=check)


def history(config: Config, *, indicate_current: bool = False) -> HistoryReport:
    """Every revision, newest first; ``indicate_current`` also reads the database's revision."""
    from dbops.migrate import status

    return status.history(config, indicate_current=indicate_current)


def revision(
    config: Config, message: str, *, autogenerate: bool = False, head: str = "head", rev_id: str | None = None,
    branch_label: str | None = None, depends_on: str | None = None, splice: bool = False,
    version_path: str | None = None,
) -> RevisionReport:
    """Create a revision file; ``autogenerate`` fills it from models vs database. Branch options as
    Alembic's: ``branch_label``, ``depends_on``, ``splice`` (build on a non-head), ``version_path``."""
    from dbops.migrate import author

    return author.revision(config, message, autogenerate=autogenerate, head=head, rev_id=rev_id,
                           branch_label=branch_label, depends_on=depends_on, splice=splice, version_path=version_path)


def merge(config: Config, revisions: tuple[str, ...] = ("heads",), *, message: str | None = None,
          rev_id: str | None = None, branch_label: str | None = None) -> RevisionReport:
    """Write a merge revision joining ``revisions`` (default: every head); nothing is migrated."""
    from dbops.migrate import author

    return author.merge(config, revisions, message=message, rev_id=rev_id, branch_label=branch_label)


def init(
    directory: str | Path = ".", *, metadata: str | None = None, script_location: str = "migrations",
    config_file: str | None = None,
) -> InitReport:
    """Scaffold alembic.ini, the dbops env.py, the script template and dbops.toml (or ``config_file``:
    a .toml of the project; pyproject.toml gets [tool.dbops]); adopt an existing Alembic project."""
    from dbops.bridge import scaffold

    return scaffold.init(Path(directory), metadata=metadata, script_location=script_location,
                         config_file=config_file)


def check_drift(
    config: Config,
    *,
    against: str | None = None,
    ignore: tuple[str, ...] = (),
    scratch_url: str | None = None,
    locate: bool = True,
    cache: bool = True,
    record: bool = False,
    suggest: bool = True,
    notify: str | None = None,
) -> DriftReport:
    """Models vs migrations (replayed into a scratch database) vs the live database. ``locate``: find
    each item's model file and line (reading the models' source; the table output does not show them).
    ``suggest``: render the Alembic code a revision would need (``upgrade_code``; the table output does
    not show it either, and rendering imports Alembic's autogenerate).
    ``cache``: clone the replay from a cached template when the chain allows it (drift/cache.py).
    ``record``: store the outcome in dbops_drift_runs on the database (see :func:`drift_log`);
    ``notify``: a webhook URL posted to when the differences changed since the last recorded run.

    Raises DriftDetected (exit 3) carrying the report when drift is found; NotificationFailed (exit 1)
    when the webhook did not accept the notification (the run is recorded).
    """
    from dbops.drift.check import check_drift as run

    def check() -> DriftReport:
        return run(config, against=against, ignore=ignore, scratch_url=scratch_url, locate=locate, cache=cache,
                   suggest=suggest)

    if not (record or notify):
        return check()
    from dbops.drift.history import record_and_notify

    return record_and_notify(config, check, record_run=record, notify_url=notify)


def drift_log(config: Config, *, limit: int | None = 50) -> DriftLogReport:
    """The runs check-drift --record stored (newest ``limit``), and when each difference first
    appeared, was last seen and went away."""
    from dbops.drift.history import drift_log as run

    return run(config, limit=limit)


def data_migrate(config: Config, name: str | None = None, *, policy: BatchPolicy | None = None,
                 dry_run: bool = False, reset: bool = False, progress: Callable[[Any], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> DataMigrateReport:
    """Run data migration ``name`` (or every unfinished one), resuming from its checkpoint. ``policy``:
    batch size or seconds, throttle, pause, lock timeout (each None: adaptive or the config's);
    ``dry_run`` counts and times one rolled-back batch; ``reset`` forgets the checkpoint;
    ``progress`` is called after each batch; ``should_stop`` is checked between batches."""
    from dataclasses import asdict

    from dbops.data.manage import data_migrate as run

    options = {k: v for k, v in asdict(policy or BatchPolicy()).items() if v is not None}
    return run(config, name, progress=progress, should_stop=should_stop, dry_run=dry_run, reset=reset, **options)


def list_data_migrations(config: Config) -> DataMigrationListReport:
    """Every data migration with its status, progress and required revision."""
    from dbops.data.manage import list_data_migrations as run

    return run(config)


def applied_history(config: Config, *, limit: int | None = 200) -> AppliedHistoryReport:
    """The dbops_history audit rows, newest first."""
    from dbops.safety import audit

    return audit.applied_history(config, limit=limit)


def verify(config: Config, *, baseline: bool = False) -> VerifyReport:
    """Applied revisions whose file changed, vanished, or was never recorded (ChecksumMismatch, exit 3).

    ``baseline``: first record the current files for applied revisions without an audit row (once,
    for a database migrated before dbops or by plain alembic)."""
    from dbops.safety import audit

    return audit.verify(config, baseline=baseline)


def plan(config: Config, revision: str = "head", *, calibrate: bool = True,
         fail_on: tuple[str, ...] = ()) -> PlanReport:
    """What upgrading to ``revision`` would do to the live PostgreSQL database, statement by statement:
    lock mode and relation, rewrite/scan/index build, live size, conflicting sessions, estimated duration.
    Writes nothing. ``fail_on``: thresholds ("access-exclusive-rows=N", "rewrite-mb=N", "seconds=N",
    "blockers") whose crossing raises PlanOverThreshold (exit 3) with the report."""
    from dbops.plan.build import plan as build

    return build(config, revision, calibrate=calibrate, fail_on=fail_on)


def lint(config: Config, rev_range: str | None = None, *, files: tuple[str, ...] = (),
         rules: tuple[str, ...] | None = None, baseline: str | None = None,
         write_baseline: str | None = None) -> LintReport:
    """Lint revisions' Alembic operations (LintFailed, exit 3, when findings remain): those in
    ``rev_range`` (default all), or only ``files`` (read as text, nothing imported); ``rules``: only these;
    ``baseline``: leave out the findings that file holds; ``write_baseline``: record them there."""
    from dbops.lint.check import lint as run

    return run(config, rev_range, files=files, rules=rules, baseline=baseline, write_baseline=write_baseline)


def fan_out(
    config: Config,
    verb: str,
    *,
    group: str | None = None,
    all_targets: bool = False,
    shard: str | None = None,
    parallel: int = 4,
    canary: str | None = None,
    continue_on_error: bool = False,
    progress: Any = None,
    **kwargs: Any,
) -> FanOutReport:
    """Run ``verb`` (upgrade, current, status, check-drift, data-migrate) on every selected target.

    Raises FanOutFailed (exit 1) when a target failed, FanOutCheckFailed (exit 3) when a check
    found problems on some target; both carry the per-target report.
    """
    from dbops.errors import CheckFailed, DbopsError
    from dbops.targets.expand import select_targets, shard_from_environment
    from dbops.targets.fanout import fan_out as run

    if shard == "auto":  # resolved once, and the report says from where
        import os

        resolved, source = shard_from_environment(os.environ)
        shard = f"{resolved} (from {source})"
        refs = select_targets(config, group=group, all_targets=all_targets, shard=resolved)
    else:
        refs = select_targets(config, group=group, all_targets=all_targets, shard=shard)
    shared: dict[str, tuple[str, ...]] = {}
    if verb == "probe":  # one probe per database: schema tenants of one database would probe it N times
        from dbops.targets.expand import one_per_database

        refs, shared = one_per_database(refs)
    done: dict[str, Any] = {}
    todo = refs
    if verb == "upgrade" and not kwargs.get("sql") and not kwargs.get("wait"):
        todo, done = _already_upgraded(refs, kwargs.get("revision"), progress)
    if canary and not canary.isdigit() and canary in done:  # the canary is already there: it passed
        canary = None
    if todo and verb in ("upgrade", "downgrade"):
        from dbops.migrate.fleet import warm

        warm(todo[0].config)  # the worker processes fork from here: they start with it loaded
    report = run(verb, FAN_OUT_VERBS[verb], todo, kwargs, parallel=parallel, canary=canary,
                 continue_on_error=continue_on_error, group=group, shard=shard, progress=progress,
                 total=len(refs), finished=len(done))
    if done:
        from dataclasses import replace

        ran = {t.target: t for t in report.targets}
        report = replace(report, targets=tuple(ran.get(r.name) or done[r.name] for r in refs))
    if shared:
        from dataclasses import replace

        report = replace(report, targets=tuple(replace(t, serves=shared.get(t.target, ())) for t in report.targets))
    failed = [t.target for t in report.targets if t.outcome == "failed"]
    if failed:
        skipped = report.count("skipped")
        raise DbopsError(
            f"{verb} failed on {len(failed)} of {len(report.targets)} target(s): {', '.join(failed[:20])}"
            f"{' ...' if len(failed) > 20 else ''}" + (f"; {skipped} not run." if skipped else "."),
            hint=f"Fix them and re-run the same command: targets already done are no-ops"
            f"{'' if continue_on_error else ' (or add --continue-on-error)'}.",
            report=report,
        )
    checks = [t.target for t in report.targets if t.outcome == "check_failed"]
    if checks:
        raise CheckFailed(f"{verb} found problems on {len(checks)} target(s): {', '.join(checks[:20])}.",
                          hint="See each target's line above.", report=report)
    return report


def probe(config: Config, *, thresholds: tuple[str, ...] = (), show_queries: bool = False,
          statement_timeout: float = 2.0, previous: Sample | None = None,
          pgbouncer: str | None = None) -> tuple[ProbeReport, Sample]:
    """One probe of the server: returns (ProbeReport, sample); pass the sample back as ``previous``
    for rates (commits/s, rollbacks/s). ``report.exit_code`` is the Nagios code of ``report.status``."""
    from dbops.probe.assess import Thresholds
    from dbops.probe.measure import probe as run

    return run(config, thresholds=Thresholds.parse(thresholds), show_queries=show_queries,
               statement_timeout=statement_timeout, previous=previous, pgbouncer=pgbouncer)


def pool(url: str, *, token: str | None = None, database_url: str | None = None, samples: int = 3,
         interval: float = 1.0, stuck_after: float = 10.0) -> PoolReport:
    """Read an app's pool snapshot endpoint; judge each pool ok / busy / stuck. ``report.exit_code`` is
    the Nagios code of ``report.status``."""
    from dbops.pool.inspect import inspect_pools

    return inspect_pools(url, token=token, database_url=database_url, samples=samples, interval=interval,
                         stuck_after=stuck_after)


def _probe_target(config: Config, **kwargs: Any) -> ProbeReport:
    """probe for one target of a fan-out: WARN/CRIT count as a check that found a problem."""
    from dbops.errors import CheckFailed

    report, _ = probe(config, **kwargs)
    if report.status != "OK":
        raise CheckFailed(report.verdict, report=report)
    return report


def _already_upgraded(refs: list[Any], revision: str | None, progress: Any) -> tuple[list[Any], dict[str, Any]]:
    """Schema tenants already at the revision, read in one query per database (a no-op rollout of
    thousands of tenants needs no worker, lock or connection per tenant): (the targets still to run,
    {name: its result})."""
    import time

    from dbops.migrate.fleet import already_at
    from dbops.reports import TargetResult

    started = time.perf_counter()
    wanted = {revision or ref.config.head_revision for ref in refs}
    if len(wanted) != 1:
        return refs, {}
    current, behind = already_at([(ref.name, ref.config) for ref in refs], wanted.pop())
    took = round((time.perf_counter() - started) * 1000, 1)
    done = {name: TargetResult(target=name, outcome="ok", from_revisions=heads, to_revisions=heads,
                               duration_ms=took, summary="already at target")
            for name, heads in current.items()}
    for n, result in enumerate(done.values(), 1):
        if progress is not None:
            progress(result, n, len(refs))
    from dataclasses import replace

    return [replace(ref, pending_known=ref.name in behind) for ref in refs if ref.name not in done], done


# The verbs fan-out runs on each target (--all, --group): handed to dbops.targets, which never imports
# this module (the API sits above the services; import-linter holds it).
FAN_OUT_VERBS: dict[str, Callable[..., Any]] = {
    "upgrade": upgrade, "downgrade": downgrade, "current": current, "status": status, "check-drift": check_drift,
    "data-migrate": data_migrate, "data-migrate-list": list_data_migrations, "probe": _probe_target,
}


def squash(config: Config, up_to: str | None = None, *, message: str | None = None, archive: str | None = None,
           delete: bool = False, keep_data: tuple[str, ...] = (), dry_run: bool = False,
           scratch_url: str | None = None, check: bool = False, old_chain: str | None = None,
           also_on: tuple[str, ...] = ()) -> SquashReport:
    """Collapse base..``up_to`` (default: the head) into one baseline revision rendered from the catalog of
    a database the chain built, proved catalog-equal (SquashUnproven, exit 3, and nothing written when it
    is not); ``also_on``: other kinds of database the baseline must also build (each proved there);
    ``check``: re-prove an existing baseline against the archived (or ``old_chain``) revisions."""
    from dbops.squash import build

    if check:
        return build.check(config, old_chain=old_chain, scratch_url=scratch_url, also_on=also_on)
    return build.squash(config, up_to, message=message, archive=archive, delete=delete, keep_data=keep_data,
                        dry_run=dry_run, scratch_url=scratch_url, also_on=also_on)
