"""Human rendering of each report type, registered by its class name (so a report family is
imported only when a command returns one of its reports). This module holds the plain-table machinery
and the migration verbs' renderers; table_checks.py the checks' (drift, audit, lint), table_ops.py the
operations' (data-migrate, fan-out, probe, pool), loaded when a report of theirs is first drawn.

One-line results are written directly; rich is imported only when a table is drawn,
which keeps the common no-op ``dbops upgrade`` ~40 ms faster.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from dbops.redact import redact

if TYPE_CHECKING:
    from rich.table import Table

    from dbops.reports import (
        CurrentReport,
        HeadsReport,
        HistoryReport,
        InitReport,
        MigrationReport,
        RevisionInfo,
        RevisionReport,
    )


class Grid:
    """A plain table (columns, rows of strings). Drawn by rich on a terminal (wrapping to its width);
    in pipes, CI logs and files as aligned text without rich: the same layout, and ~10x cheaper for
    a 450-revision upgrade."""

    def __init__(self, *columns: str) -> None:
        self.columns = columns
        self.rows: list[tuple[str, ...]] = []

    def add_row(self, *cells: str) -> None:
        self.rows.append(tuple(cells))

    def right(self, index: int) -> bool:
        return self.columns[index] == "duration"

    def plain(self) -> str:
        widths = [max([len(c)] + [len(r[i]) for r in self.rows]) for i, c in enumerate(self.columns)]
        lines = []
        for row in (self.columns, *self.rows):
            cells = [cell.rjust(widths[i]) if self.right(i) else cell.ljust(widths[i]) for i, cell in enumerate(row)]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines) + "\n"

    def rich(self) -> Table:
        from rich.table import Table
        from rich.text import Text  # cells are data, never console markup

        table = Table(show_edge=False, box=None, pad_edge=False)
        for i, column in enumerate(self.columns):
            table.add_column(column, justify="right" if self.right(i) else "left")
        for row in self.rows:
            table.add_row(*(Text(cell) for cell in row))
        return table


class Out:
    """Where a renderer writes: plain lines, or a table (rich on a terminal, imported on first use)."""

    def __init__(self, file: TextIO) -> None:
        self.file = file

    def line(self, text: str) -> None:
        self.file.write(redact(text) + "\n")

    def write(self, text: str) -> None:
        self.file.write(redact(text))

    def table(self, table: Grid) -> None:
        if not self.file.isatty():
            self.write(table.plain())
            return
        import io

        from rich.console import Console

        buffer = io.StringIO()
        Console(file=buffer, highlight=False, emoji=False, color_system=None).print(table.rich())
        self.write("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n")


def new_table(*columns: str) -> Grid:
    return Grid(*columns)


_RENDERERS: dict[str, Callable[[Any, Out], None]] = {}


def renders(kind: str) -> Callable[[Callable[[Any, Out], None]], Callable[[Any, Out], None]]:
    def register(fn: Callable[[Any, Out], None]) -> Callable[[Any, Out], None]:
        _RENDERERS[kind] = fn
        return fn

    return register


def render_table(report: Any, out: TextIO) -> None:
    kind = type(report).__name__
    if kind not in _RENDERERS:  # the other families register themselves on import
        import dbops.render.table_checks  # noqa: F401
        import dbops.render.table_ops  # noqa: F401
    _RENDERERS[kind](report, Out(out))


def _revs(revs: tuple[str, ...] | None) -> str:
    return ", ".join(revs) if revs else "base"


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


@renders("MigrationReport")
def _migration(r: MigrationReport, console: Out) -> None:
    if r.sql is not None:
        console.write(r.sql)
        if not r.sql.strip():
            console.line(f"-- nothing to do: the database is already at {_revs(r.from_revisions)}")
        return
    if r.command == "stamp":
        console.line(f"Stamped {r.database}: {_revs(r.from_revisions)} -> {_revs(r.to_revisions)} "
                       "(no migrations run)")
        return
    if not r.steps and tuple(r.from_revisions) != tuple(r.to_revisions):
        console.line(f"{r.database}: the version table moved from {_revs(r.from_revisions)} to "
                     f"{_revs(r.to_revisions)}, but no revision step was observed (the project's env.py ran "
                     "them some other way).")
        return
    if not r.steps:
        console.line(f"Nothing to do: {r.database} is already at {_revs(r.to_revisions)}.")
        return
    verb = "Upgraded" if r.command == "upgrade" else "Downgraded"
    n = len(r.steps)
    console.line(f"{verb} {r.database}: {_revs(r.from_revisions)} -> {_revs(r.to_revisions)} "
                   f"({n} revision{'s' if n != 1 else ''} in {_ms(r.duration_ms)})")
    schemas = any(step.schema for step in r.steps)
    table = new_table(*(("schema",) if schemas else ()), "revision", "message", "duration")
    for step in r.steps:
        table.add_row(*((step.schema or "",) if schemas else ()), step.revision, step.message or "",
                      _ms(step.duration_ms))
    console.table(table)


def _revision_table(rows: tuple[RevisionInfo, ...], current: tuple[str, ...] | None = None) -> Grid:
    table = new_table("revision", "down", "message", "")
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


@renders("CurrentReport")
def _current(r: CurrentReport, console: Out) -> None:
    state = "at head" if r.at_head else f"{len(r.pending)} pending"
    console.line(f"{r.database}")
    console.line(f"current: {_revs(r.current)}   head: {_revs(r.heads)}   ({state})")
    if r.pending:
        console.line("pending:")
        console.table(_revision_table(r.pending))


@renders("HeadsReport")
def _heads(r: HeadsReport, console: Out) -> None:
    console.table(_revision_table(r.heads))


@renders("HistoryReport")
def _history(r: HistoryReport, console: Out) -> None:
    if not r.revisions:
        console.line("No revisions yet. Create one with: dbops revision --autogenerate -m 'initial'")
        return
    console.table(_revision_table(r.revisions, r.current))
    for group in r.squashed:
        console.line("")
        when = group.squashed_at.replace("T", " ").removesuffix("Z")
        console.line(f"Squashed into baseline {group.baseline} on {when} ({len(group.revisions)} "
                     f"revision(s); files and squash.json in {group.archive}):")
        console.table(_revision_table(group.revisions, None))


@renders("RevisionReport")
def _revision(r: RevisionReport, console: Out) -> None:
    if r.revision is None:
        console.line("No revision file was written: the project's env.py (its process_revision_directives) "
                     "dropped it, which such hooks do when autogenerate found no change.")
        return
    if r.command == "merge":
        console.line(f"Created merge revision {r.revision} of {', '.join(r.down_revisions)} -> {r.path}")
        return
    console.line(f"Created revision {r.revision} ({r.message}) -> {r.path}")
    if r.autogenerate:
        if r.changes:
            console.line(f"Detected {len(r.changes)} change(s); review the file before applying:")
            for change in r.changes:
                console.line(f"  {change}")
        else:
            console.line("No changes detected between the models and the database: the revision is empty.")


@renders("InitReport")
def _init(r: InitReport, console: Out) -> None:
    if r.found:
        console.line(f"Found an existing Alembic project in {r.directory}:")
        for fact in r.found:
            console.line(f"  {fact}")
    console.line(f"Created in {r.directory}:")
    for path in r.created:
        console.line(f"  {path}")
    if r.next_steps:
        console.line("Next:")
    for step in r.next_steps:
        console.line(f"  {step}")
