"""GitHub Actions workflow commands (annotations) for check reports."""
from __future__ import annotations

import os
from typing import Any, TextIO

from dbops.redact import redact
from dbops.render.markdown import relative


def _escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(report: Any, out: TextIO, *, error: Any = None) -> None:
    for finding in getattr(report, "findings", ()) if report is not None else ():
        path = relative(finding.path)
        title = _escape(f"dbops {finding.rule}", prop=True)
        where = f"file={_escape(path, prop=True)},line={finding.line},title={title}"
        level = "warning" if getattr(finding, "severity", "error") == "warning" else "error"
        out.write(redact(f"::{level} {where}::{_escape(f'{finding.message}. {finding.rationale}')}") + "\n")
    items = getattr(report, "items", ()) if report is not None else ()
    for item in items:
        level = "notice" if item.verdict == "pending_migration" else \
            "warning" if getattr(item, "severity", "error") == "warning" else "error"
        props = []
        if item.file:
            path = relative(item.file)
            props.append(f"file={_escape(path, prop=True)}")
            if item.line:
                props.append(f"line={item.line}")
        props.append(f"title={_escape(f'dbops {item.verdict}: {item.kind}', prop=True)}")
        out.write(redact(f"::{level} {','.join(props)}::{_escape(item.detail)}") + "\n")
    if error is not None and not items and not getattr(report, "findings", None):  # else they say it
        out.write(redact(f"::error title=dbops::{_escape(error.message)}") + "\n")
    if report is not None and getattr(report, "clean", False):
        out.write(f"dbops {report.command}: clean\n")
    elif report is not None and not hasattr(report, "findings") and not items:
        from dbops.render.table import render_table  # no annotations to make: the log shows the result

        render_table(report, out)
    out.flush()
    _job_summary(report, error)


def _job_summary(report: Any, error: Any) -> None:
    """Inside GitHub Actions: the result as Markdown on the job's summary page, and what a later step
    branches on as step outputs (``clean``, ``count``)."""
    from dbops.render.markdown import count, render_markdown

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as page:
            page.write(render_markdown(report, error=error) + "\n")
    outputs = os.environ.get("GITHUB_OUTPUT")
    if outputs:
        with open(outputs, "a", encoding="utf-8") as step:
            step.write(f"clean={'true' if error is None else 'false'}\ncount={count(report)}\n")
