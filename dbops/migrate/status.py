"""current, heads and history: read-only verbs."""
from __future__ import annotations

from typing import Any

from dbops.bridge.project import as_alembic_cli, require_known, revision_message
from dbops.config import Config
from dbops.errors import MULTIPLE_HEADS_HINT, MultipleHeads, NotAtHead
from dbops.migrate.apply import _prepare, read_heads
from dbops.migrate.environment import revision_ids
from dbops.reports import CurrentReport, HeadsReport, HistoryReport, RevisionInfo, SquashedGroup


def revision_info(script: Any, heads: tuple[str, ...] = ()) -> RevisionInfo:
    downs = revision_ids(script.down_revision)
    return RevisionInfo(
        revision=script.revision,
        down_revisions=downs,
        message=revision_message(script),
        is_head=script.revision in heads,
        is_merge=len(downs) > 1,
        branch_labels=tuple(sorted(script.branch_labels or ())),
        path=script.path,
    )


def _target_heads(script: Any, config: Config) -> tuple[tuple[str, ...], set[str]]:
    """The heads this database should be at, and every revision below them: all heads, or for a target
    with ``revision = "reports@head"`` that branch's head only (its other branches live elsewhere)."""
    if config.head_revision in ("head", "heads"):
        heads = tuple(sorted(script.get_heads()))
    else:
        from dbops.errors import RevisionError

        try:
            heads = tuple(sorted(s.revision for s in script.get_revisions(config.head_revision)))
        except Exception as exc:  # noqa: BLE001  Alembic's resolution errors, said as dbops's
            raise RevisionError(
                f"The target's revision {config.head_revision!r} names no revision or branch here "
                f"({str(exc).splitlines()[0]}).", hint="Check revision in the target's settings against: "
                "dbops heads / dbops history") from None
    return heads, {s.revision for s in script.iterate_revisions(heads, "base")} if heads else set()


def current(config: Config, *, check: bool = False) -> CurrentReport:
    acfg, script = _prepare(config)
    as_alembic_cli(acfg, "current")
    on_db = read_heads(acfg, script)
    require_known(script, on_db, config)
    heads, wanted = _target_heads(script, config)
    # every revision that is not the current one or below it: with independent branches (two roots, or
    # one branch upgraded alone with branch@head) iterating from the current revision up missed the
    # other branch's revisions and said "0 pending"
    applied = {s.revision for s in script.iterate_revisions(on_db, "base")} if on_db else set()
    pending_scripts = [s for s in script.walk_revisions() if s.revision not in applied and s.revision in wanted]
    report = CurrentReport(
        command="current",
        database=config.masked_url,
        target=config.target,
        current=on_db,
        heads=heads,
        at_head=set(on_db) == set(heads) if config.head_revision == "head" else set(heads) <= applied,
        pending=tuple(revision_info(s, heads) for s in reversed(pending_scripts)),
    )
    if check and not report.at_head:
        n = len(report.pending)
        raise NotAtHead(
            f"The database is at {', '.join(on_db) or 'base (empty)'}, not at head "
            f"{', '.join(heads)}: {n} revision(s) pending. Usually a deploy ran without its "
            "migrations.",
            hint="Run: dbops upgrade",
            report=report,
        )
    return report


def heads(config: Config, *, check: bool = False) -> HeadsReport:
    _, script = _prepare(config, runs_env=False)
    head_ids = tuple(sorted(script.get_heads()))
    report = HeadsReport(
        command="heads", heads=tuple(revision_info(script.get_revision(h), head_ids) for h in head_ids)
    )
    if check and len(head_ids) > 1:
        raise MultipleHeads(
            f"There are {len(head_ids)} head revisions ({', '.join(head_ids)}); deploys need one. "
            "Usually two branches each added a revision on the same parent.",
            hint=MULTIPLE_HEADS_HINT,
            report=report,
        )
    return report


def history(config: Config, *, indicate_current: bool = False) -> HistoryReport:
    acfg, script = _prepare(config, runs_env=indicate_current)
    as_alembic_cli(acfg, "history", indicate_current=indicate_current)
    head_ids = tuple(script.get_heads())
    revisions = tuple(revision_info(s, head_ids) for s in script.walk_revisions())
    on_db = read_heads(acfg, script) if indicate_current else None
    return HistoryReport(command="history", revisions=revisions, current=on_db, squashed=_squashed(config))


def _squashed(config: Config) -> tuple[SquashedGroup, ...]:
    """The revisions `dbops squash` archived, newest squash first (their files are not in the chain)."""
    from dbops.bridge.squashed import archives

    groups = []
    for archive in reversed(archives(config.script_location)):
        revisions = tuple(RevisionInfo(revision=r.revision, down_revisions=r.down_revisions, message=r.message,
                                       path=str(archive.directory / r.file) if archive.files_kept else None)
                          for r in reversed(archive.revisions))
        groups.append(SquashedGroup(archive.baseline, str(archive.directory), archive.squashed_at, revisions))
    return tuple(groups)
