"""`dbops squash`: collapse a long revision chain into one baseline, proved catalog-equal."""
from __future__ import annotations

import click

from dbops.cli.execute import execute
from dbops.cli.options import CommonOptions, common_options


@click.command()
@click.option("--up-to", "up_to", metavar="REV", help="Squash base..REV (default: the single head). The baseline "
              "keeps REV's id, so databases at REV or later continue without a stamp.")
@click.option("-m", "--message", metavar="MSG", help="The baseline's message (default: 'baseline: N revisions "
              "squashed').")
@click.option("--archive", metavar="DIR", help="Where the squashed files and squash.json go (default: "
              "<script_location>/squashed/<REV>/; never inside a version location).")
@click.option("--delete", is_flag=True, help="Delete the squashed files instead of archiving them (squash.json "
              "still lists them; --check then needs --old-chain).")
@click.option("--keep-data", "keep_data", multiple=True, metavar="REV", help="Copy this squashed revision's data "
              "steps (bulk_insert, INSERT/UPDATE, run_data_migration) into the baseline, after the schema. Repeat.")
@click.option("--dry-run", is_flag=True, help="Replay, render and prove, then stop: no file is written.")
@click.option("--check", is_flag=True, help="Re-prove the existing baseline against the archived chain (or "
              "--old-chain): exit 3 naming each difference.")
@click.option("--old-chain", "old_chain", metavar="DIR", help="With --check: a directory holding the old revision "
              "files (e.g. a hand-written baseline's predecessors, checked out from git).")
@click.option("--also-on", "also_on", multiple=True, metavar="URL", help="Another kind of database the project "
              "runs on (e.g. SQLite in development): the baseline also holds its DDL, replayed and proved there. "
              "A URL whose server may create scratch databases, or 'sqlite'. Repeat.")
@click.option("--scratch-url", metavar="URL", help="Server to create the two scratch databases on (default: the "
              "database's own server; SQLite files when no URL is configured).")
@common_options(formats=("table", "json"), env_args=True)
def squash(opts: CommonOptions, up_to: str | None, message: str | None, archive: str | None, delete: bool,
           keep_data: tuple[str, ...], dry_run: bool, check: bool, old_chain: str | None,
           also_on: tuple[str, ...], scratch_url: str | None) -> None:
    """Collapse the revision chain into one baseline revision, with a catalog-exact proof.

    Replays base..REV into a scratch database, renders a baseline from its catalog (tables, columns,
    defaults, identity and sequences, enums and domains, constraints, indexes, comments, extensions,
    schemas, functions, triggers, views, policies, grants), replays the baseline into a second scratch
    database and compares every behaviour-affecting catalog attribute of the two. Only when they are
    equal (and the baseline's downgrade() empties the schema again) does it write: the baseline takes
    REV's file and revision id, the squashed files move to the archive. Exit 3 and nothing written when
    the proof fails. With --also-on, the same for each other kind of database: the baseline holds each
    one's DDL and picks it at run time. Data steps in the squashed revisions (seed rows) are listed;
    --keep-data carries them.
    The configured database is checked: one behind REV must be upgraded with the old chain first.

    \b
    Example:
      dbops squash --dry-run                       # prove only
      dbops squash -m "baseline 2026" --keep-data 3f2a1c0d9e8b
      dbops squash --also-on sqlite                # PostgreSQL in production, SQLite in tests
      dbops squash --check                         # CI: the baseline still builds what the chain built
      dbops squash --check --old-chain old/versions --format json
    """
    from dbops import command

    if old_chain and not check:
        raise click.UsageError("--old-chain is used with --check.")
    execute(opts, lambda config: command.squash(config, up_to, message=message, archive=archive, delete=delete,
                                                keep_data=keep_data, dry_run=dry_run, scratch_url=scratch_url,
                                                check=check, old_chain=old_chain, also_on=also_on))
