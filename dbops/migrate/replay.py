"""What check-drift and squash ask of the project's env.py besides migrating a live database: replay the
chain (or a directory of revision files) into a scratch database, and read the hooks env.py passes to
``context.configure()`` (include_object / include_name) without migrating anything."""
from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path
from typing import Any

from dbops.config import Config
from dbops.errors import DbopsError


def replay(config: Config, url: Any, revision: str, *, version_dir: Path | None = None,
           downgrade: bool = False) -> tuple[str, ...]:
    """Upgrade the scratch database at ``url`` to ``revision`` (``downgrade``: back to base) through the
    project's env.py, a tenant's revisions into its default schema; ``version_dir``: those revision files
    instead of the project's. Returns the schemas env.py migrated of its own choosing (a tenant loop),
    which callers comparing one schema refuse. Migration errors propagate (MigrationFailed, WrongDatabase)."""
    from dbops.migrate import apply

    scratch = replace(config.with_url(url.render_as_string(hide_password=False), "scratch"), tenant_schema=None,
                      version_table_schema=None if config.tenant_schema else config.version_table_schema)
    if version_dir is not None:
        scratch = replace(scratch, version_locations=(str(version_dir),))
    if downgrade:
        apply.downgrade(scratch, "base")
        return ()
    report = apply.upgrade(scratch, revision)
    return tuple(sorted({step.schema for step in report.steps
                         if step.schema and step.schema != scratch.version_table_schema}))


def env_filters(config: Config) -> tuple[Any, Any]:
    """The (include_object, include_name) hooks the project's env.py passes to context.configure(),
    read by running it as `dbops current` does (nothing is migrated). (None, None) when it passes none,
    or cannot run here (check-drift then compares without them, as it always did)."""
    if passes_no_hooks(config):
        return None, None  # running env.py (a connection, Alembic) would only say so
    from dbops.bridge.project import as_alembic_cli
    from dbops.migrate.apply import _prepare
    from dbops.migrate.environment import Run, run_env

    acfg, script = _prepare(config)
    as_alembic_cli(acfg, "check")
    try:
        run = run_env(acfg, script, lambda heads: [], dont_mutate=True)
    except DbopsError as exc:  # e.g. an env.py that connects elsewhere: its hooks were read before that
        run = exc.run or Run()
    return run.filters


def passes_no_hooks(config: Config) -> bool:
    """env.py, read as text, visibly passes no hook: dbops's own env.py calling ``run_migrations()`` with
    nothing, or one that calls ``configure()`` itself, never names include_object / include_name and
    unpacks no keyword arguments into a call (``configure(**options)`` could carry them). An env.py that
    hands the work to a function of its own package (which may pass hooks) is run."""
    try:
        tree = ast.parse((Path(config.script_location) / "env.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return False
    return _bare_dbops_env(tree) or _configures_without_hooks(tree)


def _configures_without_hooks(tree: ast.Module) -> bool:
    hooks = {"include_object", "include_name"}
    if not any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "configure"
               for node in ast.walk(tree)):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in hooks or isinstance(node, ast.Attribute) and node.attr in hooks:
            return False
        if isinstance(node, ast.keyword) and (node.arg is None or node.arg in hooks):
            return False
        if isinstance(node, ast.Constant) and node.value in hooks:
            return False
    return True


def _bare_dbops_env(tree: ast.Module) -> bool:
    """env.py is imports, a docstring and ``run_migrations()`` with no argument."""
    calls = 0
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.module != "dbops.alembic_env" and \
                    any(alias.name == "run_migrations" for alias in node.names):
                return False
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                isinstance(node.value.func, ast.Name) and node.value.func.id == "run_migrations" and \
                not node.value.args and not node.value.keywords:
            calls += 1
            continue
        return False
    return calls == 1
