"""Migration commands: upgrade, downgrade, current, heads, history, stamp, revision, init."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from dbops.cli.execute import execute, execute_fanout
from dbops.cli.options import GITHUB, CommonOptions, common_options, fanout_options, revision_argument, safety_options

if TYPE_CHECKING:
    from dbops.options import SafetyOptions


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("revision", required=False, callback=revision_argument)
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it, starting from the "
              "database's real current revision.")
@click.option("--wait", type=click.FloatRange(min=0), metavar="SECONDS",
              help="First wait up to SECONDS for the database to accept connections.")
@click.option("--plan", "plan_only", is_flag=True, help="Show what the upgrade would do to the live PostgreSQL "
              "database (locks, rewrites, sizes, blockers) and run nothing: the same as dbops plan.")
@safety_options(strict=True)
@fanout_options
@common_options(env_args=True, formats=GITHUB)
def upgrade(opts: CommonOptions, revision: str, sql: bool, wait: float | None, plan_only: bool,
            safety: SafetyOptions, fanout: dict[str, Any] | None) -> None:
    """Upgrade the database to REVISION (default: head, or the target's `revision`), timing each revision.

    \b
    Example:
      dbops upgrade
      dbops upgrade --wait 30 --database-url postgresql+asyncpg://app@db/app
      dbops upgrade --sql > pending.sql      # what would run, from the DB's revision
      dbops upgrade --plan                   # its locks, rewrites and blockers on the live database
      dbops upgrade +1 --format json
      dbops upgrade --group tenants --parallel 8 --canary tenant_demo
    """
    from dbops import command

    if plan_only:
        if sql or fanout:
            raise click.UsageError("--plan reads one database and runs nothing; it does not combine with --sql "
                                   "or a fan-out (run dbops plan --target NAME for each target).")
        execute(opts, lambda config: command.plan(config, revision or config.head_revision))
    # one set of arguments for both paths: an option can never reach one path and not the other
    kwargs: dict[str, Any] = {"revision": revision, "sql": sql, "wait": wait, "safety": safety}
    if fanout:
        execute_fanout(opts, "upgrade", fanout, **kwargs)
    execute(opts, lambda config: command.upgrade(config, **kwargs))


# ignore_unknown_options: `dbops downgrade -1` must read -1 as the revision, as in Alembic.
@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("revision", callback=revision_argument)
@safety_options()
@fanout_options
@common_options(env_args=True)
def downgrade(opts: CommonOptions, revision: str, safety: SafetyOptions, fanout: dict[str, Any] | None) -> None:
    """Revert the database to REVISION (an id, -1, or base).

    \b
    Example:
      dbops downgrade -1
      dbops downgrade base --format json
      dbops downgrade -1 --group tenants --canary tenant_demo
    """
    from dbops import command

    kwargs: dict[str, Any] = {"revision": revision, "safety": safety}
    if fanout:
        execute_fanout(opts, "downgrade", fanout, **kwargs)
    execute(opts, lambda config: command.downgrade(config, **kwargs))


@click.command()
@click.option("--check", is_flag=True, help="Exit 3 when the database is not at head.")
@fanout_options
@common_options(env_args=True, formats=GITHUB)
def current(opts: CommonOptions, check: bool, fanout: dict[str, Any] | None) -> None:
    """Show the database's revision, the head, and what is pending.

    \b
    Example:
      dbops current
      dbops current --check || echo "migrations pending"
      dbops current --all --check
    """
    from dbops import command

    kwargs: dict[str, Any] = {"check": check}
    if fanout:
        execute_fanout(opts, "current", fanout, **kwargs)
    execute(opts, lambda config: command.current(config, **kwargs))


@click.command()
@click.option("--check", is_flag=True, help="Exit 3 when there is more than one head.")
@common_options(database=False, target=True, formats=GITHUB)
def heads(opts: CommonOptions, check: bool) -> None:
    """Show the head revision(s) of the migration scripts (no database needed).

    \b
    Example:
      dbops heads --check     # CI guard against diverged branches
      dbops heads --target sqlite   # a target with its own script_location/version_locations
    """
    from dbops import command

    execute(opts, lambda config: command.heads(config, check=check), uses_database=False)


@click.command()
@click.option("--indicate-current", is_flag=True, help="Also read the database and mark its revision.")
@click.option("--applied", is_flag=True, help="Show the dbops_history audit table instead: who applied what, "
              "when, how long, outcome, error.")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True,
              help="With --applied: the newest N rows (it says when there are more).")
@click.option("--all", "all_rows", is_flag=True, help="With --applied: every row.")
@common_options(env_args=True)
def history(opts: CommonOptions, indicate_current: bool, applied: bool, limit: int, all_rows: bool) -> None:
    """List every revision, newest first (or, with --applied, what was run on this database).

    \b
    Example:
      dbops history
      dbops history --indicate-current --format json
      dbops history --applied            # the newest 200 rows; --all for every row
    """
    from dbops import command

    if applied:
        execute(opts, lambda config: command.applied_history(config, limit=None if all_rows else limit))
    execute(opts, lambda config: command.history(config, indicate_current=indicate_current),
            uses_database=indicate_current)


@click.command()
@click.option("--baseline", is_flag=True, help="First record the files as they are now for applied revisions "
              "that have no audit row (once, for a database migrated before dbops or by plain alembic).")
@common_options(formats=GITHUB)
def verify(opts: CommonOptions, baseline: bool) -> None:
    """Check that applied revisions still match their files (exit 3 if edited, removed or unrecorded),
    and (PostgreSQL) that no index was left INVALID by a failed CREATE INDEX CONCURRENTLY.

    Compares the checksum recorded in dbops_history when each revision ran with the
    revision file now (normalised AST of upgrade()/downgrade(): comments, docstrings and
    formatting do not count). A revision applied without dbops has no row: verify fails
    until you record a baseline once, which dbops_history keeps as outcome "baseline".

    \b
    Example:
      dbops verify --format json
      dbops verify --baseline      # adopting dbops on a database migrated by plain alembic
    """
    from dbops import command

    execute(opts, lambda config: command.verify(config, baseline=baseline))


def _rule_ids(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...] | None:
    from dbops.lint.rules import FILE_RULES, RULES

    known = [*RULES, *FILE_RULES]
    wanted = tuple(v.strip().upper() for value in values for v in value.split(",") if v.strip())
    unknown = [v for v in wanted if v not in known]
    if unknown:
        raise click.BadParameter(f"unknown rule {', '.join(unknown)}; rules: {', '.join(known)}")
    return wanted or None


@click.command()
@click.argument("subjects", nargs=-1, metavar="[REV_RANGE | FILE...]")
@click.option("--rule", "rules", multiple=True, metavar="ID", callback=_rule_ids,
              help="Only this rule (repeatable, or comma-separated), e.g. --rule DB002.")
@click.option("--baseline", metavar="FILE", help="Report only findings FILE does not hold (written by "
              "--write-baseline): a legacy chain's findings are accepted once, new ones still fail.")
@click.option("--write-baseline", metavar="FILE", help="Record today's findings in FILE and exit 0.")
@click.option("--explain", metavar="ID", help="Show what rule ID finds, why it matters, and the unsafe and the "
              "safe Alembic code; lints nothing.")
@common_options(database=False, formats=GITHUB)
def lint(opts: CommonOptions, subjects: tuple[str, ...], rules: tuple[str, ...] | None, baseline: str | None,
         write_baseline: str | None, explain: str | None) -> None:
    """Lint revisions for operations that lock or break a live database (exit 3 on errors;
    warnings are reported and do not fail).

    32 rules over Alembic operations and the SQL given to op.execute (list and docs:
    docs/reference/lint-rules.md; one rule: dbops lint --explain DB014), and DB008 for
    revision file names when the config sets revision_filename. Objects created in the same
    revision are exempt. Silence a reviewed line with: # dbops: noqa DB002

    Given files (as pre-commit hooks pass them), only those are linted, read as text: no
    revision module is imported, so neither the app's settings nor a database are needed;
    files that are not revisions are skipped. Operations in helper functions upgrade() calls
    count; PostgreSQL advice is not given in branches for other dialects (if
    bind.dialect.name == "sqlite": ...); op.execute SQL is read with PostgreSQL's parser.
    The config's [lint] disable = [...] and exclude = [globs] apply.

    \b
    Example:
      dbops lint                      # every revision
      dbops lint 0002:heads --format github
      dbops lint migrations/versions/0003_add_index.py --rule DB002
      dbops lint --write-baseline .dbops-lint-baseline.json   # once, on a legacy chain
      dbops lint --baseline .dbops-lint-baseline.json         # in CI: new findings only
      dbops lint --explain DB014
    """
    from pathlib import Path

    from dbops import command

    if explain:
        _explain(explain, opts.fmt)
        return

    files = tuple(s for s in subjects if s.endswith(".py") or Path(s).is_file())
    ranges = [s for s in subjects if s not in files]
    if files and ranges or len(ranges) > 1:
        raise click.UsageError(f"give one revision range or revision files, not {' '.join(subjects)!r}")
    if baseline and write_baseline:
        raise click.UsageError("--baseline reads a baseline and --write-baseline records one; give one of them")
    rev_range = ranges[0] if ranges else None
    execute(opts, lambda config: command.lint(config, rev_range, files=files, rules=rules, baseline=baseline,
                                              write_baseline=write_baseline), uses_database=False)


def _explain(rule_id: str, fmt: str) -> None:
    import json

    from dbops.lint.registry import explain

    found = explain(rule_id)
    if found is None:
        from dbops.lint.rules import FILE_RULES, RULES

        raise click.BadParameter(f"unknown rule {rule_id}; rules: {', '.join([*RULES, *FILE_RULES])}",
                                 param_hint="--explain")
    if fmt == "json":
        click.echo(json.dumps(found, indent=2))
        return
    scope = {"postgresql": "PostgreSQL", "mysql": "MySQL / MariaDB", "any": "every database"}[found["scope"]]
    click.echo(f"{found['id']} ({found['severity']}, {scope}): {found['title']}\n\n{found['rationale']}\n")
    if found.get("unsafe"):
        click.echo("Unsafe:\n" + "\n".join("    " + line for line in found["unsafe"].splitlines()) + "\n")
        click.echo("Safe:\n" + "\n".join("    " + line for line in found["safe"].splitlines()) + "\n")
    click.echo(f"Silence a reviewed line: # dbops: noqa {found['id']}; run only this rule: dbops lint --rule "
               f"{found['id']}")


@click.command()
@click.argument("revision")
@click.option("--purge", is_flag=True, help="Empty the version table first.")
@safety_options()
@common_options(env_args=True)
def stamp(opts: CommonOptions, revision: str, purge: bool, safety: SafetyOptions) -> None:
    """Record REVISION as applied without running migrations (comma-separate several).

    \b
    Example:
      dbops stamp head      # adopt an existing database created without migrations
    """
    from dbops import command

    execute(opts, lambda config: command.stamp(config, revision, purge=purge, safety=safety))


@click.command()
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--autogenerate", is_flag=True, help="Fill the revision from models vs database.")
@click.option("--head", default="head", show_default=True, help="Revision to build upon.")
@click.option("--rev-id", help="Use this revision id instead of a generated one.")
@click.option("--branch-label", help="Start a named branch with this revision.")
@click.option("--depends-on", help="Revision(s) this one depends on (comma-separated), besides its parent.")
@click.option("--splice", is_flag=True, help="Allow --head to be a revision that is not a head (a new branch).")
@click.option("--version-path", help="Write the file to this version directory.")
@common_options(metadata=True, env_args=True)
def revision(opts: CommonOptions, message: str, autogenerate: bool, head: str, rev_id: str | None,
             branch_label: str | None, depends_on: str | None, splice: bool, version_path: str | None) -> None:
    """Create a new revision file.

    \b
    Example:
      dbops revision --autogenerate -m "add orders.total"
      dbops revision -m "backfill orders.total"
      dbops revision -m "reports" --head base --branch-label reports --version-path migrations/reports
    """
    from dbops import command

    execute(opts, lambda config: command.revision(
        config, message, autogenerate=autogenerate, head=head, rev_id=rev_id, branch_label=branch_label,
        depends_on=depends_on, splice=splice, version_path=version_path), uses_database=autogenerate)


@click.command()
@click.argument("revisions", nargs=-1)
@click.option("-m", "--message", help="What the merge is for.")
@click.option("--rev-id", help="Use this revision id instead of a generated one.")
@click.option("--branch-label", help="A label for the merged branch.")
@common_options(database=False)
def merge(opts: CommonOptions, revisions: tuple[str, ...], message: str | None, rev_id: str | None,
          branch_label: str | None) -> None:
    """Write a merge revision joining REVISIONS (default: every head) into one head.

    Two branches that each added a revision on the same parent leave two heads; `dbops upgrade`
    (to head) refuses until they are merged. Nothing is migrated: run dbops upgrade after.

    \b
    Example:
      dbops merge -m "merge feature branches"
      dbops merge 3f2a 9c1d -m "merge"
    """
    from dbops import command

    execute(opts, lambda config: command.merge(config, revisions or ("heads",), message=message, rev_id=rev_id,
                                               branch_label=branch_label), uses_database=False)


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--metadata", metavar="MODULE:ATTR", help="Your models' MetaData, e.g. app.models:SQLModel.metadata.")
@click.option("--script-location", default="migrations", show_default=True, help="Migrations directory.")
@click.option("--config", "config_path", metavar="PATH",
              help="Write the configuration to this .toml file of the project instead of dbops.toml; "
              "pyproject.toml gets a [tool.dbops] table.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("-v", "--verbose", count=True, help="Tracebacks of unexpected errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only what was written: no findings or next steps.")
def init(directory: str, metadata: str | None, script_location: str, config_path: str | None, fmt: str,
         verbose: int, quiet: bool) -> None:
    """Set dbops up in a project: adopt its Alembic setup, or scaffold one.

    In a project that already has Alembic (alembic.ini and env.py), writes only
    dbops.toml, from what it reads there (env.py style, where the URL comes from,
    target_metadata, version_locations, heads), and prints what dbops will do and any
    line you must change. env.py and alembic.ini are never written.

    In a project without Alembic, writes alembic.ini, MIGRATIONS/env.py
    (async-capable), script.py.mako, versions/ and dbops.toml. Refuses to overwrite
    anything.

    \b
    Example:
      dbops init                  # in a project that has alembic.ini
      dbops init --metadata app.models:SQLModel.metadata
      dbops init --config pyproject.toml   # a [tool.dbops] table instead of dbops.toml
      dbops revision --autogenerate -m "initial schema" && dbops upgrade
    """
    from dbops import command

    opts = CommonOptions(None, None, None, fmt, verbose, True)  # init prints no notices

    def run(_config: Any) -> Any:
        report = command.init(directory, metadata=metadata, script_location=script_location,
                              config_file=config_path)
        if quiet and fmt == "table":  # the JSON report stays whole
            from dataclasses import replace

            report = replace(report, found=(), next_steps=())
        return report

    execute(opts, run, uses_database=False, needs_config=False)


@click.command()
@fanout_options
@common_options()
def status(opts: CommonOptions, fanout: dict[str, Any] | None) -> None:
    """Where every target of a group (or --all) stands: revision, head, pending.

    For a rollout split over many jobs (--shard K/N), this follows it from one place.

    \b
    Example:
      dbops status --group tenants --format json
    """
    fanout = fanout or {"all_targets": True, "group": None, "parallel": 4, "canary": None,
                        "continue_on_error": True, "shard": None}
    fanout["continue_on_error"] = True
    execute_fanout(opts, "status", fanout)


def register(group: click.Group) -> None:
    for cmd in (upgrade, downgrade, current, heads, history, stamp, revision, merge, init, verify, lint, status):
        group.add_command(cmd)


