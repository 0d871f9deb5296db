"""probe: server health for on-call engineers (Nagios exit codes)."""
from __future__ import annotations

import sys
from typing import Any

import click

from dbops.cli.options import CommonOptions, common_options, fanout_options


@click.command()
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
              help="Override a threshold, e.g. idle_in_transaction_warn_s=30 (repeatable; see --format json).")
@click.option("--show-queries", is_flag=True, help="Include other sessions' SQL text (off by default).")
@click.option("--watch", type=click.FloatRange(min=0.5), metavar="SECONDS",
              help="Refresh every SECONDS with rates (commits/s, rollbacks/s) until Ctrl-C.")
@click.option("--statement-timeout", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="Each probe query's limit, seconds.")
@click.option("--pgbouncer", metavar="URL", help="Also read PgBouncer's admin console, e.g. "
              "postgresql://pgbouncer@127.0.0.1:6432/pgbouncer (waiting clients, maxwait, server use).")
@fanout_options
@common_options()
def probe(opts: CommonOptions, thresholds: tuple[str, ...], show_queries: bool, watch: float | None,
          statement_timeout: float, pgbouncer: str | None, fanout: dict[str, Any] | None) -> None:
    """Server health, worst thing first: blocking trees, idle-in-transaction, headroom.

    Exit codes follow Nagios: 0 OK, 1 WARN, 2 CRIT (also: cannot connect), 3 UNKNOWN.
    The probe's session is named dbops-probe, uses a short statement_timeout, excludes itself,
    and shows no other session's SQL unless --show-queries.

    \b
    Example:
      dbops probe --database-url postgresql://monitor@db/app
      dbops probe --format json --threshold idle_in_transaction_warn_s=30
      dbops probe --watch 2
    """
    import time

    from dbops import command

    # one set of arguments for both paths: an option can never reach one path and not the other
    kwargs: dict[str, Any] = {"thresholds": thresholds, "show_queries": show_queries,
                              "statement_timeout": statement_timeout, "pgbouncer": pgbouncer}
    if fanout:  # one line per target; exit 0 all OK, 3 some WARN/CRIT, 1 some unreachable
        if watch:
            raise click.UsageError("--watch redraws one server's screen; it cannot be combined with --all/--group. "
                                   "Watch one target with: dbops probe --target NAME --watch 2")
        from dbops.cli.execute import execute_fanout

        execute_fanout(opts, "probe", fanout, **kwargs)
    from dbops.config import load_config
    from dbops.errors import ConnectionFailed, DbopsError
    from dbops.render import render, render_error
    from dbops.reports.probe import NAGIOS

    def once(previous: Any = None) -> tuple[Any, Any]:
        config = load_config(config_path=opts.config_path, database_url=opts.database_url, target=opts.target)
        return command.probe(config, previous=previous, **kwargs)

    code = NAGIOS["UNKNOWN"]
    try:
        report, sample = once()
        render(report, opts.fmt, sys.stdout)
        code = report.exit_code
        while watch:
            time.sleep(watch)
            report, sample = once(sample)
            if opts.fmt == "table" and sys.stdout.isatty():
                sys.stdout.write("\033[2J\033[H")
            render(report, opts.fmt, sys.stdout)
            code = report.exit_code
    except KeyboardInterrupt:
        pass
    except ConnectionFailed as exc:
        sys.stdout.write(f"CRIT: cannot connect: {exc.message}\n" if opts.fmt == "table" else "")
        if opts.fmt == "json":
            render(None, "json", sys.stdout, error=exc)
        render_error(exc, sys.stderr, verbose=opts.verbose)
        code = NAGIOS["CRIT"]
    except DbopsError as exc:
        render_error(exc, sys.stderr, verbose=opts.verbose)
        code = NAGIOS["UNKNOWN"]
    except Exception as exc:  # a probe query failed (timeout, permissions): UNKNOWN, one paragraph
        from dbops.redact import redact

        text = redact(str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else "")
        sys.stdout.write(f"UNKNOWN: the probe could not read the server: {type(exc).__name__}: {text}\n")
        if opts.verbose:
            import traceback

            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        code = NAGIOS["UNKNOWN"]
    sys.exit(code)
