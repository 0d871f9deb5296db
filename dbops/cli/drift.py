"""check-drift: the CI gate."""
from __future__ import annotations

from typing import Any

import click

from dbops.cli.execute import execute, execute_fanout
from dbops.cli.options import CommonOptions, common_options, fanout_options


def _valid_ignores(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from dbops.drift.kinds import KINDS, unknown_kind

    for value in values:
        kind = unknown_kind(value)
        if kind is not None:
            raise click.BadParameter(f"unknown kind {kind!r} in {value!r}; kinds: {', '.join(KINDS)} "
                                     "(or a bare GLOB for any kind)")
    return values


@click.command("check-drift")
@click.option("--against", type=click.Choice(["migrations", "database", "both"]),
              help="migrations: models vs a scratch replay; database: models vs live; both (default with a "
                   "database): three-way with verdicts.")
@click.option("--ignore", "ignore", multiple=True, metavar="KIND:GLOB", callback=_valid_ignores,
              help="Skip objects, e.g. index:ix_*_gin or table:celery_* (repeatable; adds to config). KIND is one "
                   "of table, column, type, nullable, default, comment, primary_key, unique, foreign_key, index, "
                   "check, enum, sequence, function, trigger, view, materialized_view; a bare GLOB matches any kind.")
@click.option("--scratch-url", metavar="URL",
              help="Server to create the scratch database on (default: the database's own server).")
@click.option("--no-cache", is_flag=True, help="Replay the whole chain, not from a cached template database "
              "(PostgreSQL keeps the last replays as dbops_cache_* databases; an edited revision never matches).")
@click.option("--record", is_flag=True, help="Store this run's differences in dbops_drift_runs on the database; "
              "see when each appeared and went away with: dbops drift log.")
@click.option("--notify", metavar="URL", help="POST a JSON summary to this webhook when the differences changed "
              "since the last recorded run (implies --record); exit 1 if it does not answer 2xx.")
@fanout_options
@common_options(metadata=True, formats=("table", "json", "github", "prometheus"), env_args=True)
def check_drift(opts: CommonOptions, against: str | None, ignore: tuple[str, ...], scratch_url: str | None,
                no_cache: bool, record: bool, notify: str | None, fanout: dict[str, Any] | None) -> None:
    """Compare models, migrations and the live database; exit 3 on drift.

    Each difference gets a verdict: missing_migration (models differ from the replayed
    migrations), out_of_band (the live database differs from what its own revision builds),
    pending_migration (the database is behind; not a failure), or drift (two-way models vs
    database). The scratch database is always dropped. On a schedule, --record keeps each
    run's result in the database and --notify posts to a webhook when it changes;
    --format prometheus prints the counts for node_exporter's textfile collector.

    \b
    Example:
      dbops check-drift                                  # three-way on the configured DB
      dbops check-drift --against migrations             # no live DB needed
      dbops check-drift --format github --ignore 'index:ix_*_gin'
      dbops check-drift --format json | jq '.items[] | select(.verdict=="out_of_band")'
      dbops check-drift --record --notify "$SLACK_WEBHOOK_URL"   # nightly job
      dbops check-drift --format prometheus > /var/lib/node_exporter/dbops.prom.tmp
    """
    from dbops import command

    # the models' file and line: for annotations (github) and JSON consumers; the table does not show them
    kwargs: dict[str, Any] = {"against": against, "ignore": ignore, "scratch_url": scratch_url,
                              "locate": opts.fmt not in ("table", "prometheus"), "cache": not no_cache,
                              "suggest": opts.fmt not in ("table", "prometheus"),
                              "record": record, "notify": notify}
    if fanout:
        execute_fanout(opts, "check-drift", fanout, **kwargs)
    # with no database configured check-drift compares the models with a replay only: the embedded
    # SQLite default is not looked at, so it is not announced
    execute(opts, lambda config: command.check_drift(config, **kwargs),
            announce_default=against in ("database", "both"))


@click.group("drift")
def drift() -> None:
    """Drift recorded over time (check-drift --record)."""


@drift.command("log")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Newest runs to read.")
@common_options()
def drift_log(opts: CommonOptions, limit: int) -> None:
    """When each difference first appeared, was last seen, and went away.

    Reads the runs `dbops check-drift --record` stored in dbops_drift_runs on the database
    (a tenant's in its schema). Writes nothing.

    \b
    Example:
      dbops drift log
      dbops drift log --limit 500 --format json | jq '.differences[] | select(.resolved_at == null)'
    """
    from dbops import command

    execute(opts, lambda config: command.drift_log(config, limit=limit))
