"""check-drift: the CI gate."""
from __future__ import annotations

from typing import Any

import click

from dbops.cli.options import CommonOptions, common_options, fanout_options
from dbops.cli.run import execute, execute_fanout


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
@fanout_options
@common_options(metadata=True, formats=("table", "json", "github"), env_args=True)
def check_drift(opts: CommonOptions, against: str | None, ignore: tuple[str, ...], scratch_url: str | None,
                no_cache: bool, fanout: dict[str, Any] | None) -> None:
    """Compare models, migrations and the live database; exit 3 on drift.

    Each difference gets a verdict: missing_migration (models differ from the replayed
    migrations), out_of_band (the live database differs from what its own revision builds),
    pending_migration (the database is behind; not a failure), or drift (two-way models vs
    database). The scratch database is always dropped.

    \b
    Example:
      dbops check-drift                                  # three-way on the configured DB
      dbops check-drift --against migrations             # no live DB needed
      dbops check-drift --format github --ignore 'index:ix_*_gin'
      dbops check-drift --format json | jq '.items[] | select(.verdict=="out_of_band")'
    """
    from dbops import command

    # the models' file and line: for annotations (github) and JSON consumers; the table does not show them
    kwargs: dict[str, Any] = {"against": against, "ignore": ignore, "scratch_url": scratch_url,
                              "locate": opts.fmt != "table", "cache": not no_cache}
    if fanout:
        execute_fanout(opts, "check-drift", fanout, **kwargs)
    # with no database configured check-drift compares the models with a replay only: the embedded
    # SQLite default is not looked at, so it is not announced
    execute(opts, lambda config: command.check_drift(config, **kwargs),
            announce_default=against in ("database", "both"))
