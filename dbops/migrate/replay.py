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
    which callers comparing one schema refuse. Migration errors propagate (MigrationFailed, WrongDatabase).

    An env.py that ignores ``sqlalchemy.url`` and connects where the app's settings say is refused before
    any revision runs (WrongDatabase). When dbops read the project's URL from an environment variable
    (DATABASE_URL, or ``url = "env:VAR"``), the app most likely reads the same variable: the replay is then
    run again in a child process whose VAR names the scratch database (Prefect's env.py, session 8); the
    child's own check still refuses an env.py that connects anywhere else."""
    from dbops.errors import WrongDatabase

    rendered = url.render_as_string(hide_password=False)
    try:
        return _replay_here(config, rendered, revision, version_dir, downgrade)
    except WrongDatabase:
        if not config.url_env:
            raise
    import logging

    from dbops.db.url import written_like

    logging.getLogger("dbops").info("env.py connected to the app's database, not the scratch one; replaying in a "
                                    "child process with %s naming the scratch database", config.url_env)
    return _replay_in_child(config, written_like(url, config.url), revision, version_dir, downgrade)


_CHILD = """
import pickle, sys
from dbops.migrate.replay import _replay_here
args = pickle.load(sys.stdin.buffer)
try:
    result = ("ok", _replay_here(*args))
except Exception as exc:
    result = ("error", type(exc).__module__, type(exc).__name__, getattr(exc, "message", str(exc)),
              getattr(exc, "hint", None))
with open(sys.argv[1], "wb") as out:
    pickle.dump(result, out)
"""


def _replay_in_child(config: Config, url: str, revision: str, version_dir: Path | None,
                     downgrade: bool) -> tuple[str, ...]:
    """``_replay_here`` in a fresh interpreter whose ``config.url_env`` names the scratch database. Its
    result, or its error rebuilt as the same dbops error class, comes back through a private file."""
    import os

    from dbops import errors
    from dbops.child import run_pickled

    assert config.url_env is not None
    result, code, stderr = run_pickled(_CHILD, (config, url, revision, version_dir, downgrade),
                                       env={**os.environ, config.url_env: url}, cwd=config.root)
    if result is None:
        from dbops.redact import redact

        raise errors.MigrationFailed(
            f"The replay in a child process (with {config.url_env} naming the scratch database) exited with code "
            f"{code} and no result: {redact(stderr)}",
            hint="Re-run with -v; the child ran the project's env.py as `dbops upgrade` would.")
    if result[0] == "ok":
        return tuple(result[1])
    _, module, name, message, hint = result
    cls = getattr(errors, name, None) if module == errors.__name__ else None
    if not (isinstance(cls, type) and issubclass(cls, errors.DbopsError)):
        cls = errors.MigrationFailed
    raise cls(message, hint=hint)


def _replay_here(config: Config, url: str, revision: str, version_dir: Path | None,
                 downgrade: bool) -> tuple[str, ...]:
    from dbops.migrate import apply

    scratch = replace(config.with_url(url, "scratch"), tenant_schema=None,
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
