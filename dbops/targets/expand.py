"""Targets and groups -> one Config per target."""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import sqlalchemy as sa

from dbops.config import Config, apply_target
from dbops.config_targets import GroupSpec, TargetSpec
from dbops.config_url import expand_url
from dbops.errors import ConfigError

# a database name substituted into a URL must not change the URL's structure
_SAFE_DB_NAME = re.compile(r"^[A-Za-z0-9_.$-]{1,63}$")


@dataclass(frozen=True)
class TargetRef:
    name: str
    config: Config
    pending_known: bool = False  # its version table was just read and it has revisions to apply (fan-out)


def for_target(config: Config, spec: TargetSpec) -> Config:
    import os

    url = expand_url(spec.url or "", os.environ, f"target {spec.name!r}")
    return apply_target(replace(config, url=url, url_source=f"target:{spec.name}"), spec)


def _discover(url: str, sql: str) -> list[str]:
    from dbops.db.engine import run_with_connection
    from dbops.db.url import parse_url

    return run_with_connection(parse_url(url), lambda conn: [str(r[0]) for r in conn.execute(sa.text(sql))])


def expand_group(config: Config, group: GroupSpec) -> list[TargetRef]:
    import os

    if group.targets:
        return [TargetRef(name, for_target(config, config.targets[name])) for name in group.targets]
    if group.url_template:
        names = list(group.names) or _discover(expand_url(group.url or config.url, os.environ, "group url"),
                                               group.names_sql or "")
        bad = [n for n in names if not _SAFE_DB_NAME.match(n)]
        if bad:
            raise ConfigError(
                f"Group {group.name!r}: database name(s) {', '.join(repr(b) for b in bad[:5])} cannot be put into "
                "a URL safely (allowed: letters, digits, _ . $ -, up to 63 characters).",
                hint="Rename them, or list the databases as targets with explicit URLs.",
            )
        template = expand_url(group.url_template, os.environ, f"group {group.name!r}")
        return [TargetRef(n, replace(config, url=template.replace("{name}", n), url_source=f"group:{group.name}",
                                     target=n)) for n in names]
    url = expand_url(group.url or config.url, os.environ, f"group {group.name!r}")
    schemas = _discover(url, group.schemas_sql or "")
    return [TargetRef(s, replace(config, url=url, url_source=f"group:{group.name}", target=s, tenant_schema=s,
                                 version_table_schema=s)) for s in schemas]


def select_targets(config: Config, *, group: str | None, all_targets: bool, shard: str | None) -> list[TargetRef]:
    if group is not None:
        spec = config.groups.get(group)
        if spec is None:
            known = ", ".join(sorted(config.groups)) or "none are configured"
            raise ConfigError(f"Unknown group {group!r} (known groups: {known}).",
                              hint="Declare it as [tool.dbops.groups.<name>].")
        refs = expand_group(config, spec)
    else:
        refs = [TargetRef(name, for_target(config, spec)) for name, spec in sorted(config.targets.items())]
        if all_targets and not refs:
            raise ConfigError(
                "No targets are configured, so there is nothing to run on every target of (--all, and `dbops status` "
                "without --group). A project with one database needs no targets.",
                hint="For the one database: dbops current. For many: declare [tool.dbops.targets.<name>] or "
                "[tool.dbops.groups.<name>] (see the README's 'Many databases').",
            )
    return shard_of(refs, shard) if shard else refs


# where runners say which of N parallel jobs this one is: (index variable, count variable, index base)
SHARD_SOURCES = (
    ("JOB_COMPLETION_INDEX", "DBOPS_SHARD_COUNT", 0),  # Kubernetes Indexed Job (the count: set it in the manifest)
    ("CI_NODE_INDEX", "CI_NODE_TOTAL", 1),  # GitLab CI `parallel:`
    ("CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0),  # CircleCI `parallelism:`
    ("BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0),  # Buildkite `parallelism:`
)


def shard_from_environment(env: Mapping[str, str]) -> tuple[str, str]:
    """``--shard auto``: (K/N, where it came from) from DBOPS_SHARD (``K/N``, e.g. set from a GitHub Actions
    matrix) or a runner's own index and count variables."""
    if env.get("DBOPS_SHARD"):
        return env["DBOPS_SHARD"].strip(), "DBOPS_SHARD"
    for index_var, count_var, base in SHARD_SOURCES:
        if index_var in env:
            count = env.get(count_var) or env.get("DBOPS_SHARD_COUNT")
            if not count:
                raise ConfigError(
                    f"--shard auto found {index_var}={env[index_var]} but no shard count ({count_var} or "
                    "DBOPS_SHARD_COUNT), so it cannot tell which part of the targets is this job's.",
                    hint="Set DBOPS_SHARD_COUNT to the number of parallel jobs (for a Kubernetes Indexed Job: "
                    "its completions).")
            try:
                k = int(env[index_var]) - base + 1
            except ValueError:
                raise ConfigError(f"--shard auto: {index_var}={env[index_var]!r} is not a number.") from None
            counted = count_var if env.get(count_var) else "DBOPS_SHARD_COUNT"
            return f"{k}/{count.strip()}", f"{index_var} and {counted}"
    names = ", ".join(["DBOPS_SHARD", *(f"{i}+{c}" for i, c, _ in SHARD_SOURCES)])
    raise ConfigError(
        f"--shard auto found none of the variables that say which parallel job this is ({names}).",
        hint="Give it as --shard K/N, or set DBOPS_SHARD=K/N in the job's environment (a CI matrix entry).")


def shard_of(refs: list[TargetRef], shard: str) -> list[TargetRef]:
    """``K/N``: the targets whose stable hash falls in shard K of N (1-based); ``auto``: K/N from the
    environment (:func:`shard_from_environment`)."""
    if shard == "auto":
        shard = shard_from_environment(os.environ)[0]
    try:
        k, n = (int(x) for x in shard.split("/"))
        if not 1 <= k <= n:
            raise ValueError
    except ValueError:
        raise ConfigError(f"--shard {shard!r} must be K/N with 1 <= K <= N, e.g. 2/8.") from None
    return [r for r in refs if int(hashlib.sha1(r.name.encode()).hexdigest(), 16) % n == k - 1]


def group_member(config: Config, group: str, name: str) -> Config:
    """``--target GROUP:NAME``: one target of a group (a tenant schema, a database by template, a listed
    target), configured exactly as the fan-out would configure it."""
    refs = select_targets(config, group=group, all_targets=False, shard=None)
    for ref in refs:
        if ref.name == name:
            return ref.config
    names = [r.name for r in refs]
    raise ConfigError(
        f"Group {group!r} has no target {name!r} ({len(names)} target(s): {', '.join(names[:10])}"
        f"{' ...' if len(names) > 10 else ''}).",
        hint=f"List them with: dbops status --group {group}",
    )


def one_per_database(refs: list[TargetRef]) -> tuple[list[TargetRef], dict[str, tuple[str, ...]]]:
    """The first target of each database (same server, port, database and login: tenants that are schemas
    of one database), and {that target: the others it answers for}. What probe reads (sessions, locks, the
    server's health, the database's invalid indexes) is the same for all of them."""
    from dbops.db.url import parse_url

    first: dict[tuple[object, ...], TargetRef] = {}
    serves: dict[str, list[str]] = {}
    for ref in refs:
        url = parse_url(ref.config.url)
        key = (url.get_backend_name(), url.host, url.port, url.database, url.username)
        if key in first:
            serves[first[key].name].append(ref.name)
        else:
            first[key] = ref
            serves[ref.name] = []
    return list(first.values()), {k: tuple(v) for k, v in serves.items() if v}
