"""Shared options: one decorator, one typed value (:class:`CommonOptions`)."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, NamedTuple

import click

if TYPE_CHECKING:
    from collections.abc import Callable

FORMATS = ("table", "json")
# also annotations, a job summary and step outputs inside GitHub Actions (render/github.py)
GITHUB = ("table", "json", "github")


class CommonOptions(NamedTuple):
    database_url: str | None
    target: str | None
    config_path: str | None
    fmt: str
    verbose: int
    quiet: bool
    metadata: str | None = None
    x: tuple[str, ...] = ()  # -x KEY=VALUE for the project's env.py


def revision_argument(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """REVISION of upgrade/downgrade: ``-1`` is a relative revision (as in Alembic), but ``--sqll`` or
    ``-z`` is a mistyped option, not a revision id (unknown options are let through for ``-1``)."""
    if value is not None and value.startswith("-") and not value[1:].isdigit():
        raise click.NoSuchOption(value.split("=", 1)[0], ctx=ctx)
    return value


TARGET_OPTION = click.option(
    "--target", metavar="NAME", help="A named target from [tool.dbops.targets], or GROUP:NAME for one target "
    "of a group (e.g. tenants:tenant_42).")


def common_options(
    *, database: bool = True, metadata: bool = False, formats: tuple[str, ...] = FORMATS, target: bool = False,
    env_args: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add --database-url/--target/--config/--format/-v/-q (and --metadata) as one ``opts``; ``target``
    adds --target alone (a command that reads a target's scripts, not its database)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            opts = CommonOptions(
                database_url=kwargs.pop("database_url", None),
                target=kwargs.pop("target", None),
                config_path=kwargs.pop("config_path"),
                fmt=kwargs.pop("fmt"),
                verbose=kwargs.pop("verbose"),
                quiet=kwargs.pop("quiet"),
                metadata=kwargs.pop("metadata", None),
                x=tuple(kwargs.pop("x", None) or ()),
            )
            return fn(opts, **kwargs)

        decorators = [
            click.option("--config", "config_path", metavar="PATH",
                         help="dbops.toml, pyproject.toml or alembic.ini (default: searched upward)."),
            click.option("--format", "fmt", type=click.Choice(formats), default="table", show_default=True,
                         help="Output format; json writes one object to stdout."),
            click.option("-v", "--verbose", count=True, help="-v: Alembic log and tracebacks; -vv: also SQL."),
            click.option("-q", "--quiet", is_flag=True, help="No notices on stderr."),
        ]
        if database:
            decorators += [
                click.option("--database-url", metavar="URL",
                             help="Database URL (else DBOPS_DATABASE_URL, DATABASE_URL, config, alembic.ini, "
                                  "./dbops.sqlite). 'env:VAR' reads VAR."),
                TARGET_OPTION,
            ]
        elif target:
            decorators.append(TARGET_OPTION)
        if env_args:
            decorators.append(click.option(
                "-x", "x", multiple=True, metavar="KEY=VALUE",
                help="An argument for the project's env.py (context.get_x_argument()), as with alembic -x; "
                     "repeatable."))
        if metadata:
            decorators.append(click.option("--metadata", metavar="MODULE:ATTR",
                                           help="Models' MetaData, e.g. app.models:SQLModel.metadata."))
        for decorator in reversed(decorators):
            wrapper = decorator(wrapper)
        return wrapper

    return decorate


def safety_options(*, strict: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--lock-wait/--lock-timeout/--statement-timeout/--retries (and --strict) as one ``safety``
    (:class:`dbops.options.SafetyOptions`)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from dbops.options import SafetyOptions

            kwargs["safety"] = SafetyOptions(**{key: kwargs.pop(key) for key in
                                                ("lock_wait", "lock_timeout", "statement_timeout", "retries",
                                                 "strict") if key in kwargs})
            return fn(*args, **kwargs)

        decorators = [
            click.option("--lock-wait", type=click.FloatRange(min=0), metavar="SECONDS",
                         help="Wait this long for another runner's migration lock (default 60, config lock_wait)."),
            click.option("--lock-timeout", type=click.FloatRange(min=0), metavar="SECONDS",
                         help="Per-statement lock timeout while migrating (default 5; 0 = none); a revision that "
                              "hits it is retried."),
            click.option("--statement-timeout", type=click.FloatRange(min=0), metavar="SECONDS",
                         help="Per-statement timeout while migrating (default none)."),
            click.option("--retries", type=click.IntRange(min=0), metavar="N",
                         help="Retries after a lock timeout, with backoff (default 3)."),
        ]
        if strict:
            decorators.append(click.option("--strict", is_flag=True, default=None,
                                           help="Refuse (exit 3) when pre-flight finds lock holders on the "
                                                "tables to alter, or revisions edited after they ran."))
        for decorator in reversed(decorators):
            wrapper = decorator(wrapper)
        return wrapper

    return decorate


def fanout_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--all/--group/--parallel/--canary/--continue-on-error/--shard as one ``fanout`` dict (None when
    the command runs on a single database)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        keys = ("all_targets", "group", "parallel", "canary", "continue_on_error", "shard")
        values = {k: kwargs.pop(k) for k in keys}
        kwargs["fanout"] = values if (values["all_targets"] or values["group"]) else None
        return fn(*args, **kwargs)

    for decorator in reversed([
        click.option("--all", "all_targets", is_flag=True, help="Run on every target in [tool.dbops.targets]."),
        click.option("--group", metavar="NAME", help="Run on every target of [tool.dbops.groups.NAME]."),
        click.option("--parallel", type=click.IntRange(min=1), default=4, show_default=True,
                     help="Targets at once (each in its own process)."),
        click.option("--canary", metavar="NAME|N", help="Run this target (or the first N) first; stop if it fails."),
        click.option("--continue-on-error", is_flag=True, help="Keep going after a target fails."),
        click.option("--shard", metavar="K/N|auto", help="Only the targets in shard K of N (stable hash of the name); "
                     "auto: K/N from DBOPS_SHARD or the runner (Kubernetes Indexed Job's JOB_COMPLETION_INDEX with "
                     "DBOPS_SHARD_COUNT, GitLab CI_NODE_INDEX/TOTAL, CircleCI, Buildkite)."),
    ]):
        wrapper = decorator(wrapper)
    return wrapper
