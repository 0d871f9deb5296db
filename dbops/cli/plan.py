"""`dbops plan`: what the pending revisions will do to the live database, before they run."""
from __future__ import annotations

import click

from dbops.cli.execute import execute
from dbops.cli.options import CommonOptions, common_options, revision_argument


def _thresholds(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from dbops.plan.build import parse_thresholds

    try:
        parse_thresholds(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return values


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("revision", required=False, callback=revision_argument)
@click.option("--fail-on", "fail_on", multiple=True, callback=_thresholds, metavar="THRESHOLD",
              help="Exit 3 when a pending statement crosses it: access-exclusive-rows=N, rewrite-mb=N, "
              "seconds=N, blockers. Repeat or comma-separate.")
@click.option("--no-calibrate", is_flag=True, help="Skip the ~1 s throughput sample; durations then use "
              "fixed, deliberately slow figures.")
@common_options(env_args=True)
def plan(opts: CommonOptions, revision: str | None, fail_on: tuple[str, ...], no_calibrate: bool) -> None:
    """Show what upgrading to REVISION (default: head) would do to the live PostgreSQL database.

    For every statement the pending revisions will run (the SQL of `dbops upgrade --sql`): the table
    lock it takes and what that lock blocks, whether it rewrites, scans or indexes the table, the
    table's live size and rows, the sessions that hold or wait for a lock it would queue behind, and
    an estimated duration from this server's measured throughput. Nothing is written.

    \b
    Example:
      dbops plan
      dbops plan --fail-on access-exclusive-rows=100000 --fail-on blockers   # CI gate, exit 3
      dbops plan +1 --format json
    """
    from dbops import command

    execute(opts, lambda config: command.plan(config, revision or config.head_revision, calibrate=not no_calibrate,
                                              fail_on=fail_on))
