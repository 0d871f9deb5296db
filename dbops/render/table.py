"""Human (rich) rendering of each report type, registered by type."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from dbops.redact import redact
from dbops.reports import (
    CurrentReport,
    HeadsReport,
    HistoryReport,
    InitReport,
    MigrationReport,
    RevisionInfo,
    RevisionReport,
)

_RENDERERS: dict[type, Callable[[Any, Console], None]] = {}


def renders(kind: type) -> Callable[[Callable[[Any, Console], None]], Callable[[Any, Console], None]]:
    def register(fn: Callable[[Any, Console], None]) -> Callable[[Any, Console], None]:
        _RENDERERS[kind] = fn
        return fn

    return register


def render_table(report: Any, out: TextIO) -> None:
    console = Console(file=out, highlight=False, soft_wrap=True, emoji=False)
    _RENDERERS[type(report)](report, console)


def _revs(revs: tuple[str, ...] | None) -> str:
    return ", ".join(revs) if revs else "base"


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def _line(console: Console, text: str) -> None:
    console.print(redact(text), markup=False)


@renders(MigrationReport)
def _migration(r: MigrationReport, console: Console) -> None:
    if r.sql is not None:
        console.file.write(redact(r.sql))
        if not r.sql.strip():
            _line(console, f"-- nothing to do: the database is already at {_revs(r.from_revisions)}")
        return
    if r.command == "stamp":
        _line(console, f"Stamped {r.database}: {_revs(r.from_revisions)} -> {_revs(r.to_revisions)} "
                       "(no migrations run)")
        return
    if not r.steps:
        _line(console, f"Nothing to do: {r.database} is already at {_revs(r.to_revisions)}.")
        return
    verb = "Upgraded" if r.command == "upgrade" else "Downgraded"
    n = len(r.steps)
    _line(console, f"{verb} {r.database}: {_revs(r.from_revisions)} -> {_revs(r.to_revisions)} "
                   f"({n} revision{'s' if n != 1 else ''} in {_ms(r.duration_ms)})")
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("revision")
    table.add_column("message")
    table.add_column("duration", justify="right")
    for step in r.steps:
        table.add_row(step.revision, step.message or "", _ms(step.duration_ms))
    console.print(table)


def _revision_table(rows: tuple[RevisionInfo, ...], current: tuple[str, ...] | None = None) -> Table:
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("revision")
    table.add_column("down")
    table.add_column("message")
    table.add_column("")
    for info in rows:
        marks = []
        if info.is_head:
            marks.append("head")
        if info.is_merge:
            marks.append("merge")
        if current is not None and info.revision in current:
            marks.append("current")
        table.add_row(info.revision, _revs(info.down_revisions), info.message or "", ", ".join(marks))
    return table


@renders(CurrentReport)
def _current(r: CurrentReport, console: Console) -> None:
    state = "at head" if r.at_head else f"{len(r.pending)} pending"
    _line(console, f"{r.database}")
    _line(console, f"current: {_revs(r.current)}   head: {_revs(r.heads)}   ({state})")
    if r.pending:
        _line(console, "pending:")
        console.print(_revision_table(r.pending))


@renders(HeadsReport)
def _heads(r: HeadsReport, console: Console) -> None:
    console.print(_revision_table(r.heads))


@renders(HistoryReport)
def _history(r: HistoryReport, console: Console) -> None:
    if not r.revisions:
        _line(console, "No revisions yet. Create one with: dbops revision --autogenerate -m 'initial'")
        return
    console.print(_revision_table(r.revisions, r.current))


@renders(RevisionReport)
def _revision(r: RevisionReport, console: Console) -> None:
    _line(console, f"Created revision {r.revision} ({r.message}) -> {r.path}")
    if r.autogenerate:
        if r.changes:
            _line(console, f"Detected {len(r.changes)} change(s); review the file before applying:")
            for change in r.changes:
                _line(console, f"  {change}")
        else:
            _line(console, "No changes detected between the models and the database: the revision is empty.")


@renders(InitReport)
def _init(r: InitReport, console: Console) -> None:
    _line(console, f"Created in {r.directory}:")
    for path in r.created:
        _line(console, f"  {path}")
    _line(console, "Next:")
    for step in r.next_steps:
        _line(console, f"  {step}")
