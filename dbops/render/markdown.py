"""A report as GitHub-flavoured Markdown, for a job's summary page ($GITHUB_STEP_SUMMARY): drift
items, lint findings, pending revisions with their SQL, verify results, or the error."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from dbops.redact import redact
from dbops.render.table import _revs

_MARKDOWN: dict[str, Callable[[Any], list[str]]] = {}


def _for(*kinds: str) -> Callable[[Callable[[Any], list[str]]], Callable[[Any], list[str]]]:
    def register(fn: Callable[[Any], list[str]]) -> Callable[[Any], list[str]]:
        for kind in kinds:
            _MARKDOWN[kind] = fn
        return fn

    return register


def cell(value: Any) -> str:
    """One table cell: pipes escaped, newlines folded, long text clipped."""
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")
    return text if len(text) <= 300 else text[:297] + "..."


def table(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def relative(path: str) -> str:
    """A file as the repository sees it: GitHub resolves annotation paths from the checkout's root
    ($GITHUB_WORKSPACE), which is not the working directory of a project in a subdirectory."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        return os.path.relpath(os.path.abspath(path), workspace)
    return os.path.relpath(path) if os.path.isabs(path) else path


def _where(path: str | None, line: int | None) -> str:
    if not path:
        return ""
    return f"{relative(path)}:{line}" if line else relative(path)


@_for("DriftReport")
def _drift(r: Any) -> list[str]:
    failing = [i for i in r.items if i.verdict != "pending_migration" and i.severity != "warning"]
    head = f"### dbops check-drift: {'clean' if r.clean else f'{len(failing)} difference(s)'}"
    lines = [head, "", f"{r.database or r.dialect}, against {r.against} (head {_revs(r.head_revisions)})", ""]
    if r.items:
        lines += table(("verdict", "kind", "object", "detail", "model"),
                       [(i.verdict + (" (minor)" if i.severity == "warning" else ""), i.kind, i.object_name, i.detail,
                         _where(i.file, i.line)) for i in r.items])
    if r.upgrade_code and not r.clean:
        lines += ["", "<details><summary>Suggested revision body</summary>", "", "```python", r.upgrade_code,
                  "```", "</details>"]
    return lines


@_for("LintReport")
def _lint(r: Any) -> list[str]:
    lines = [f"### dbops lint: {'clean' if not r.findings else f'{len(r.findings)} finding(s)'}", "",
             f"{len(r.revisions)} revision(s) checked with rules {', '.join(r.rules)}", ""]
    if r.findings:
        lines += table(("rule", "where", "finding", "why"),
                       [(f.rule + (" (warning)" if f.severity == "warning" else ""), f"{relative(f.path)}:{f.line}",
                         f.message, f.rationale) for f in r.findings])
    return lines


@_for("MigrationReport")
def _migration(r: Any) -> list[str]:
    if r.sql is not None:
        lines = [f"### dbops {r.command} --sql: {_revs(r.from_revisions)} → {r.revision}", "",
                 f"{r.database}: the SQL dbops would run (nothing was applied)", ""]
        if r.steps:
            lines += table(("revision", "message"), [(s.revision, s.message) for s in r.steps]) + [""]
        return lines + ["```sql", r.sql.rstrip(), "```"]
    lines = [f"### dbops {r.command}: {_revs(r.from_revisions)} → {_revs(r.to_revisions)}", ""]
    if r.steps:
        lines += table(("revision", "message", "duration"),
                       [(s.revision, s.message, f"{s.duration_ms:.1f} ms") for s in r.steps])
    else:
        lines.append(f"Nothing to do: {r.database} is already at {_revs(r.to_revisions)}.")
    return lines + [f"- warning: {cell(w)}" for w in r.warnings]


@_for("VerifyReport")
def _verify(r: Any) -> list[str]:
    bad = [i for i in r.items if i.status != "ok"]
    bad += list(r.invalid_indexes)
    lines = [f"### dbops verify: {'ok' if not bad else f'{len(bad)} problem(s)'}", "",
             f"{r.database} at {_revs(r.current)}", ""]
    if r.invalid_indexes:
        lines += table(("invalid index", "table", "fix"),
                       [(f"{i.schema}.{i.name}", i.table, i.fix) for i in r.invalid_indexes]) + [""]
    return lines + table(("revision", "status", "file"),
                         [(i.revision, i.status, relative(i.path) if i.path else "") for i in r.items])


@_for("CurrentReport")
def _current(r: Any) -> list[str]:
    state = "at head" if r.at_head else f"behind: {len(r.pending)} pending"
    lines = [f"### dbops current: {_revs(r.current)} ({state})", ""]
    if r.pending:
        lines += table(("pending revision", "message"), [(p.revision, p.message) for p in r.pending])
    return lines


@_for("HeadsReport")
def _heads(r: Any) -> list[str]:
    lines = [f"### dbops heads: {len(r.heads)} head(s)", ""]
    return lines + table(("head", "message"), [(h.revision, h.message) for h in r.heads])


@_for("FanOutReport")
def _fan_out(r: Any) -> list[str]:
    lines = [f"### dbops {r.command}: {len(r.targets)} target(s), {r.count('ok')} ok", ""]
    return lines + table(("target", "outcome", "summary"),
                         [(t.target, t.outcome, t.error or t.summary or "") for t in r.targets])


def render_markdown(report: Any, *, error: Any = None) -> str:
    command = getattr(report, "command", None) or "run"
    lines: list[str] = []
    if report is not None:
        render = _MARKDOWN.get(type(report).__name__)
        lines += render(report) if render is not None else [f"### dbops {command}"]
    if error is not None:
        if report is None:
            lines += ["### dbops: failed"]
        if report is None or error.exit_code != 3:  # a failed check's report already says what it found
            lines += ["", f"**{getattr(error, 'kind', 'error')}**: {error.message}"]
            if getattr(error, "hint", None):
                lines += ["", error.hint]
    return redact("\n".join(lines)) + "\n"


def count(report: Any) -> int:
    """The number a CI step branches on: differences that fail the check, findings, problems."""
    if report is None:
        return 0
    if hasattr(report, "findings"):
        return len(report.findings)
    if type(report).__name__ == "DriftReport":
        return sum(1 for i in report.items if i.verdict != "pending_migration" and i.severity != "warning")
    if type(report).__name__ == "VerifyReport":
        return sum(1 for i in report.items if i.status != "ok") + len(report.invalid_indexes)
    if type(report).__name__ == "CurrentReport":
        return len(report.pending)
    return 0
