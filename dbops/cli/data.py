"""data-migrate: batched, resumable data migrations."""
from __future__ import annotations

from typing import Any

import click

from dbops.cli.execute import execute, execute_fanout
from dbops.cli.options import CommonOptions, common_options, fanout_options


@click.command("data-migrate")
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True, help="Show every data migration with status and progress.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Fixed rows per batch (default: adaptive).")
@click.option("--batch-seconds", type=click.FloatRange(min=0.01), default=0.5, show_default=True,
              help="Adaptive batches aim at this many seconds each.")
@click.option("--max-rows-per-second", type=click.FloatRange(min=1), help="Throttle.")
@click.option("--pause", type=click.FloatRange(min=0), default=0.0, help="Sleep between batches (seconds).")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Per-batch lock timeout (PostgreSQL; default lock_timeout from the config, 5; 0 = none); a batch "
              "that hits it is retried with backoff.")
@click.option("--dry-run", is_flag=True, help="Count rows that would change, time one batch, write nothing.")
@click.option("--reset", is_flag=True, help="Forget the checkpoint and start from the first row.")
@fanout_options
@common_options()
def data_migrate(opts: CommonOptions, name: str | None, list_: bool, batch_size: int | None,
                 batch_seconds: float, max_rows_per_second: float | None, pause: float, lock_timeout: float | None,
                 dry_run: bool, reset: bool, fanout: dict[str, Any] | None) -> None:
    """Run a data migration (or all unfinished ones) in resumable batches.

    Each batch commits together with its checkpoint, so a crash or kill -9 resumes exactly
    after the last committed batch. Ctrl-C stops after the current batch (exit 130); run
    again to resume. One runner per migration at a time.

    \b
    Example:
      dbops data-migrate --list
      dbops data-migrate orders_total_backfill --dry-run
      dbops data-migrate orders_total_backfill --max-rows-per-second 20000
    """
    import signal

    from dbops import command
    from dbops.errors import Interrupted

    # one set of arguments for both paths: an option can never reach one path and not the other
    from dbops.options import BatchPolicy
    from dbops.render.progress import ProgressPrinter

    policy = BatchPolicy(batch_size=batch_size, batch_seconds=batch_seconds, max_rows_per_second=max_rows_per_second,
                         pause=pause, lock_timeout=lock_timeout)
    kwargs: dict[str, Any] = {"name": name, "policy": policy, "dry_run": dry_run, "reset": reset}
    if fanout:
        if list_:
            execute_fanout(opts, "data-migrate-list", fanout)
        execute_fanout(opts, "data-migrate", fanout, **kwargs)
    stop = {"requested": False}

    def first_interrupt(signum: int, frame: object) -> None:
        stop["requested"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once

    def action(config):  # type: ignore[no-untyped-def]
        if list_:
            return command.list_data_migrations(config)
        previous = signal.signal(signal.SIGINT, first_interrupt), signal.signal(signal.SIGTERM, first_interrupt)
        try:
            with ProgressPrinter(enabled=opts.fmt == "table" and not opts.quiet) as printer:
                report = command.data_migrate(config, **kwargs, progress=printer,
                                              should_stop=lambda: stop["requested"])
        finally:
            signal.signal(signal.SIGINT, previous[0])
            signal.signal(signal.SIGTERM, previous[1])
        if report.interrupted:
            paused = next(r for r in report.runs if r.status == "paused")
            raise Interrupted(
                f"Stopped after the current batch: {paused.name} is paused with {paused.rows_done:,} row(s) "
                f"changed; the checkpoint is saved at key {paused.last_key}.",
                hint=f"Resume with: dbops data-migrate {paused.name}", report=report)
        return report

    execute(opts, action)
