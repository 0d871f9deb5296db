"""Run one command over many targets with bounded parallelism.

Processes, not threads: Alembic's ``context`` is a module-level proxy, so two upgrades in one
process would clobber each other. Coordination between several dbops processes (N CI jobs with
``--shard K/N``) is only each target's migration lock and its own state: no coordinator.
"""
from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from dbops.errors import CheckFailed, DbopsError
from dbops.redact import redact
from dbops.reports import FanOutReport, TargetResult
from dbops.targets.expand import TargetRef


def _summarise(verb: str, report: Any) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None, str]:
    if verb in ("upgrade", "downgrade"):
        n = len(report.steps)
        if report.sql is not None:  # a preview: nothing was applied, whatever the steps say
            return (report.from_revisions, report.to_revisions,
                    f"SQL preview of {n} revision(s); nothing applied" if n else "already at target; no SQL")
        return report.from_revisions, report.to_revisions, (f"{n} revision(s) applied" if n else "already at target")
    if verb in ("current", "status"):
        state = "at head" if report.at_head else f"{len(report.pending)} pending"
        last = getattr(report, "last_run", None)
        if last:
            state += f"; last run {last}"
        return report.current, report.heads, state
    if verb == "check-drift":
        return report.live_revisions, report.head_revisions, "clean" if report.clean else f"{len(report.items)} items"
    if verb == "probe":
        return None, None, report.verdict
    if verb == "data-migrate-list":
        return None, None, ", ".join(f"{m.name}: {m.status}" for m in report.migrations) or "none defined"
    if verb == "data-migrate":
        return None, None, ", ".join(f"{r.name}: {r.status} ({r.rows_done} rows)" for r in report.runs) or "nothing"
    return None, None, ""


def run_target(verb: str, fn: Callable[..., Any], ref: TargetRef, kwargs: dict[str, Any]) -> TargetResult:
    """One target, in a worker process: ``fn`` is the verb's API function (dbops.command hands it over).
    Never raises: the outcome is data."""
    started = time.perf_counter()
    if verb in ("upgrade", "downgrade"):
        kwargs = {**kwargs, "share_connection": True}  # one connection per in-flight target
    if verb == "upgrade" and ref.pending_known:
        kwargs = {**kwargs, "known_pending": True}
    sql = None
    items = None
    warnings: tuple[str, ...] = ()
    try:
        report = fn(ref.config, **kwargs)
        warnings = tuple(redact(w) for w in getattr(report, "warnings", ()) or ())
        before, after, summary = _summarise(verb, report)
        sql = getattr(report, "sql", None)
        items = getattr(report, "items", None) if verb == "check-drift" else None
        outcome = "ok"
        error = None
    except CheckFailed as exc:
        warnings = tuple(redact(w) for w in getattr(exc, "warnings", ()) or ())
        before, after, summary = _summarise(verb, exc.report) if exc.report is not None else (None, None, "")
        items = getattr(exc.report, "items", None) if verb == "check-drift" else None
        outcome, error = "check_failed", redact(exc.message)
    except DbopsError as exc:
        warnings = tuple(redact(w) for w in getattr(exc, "warnings", ()) or ())
        report = getattr(exc, "run", None)
        before = getattr(report, "before", None)
        after = getattr(report, "after", None)
        outcome, error, summary = "failed", redact(exc.message), ""
    except Exception as exc:  # a bug or driver surprise on one target must not sink the rollout
        before = after = None
        outcome, error, summary = "failed", redact(f"{type(exc).__name__}: {exc}"), ""
    return TargetResult(target=ref.name, outcome=outcome, from_revisions=before, to_revisions=after,
                        duration_ms=round((time.perf_counter() - started) * 1000, 1), error=error, summary=summary,
                        sql=sql, items=tuple(items) if items is not None else None, warnings=warnings)


def _died(verb: str, ref: TargetRef, began: float) -> TargetResult:
    """A target whose worker process died under it: failed, and where it stands read from its version
    table now (a statement the dead worker sent may have committed; the report says what is there)."""
    observed: tuple[str, ...] | None = None
    where = ""
    if verb in ("upgrade", "downgrade"):
        try:
            from dbops.bridge.project import database_heads
            from dbops.db.engine import run_with_connection
            from dbops.db.url import parse_url

            config = ref.config
            observed = run_with_connection(parse_url(config.url), lambda c: database_heads(c, config),
                                           connect_timeout=config.connect_timeout)
            where = f" Its version table now says {', '.join(observed) or 'base'}."
        except Exception as exc:  # noqa: BLE001  the death is what must be reported
            where = f" Its version table could not be read afterwards ({redact(str(exc).splitlines()[0])})."
    return TargetResult(
        target=ref.name, outcome="failed", to_revisions=observed,
        duration_ms=round((time.perf_counter() - began) * 1000, 1),
        error="The worker process running it died (killed, out of memory, or a crash in a driver or in the "
        "revision's code), or another worker's death stopped it." + where + " Re-run the same command: targets "
        "already done are no-ops.",
        summary="worker died")


def fan_out(
    verb: str,
    fn: Callable[..., Any],
    refs: list[TargetRef],
    kwargs: dict[str, Any],
    *,
    parallel: int = 4,
    canary: str | None = None,
    continue_on_error: bool = False,
    group: str | None = None,
    shard: str | None = None,
    progress: Callable[[TargetResult, int, int], None] | None = None,
    total: int | None = None,
    finished: int = 0,
) -> FanOutReport:
    """Run ``fn`` (the API function of ``verb``) on every target, ``parallel`` processes at a time.
    ``total``/``finished``: the rollout's size and the targets already answered without a run (the
    progress lines count them)."""
    started = time.perf_counter()
    canaries: list[TargetRef] = []
    if canary:
        if canary.isdigit():
            canaries = refs[:int(canary)]
        else:
            canaries = [r for r in refs if r.name == canary]
            if not canaries:
                from dbops.errors import ConfigError

                raise ConfigError(f"--canary {canary!r} is not one of the selected targets.")
    rest = [r for r in refs if r not in canaries]
    results: dict[str, TargetResult] = {}
    ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    pool = ProcessPoolExecutor(max_workers=max(1, parallel), mp_context=ctx)
    try:
        # canaries first: any failure there stops everything, even with --continue-on-error
        for batch, stop_on_failure in ((canaries, True), (rest, not continue_on_error)):
            if not batch:
                continue
            queue = list(batch)
            running: dict[Future[TargetResult], tuple[TargetRef, float]] = {}
            stopped = False
            while queue or running:
                while queue and len(running) < parallel and not stopped:
                    ref = queue.pop(0)
                    running[pool.submit(run_target, verb, fn, ref, kwargs)] = (ref, time.perf_counter())
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = False
                while done:
                    for future in done:
                        ref, began = running.pop(future)
                        try:
                            result = future.result()
                        except BrokenProcessPool:  # a worker died (killed, out of memory, a crash in a driver)
                            broken = True
                            result = _died(verb, ref, began)
                        results[result.target] = result
                        if progress is not None:
                            progress(result, finished + len(results), total or len(refs))
                        if result.outcome == "failed" and stop_on_failure:
                            stopped = True  # let running targets finish, start no new one
                    # the pool dies with a worker: settle its other in-flight targets (done, or stopped with
                    # it), then go on with a new pool
                    done = wait(running)[0] if broken and running else set()
                if broken:
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = ProcessPoolExecutor(max_workers=max(1, parallel), mp_context=ctx)
            if stopped or any(results[r.name].outcome == "failed" for r in canaries if r.name in results):
                break
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    ordered = tuple(results.get(r.name) or TargetResult(target=r.name, outcome="skipped",
                                                           summary="not run: an earlier failure stopped the rollout")
                    for r in refs)
    ordered, shared = _shared_items(ordered) if verb == "check-drift" else (ordered, ())
    return FanOutReport(command=verb, group=group, parallel=parallel, shard=shard, targets=ordered,
                        duration_ms=round((time.perf_counter() - started) * 1000, 1), shared_items=shared)


def _shared_items(results: tuple[TargetResult, ...]) -> tuple[tuple[TargetResult, ...], tuple[Any, ...]]:
    """Items every checked target reported alike in a named schema (objects of a schema the tenants
    share): taken out of each target and returned once."""
    from dataclasses import replace

    checked = [r for r in results if r.items is not None]
    if len(checked) < 2:
        return results, ()

    def key(item: Any) -> tuple[Any, ...]:
        return (item.verdict, item.kind, item.change, item.schema, item.table, item.name, item.detail)

    common = set.intersection(*({key(i) for i in r.items or () if i.schema} for r in checked))
    if not common:
        return results, ()
    shared = tuple(i for i in checked[0].items or () if key(i) in common)
    out = tuple(replace(r, items=tuple(i for i in r.items if key(i) not in common)) if r.items is not None else r
                for r in results)
    return out, shared
