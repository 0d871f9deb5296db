"""The only code that writes output. Results go to stdout; notices, progress, logs and
errors go to stderr. Every string passes through :func:`dbops.redact.redact`."""
from __future__ import annotations

from typing import Any, TextIO

from dbops.render.errors import render_error
from dbops.render.json import render_json
from dbops.render.table import render_table

__all__ = ["render", "render_error", "notice"]


def render(report: Any, fmt: str, out: TextIO, *, error: Any = None) -> None:
    if fmt == "json":
        render_json(report, out, error=error)
    elif fmt == "github":
        from dbops.render.github import render_github

        render_github(report, out, error=error)
    elif fmt == "prometheus":
        from dbops.render.prometheus import render_prometheus

        render_prometheus(report, out, error=error)
    elif report is not None:
        render_table(report, out)


def notice(message: str, err: TextIO) -> None:
    from dbops.redact import redact

    err.write(redact(message) + "\n")
    err.flush()
