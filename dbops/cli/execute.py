"""Run one command: load config, call dbops.command, render, exit with the contract code."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, NoReturn

# formats whose output says a failure too, with no report: JSON (one object with `error`), prometheus
# (check_success 0), github (an annotation and the job summary)
ERROR_FORMATS = ("json", "prometheus", "github")

if TYPE_CHECKING:
    from collections.abc import Callable

    from dbops.cli.options import CommonOptions


def execute(
    opts: CommonOptions, action: Callable[[Any], Any], *, uses_database: bool = True, needs_config: bool = True,
    announce_default: bool = True,
) -> NoReturn:
    """``action(config) -> report``; renders it and exits 0, or renders the error and exits
    with its code (1 failure, 3 check failed, 130 interrupted). ``announce_default``: say when the
    embedded SQLite default is used (not for a command that then does not look at it)."""
    from dbops.render import notice, render, render_error
    from dbops.render.logs import setup_logging

    setup_logging(opts.verbose, quiet=opts.quiet)
    previous_sigterm = _sigterm_as_interrupt()
    code = 0
    try:
        from dbops.config import load_config
        from dbops.errors import DbopsError

        try:
            import contextlib

            # stdout carries dbops's result only: what the project's own code prints while dbops imports
            # its settings, models, env.py or revisions goes to stderr, so --format json always parses
            with contextlib.redirect_stdout(sys.stderr):
                group, _, member = (opts.target or "").partition(":")
                config = load_config(
                    config_path=opts.config_path, database_url=opts.database_url,
                    target=None if member else opts.target, metadata=opts.metadata, needs_database=uses_database,
                ) if needs_config else None
                if config is not None and opts.x:  # -x KEY=VALUE, handed to env.py as alembic -x does
                    from dataclasses import replace

                    config = replace(config, x_arguments=opts.x)
                if config is not None and member:  # --target GROUP:NAME, e.g. one tenant of a group
                    from dbops.targets.expand import group_member

                    config = group_member(config, group, member)
                if uses_database and announce_default and config is not None and config.uses_default_database \
                        and not opts.quiet:
                    notice(f"dbops: no database URL configured; using the embedded SQLite database "
                           f"{config.root / 'dbops.sqlite'} (set DATABASE_URL or --database-url to change).",
                           sys.stderr)
                report = action(config)
            render(report, opts.fmt, sys.stdout)
            for warning in getattr(report, "warnings", ()) if not opts.quiet else ():
                notice(f"dbops: warning: {warning}", sys.stderr)
        except DbopsError as exc:
            code = exc.exit_code
            for warning in getattr(exc, "warnings", ()) if not opts.quiet else ():
                notice(f"dbops: warning: {warning}", sys.stderr)
            if exc.report is not None:
                render(exc.report, opts.fmt, sys.stdout, error=exc)
            elif opts.fmt in ERROR_FORMATS:
                render(None, opts.fmt, sys.stdout, error=exc)
            render_error(exc, sys.stderr, verbose=opts.verbose)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted; the current revision's transaction was rolled back. "
                         "See where the database stands with: dbops current\n")
        code = 130
    except BrokenPipeError:  # `dbops history | head -1`: the reader has what it wanted
        _quiet_broken_pipe()
        code = 0
    except Exception as exc:  # a bug or an unforeseen driver error: still one paragraph
        unexpected = _Unexpected(f"Unexpected {type(exc).__name__}: {exc}. This is probably a dbops bug or an "
                                 "unusual driver error.", "Re-run with -v for the traceback and report it.")
        if opts.fmt in ERROR_FORMATS:  # the promise holds on every path
            from dbops.render import render

            render(None, opts.fmt, sys.stdout, error=unexpected)
        render_error(unexpected, sys.stderr)
        if opts.verbose:
            import traceback

            from dbops.redact import redact

            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        code = 1
    if previous_sigterm is not None:
        import signal

        signal.signal(signal.SIGTERM, previous_sigterm)
    sys.exit(code)


class _Unexpected(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "unexpected", "type": "Unexpected", "message": self.message, "hint": self.hint}


def _quiet_broken_pipe() -> None:
    """stdout's reader went away: point stdout at /dev/null so the interpreter's final flush does not
    print a second BrokenPipeError."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _sigterm_as_interrupt() -> Any:
    """SIGTERM (CI cancel, kill) takes the Ctrl-C path, so cleanup (scratch databases,
    checkpoints) runs in ``finally`` blocks."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (embedded use)
        return None


def execute_fanout(opts: CommonOptions, verb: str, fanout: dict[str, Any], **kwargs: Any) -> NoReturn:
    """Run ``verb`` on every selected target; per-target lines on stderr as they finish."""
    from dbops import command
    from dbops.render.progress import target_progress

    progress = target_progress() if (opts.fmt == "table" and not opts.quiet) else None
    execute(opts, lambda config: command.fan_out(config, verb, progress=progress, **fanout, **kwargs),
            uses_database=False)
