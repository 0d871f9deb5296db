"""pool: the app's own SQLAlchemy pools, read from its snapshot endpoint."""
from __future__ import annotations

import os
import sys

import click


@click.command()
@click.option("--url", required=True, metavar="URL", help="The app's snapshot endpoint, e.g. "
              "http://127.0.0.1:8000/_dbops/pool")
@click.option("--token", envvar="DBOPS_POOL_TOKEN", help="Bearer token, if the endpoint requires one.")
@click.option("--database-url", metavar="URL", help="Join held connections with pg_stat_activity on this database.")
@click.option("--samples", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many snapshots to take of the endpoint.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True,
              help="Seconds between two snapshots.")
@click.option("--stuck-after", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Saturated with no check-in for this long (or a connection held this long) = stuck.")
@click.option("--target", metavar="NAME", help="Join on this target's database (its url in the dbops configuration).")
@click.option("--config", "config_path", metavar="PATH",
              help="dbops.toml, pyproject.toml or alembic.ini whose url the join uses (default: searched upward "
                   "when --target is given).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("-v", "--verbose", count=True, help="Tracebacks of unexpected errors.")
@click.option("-q", "--quiet", is_flag=True, help="No notices on stderr.")
def pool(url: str, token: str | None, database_url: str | None, samples: int, interval: float,
         stuck_after: float, target: str | None, config_path: str | None, fmt: str, verbose: int,
         quiet: bool) -> None:
    """Is the app's pool too small, leaking, or stuck behind a lock? (Nagios exit codes)

    Samples the endpoint, then: OK; WARN when a pool is saturated but connections come back
    (busy) or checkouts timed out; CRIT when it is saturated and nothing came back (stuck).
    With --database-url (else DATABASE_URL, else --target / --config: the url in the dbops
    configuration), each held connection is joined to its server session by backend pid.

    \b
    Example:
      dbops pool --url http://127.0.0.1:8000/_dbops/pool --database-url postgresql://monitor@db/app
      dbops pool --url http://127.0.0.1:8000/_dbops/pool --target eu
    """
    from dbops import command
    from dbops.errors import DbopsError
    from dbops.render import notice, render, render_error

    try:
        join = database_url or os.environ.get("DATABASE_URL")
        if join is None and (target or config_path):
            from dbops.config import load_config

            config = load_config(config_path=config_path, target=target)
            if not config.uses_default_database:  # never the embedded SQLite file
                join = config.url
                if not quiet:
                    notice(f"joining held connections with {config.masked_url} ({config.url_source})", sys.stderr)
        report = command.pool(url, token=token, database_url=join, samples=samples, interval=interval,
                              stuck_after=stuck_after)
    except DbopsError as exc:
        sys.stdout.write(f"UNKNOWN: {exc.message}\n" if fmt == "table" else "")
        if fmt == "json":
            render(None, "json", sys.stdout, error=exc)
        render_error(exc, sys.stderr, verbose=verbose)
        from dbops.reports.probe import NAGIOS

        sys.exit(NAGIOS["UNKNOWN"])
    render(report, fmt, sys.stdout)
    sys.exit(report.exit_code)
