"""``dbops init`` on a project that already has Alembic: read what is there (alembic.ini, env.py,
the revisions), write only ``dbops.toml``, and say what dbops will do with the project and which
lines, if any, the user has to change. env.py and alembic.ini are never written.

env.py is read with :mod:`ast`, never imported: reading must not connect anywhere or import the app.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from dbops.config_files import read_alembic_ini, resolve_script_location
from dbops.errors import ScaffoldError
from dbops.reports import InitReport

URL_WORDS = ("url", "uri", "dsn")  # attribute names that hold a database URL in app settings
MODEL_LIBRARIES = ("sqlmodel", "sqlalchemy", "flask_sqlalchemy")  # their metadata holds nothing by itself


@dataclass
class EnvFacts:
    """What env.py does, as far as reading it tells."""

    own: bool = True  # False: it is dbops's env (imports dbops.alembic_env)
    is_async: bool = False
    flask: bool = False  # Flask-Migrate: needs the app's context (current_app)
    reads_ini_url: bool = False  # config.get_main_option("sqlalchemy.url") / get_section(...)
    url: str | None = None  # where env.py takes the URL from instead: "py:mod:attr" or "env:VAR"
    url_expression: str | None = None  # the expression, when dbops cannot name its source
    metadata: str | None = None  # "module:attr" of target_metadata
    metadata_expression: str | None = None
    # env.py names dbops's tables (an include_name/include_object that keeps them out of autogenerate)
    filters_dbops_tables: bool = False
    # env.py replaces sqlalchemy.url with a value that does not read it first: what it reads later is its own
    overrides_ini_url: bool = False
    # env.py sets the script's version_locations itself at run time (Prefect: one directory per database)
    runtime_version_locations: str | None = None
    # a module-level `import app.models` whose name is never used: imported to register the models
    side_effect_imports: list[str] = field(default_factory=list)
    # `from app import models` / `from app.models import user, item` whose names env.py never uses:
    # (module, name), resolved against the project's files by adopt() (a submodule, or else the module)
    side_effect_from: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


REPLAY_TODO = ("check-drift replays the chain into a scratch database, which env.py never connects to while it "
               "ignores sqlalchemy.url; to allow it, let env.py prefer it: url = "
               "config.get_main_option('sqlalchemy.url') or <what env.py uses now>")


def _replay_todo(options: dict[str, str]) -> str:
    """REPLAY_TODO, and when alembic.ini holds a URL (Alembic's template placeholder included), that plain
    `alembic` would then prefer it too: it must be emptied."""
    ini_url = (options.get("sqlalchemy.url") or "").strip()
    if not ini_url:
        return REPLAY_TODO
    return (REPLAY_TODO + f"; and empty sqlalchemy.url in alembic.ini (now {ini_url.split('://')[0]}://...), or "
            "plain `alembic` would connect there instead of to the app's database")


def find_existing(root: Path) -> tuple[Path, Path] | None:
    """(alembic.ini, script directory) of an Alembic project at ``root`` (alembic.ini at the root, or a
    Flask-Migrate ``migrations/alembic.ini`` next to its env.py), else None."""
    candidates = [root / "alembic.ini", *sorted(root.glob("*/alembic.ini"))]
    for ini in candidates:
        if not ini.is_file():
            continue
        location = resolve_script_location(ini.parent, {}, read_alembic_ini(ini), ini)
        if (location / "env.py").is_file():
            return ini, location
    return None


def read_env(env_py: Path) -> EnvFacts:
    source = env_py.read_text(encoding="utf-8", errors="replace")
    facts = EnvFacts()
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        facts.notes.append(f"env.py does not parse ({exc.msg}, line {exc.lineno}); dbops will report the same "
                           "error when it runs it")
        return facts
    imports = _imports(tree)
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    facts.side_effect_imports = [alias.name for node in getattr(tree, "body", []) if isinstance(node, ast.Import)
                                 for alias in node.names if "." in alias.name and alias.asname is None
                                 and alias.name.split(".")[0] not in used]
    facts.side_effect_from = [(node.module, alias.name) for node in getattr(tree, "body", [])
                              if isinstance(node, ast.ImportFrom) and node.module and not node.level
                              for alias in node.names if alias.name != "*" and (alias.asname or alias.name) not in used]
    section_read = False
    modules = {module for module, _ in imports.values()}
    if any(m == "dbops" or m.startswith("dbops.") for m in modules):
        facts.own = False
        return facts
    facts.flask = any(m == "flask" or m.startswith("flask_migrate") for m in modules)
    facts.filters_dbops_tables = "dbops_" in source
    functions: dict[str, ast.AST] = {node.name: node for node in ast.walk(tree)
                                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    # a name assigned once (`url = settings.DB_URL` then configure(url=url)): followed like a helper's return
    assignments = [(t.id, node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                   for t in node.targets if isinstance(t, ast.Name)]
    names = [name for name, _ in assignments]
    scope = _Scope(functions, {name: value for name, value in assignments if names.count(name) == 1})
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef) or (isinstance(node, ast.Name) and node.id in (
                "async_engine_from_config", "create_async_engine")):
            facts.is_async = True
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in ("get_main_option", "get_section_option") and _first_str(node) == "sqlalchemy.url":
                facts.reads_ini_url = True
            elif name == "get_section":
                section_read = True
            elif name == "configure" and any(k.arg == "version_table_schema" and not isinstance(k.value, ast.Constant)
                                             for k in node.keywords):
                facts.notes.append("env.py picks its version table's schema at run time (a loop over tenant "
                                   "schemas?): upgrade, downgrade and current run it as it is; check-drift "
                                   "refuses (it compares one schema); a dbops group with schemas_sql checks each")
            elif name == "configure" and any(k.arg == "url" for k in node.keywords):
                _url_source(next(k.value for k in node.keywords if k.arg == "url"), facts, imports, scope)
            elif name == "set_main_option" and _first_str(node) == "version_locations" and len(node.args) > 1:
                facts.runtime_version_locations = ast.unparse(node.args[1])
            elif name == "set_main_option" and _first_str(node) == "sqlalchemy.url" and len(node.args) > 1:
                facts.overrides_ini_url |= not _reads_option(node.args[1])
                _url_source(node.args[1], facts, imports, scope)
            elif name in ("import_module", "__import__") or (name in functions and any(
                    isinstance(n, ast.Call) and _call_name(n) == "import_module" for n in ast.walk(functions[name]))):
                # importlib.import_module("app.models"), or a helper that walks a package with it
                # (FastAPI-boilerplate's import_models("app.models")): imported to register the models
                module = _first_str(node)
                if module and module.replace(".", "").replace("_", "").isalnum():
                    facts.side_effect_imports.append(module)
            elif name in ("create_engine", "create_async_engine") and node.args:
                if not _reads_option(node.args[0]):
                    _url_source(node.args[0], facts, imports, scope)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and _const_str(target.slice) == "sqlalchemy.url":
                    facts.overrides_ini_url |= not _reads_option(node.value)
                    _url_source(node.value, facts, imports, scope)
                if isinstance(target, ast.Attribute) and target.attr == "version_locations":
                    facts.runtime_version_locations = ast.unparse(node.value)
                if isinstance(target, ast.Name) and target.id == "target_metadata":
                    _metadata_source(node.value, facts, imports)
    # engine_from_config(config.get_section(...)) reads sqlalchemy.url unless env.py overwrites it
    facts.reads_ini_url = facts.reads_ini_url or (section_read and not (facts.url or facts.url_expression))
    if facts.overrides_ini_url:  # its reads of sqlalchemy.url read the value it set (FastAPI-boilerplate)
        facts.reads_ini_url = False
    return facts


def _imports(tree: ast.AST) -> dict[str, tuple[str, str | None]]:
    """local name -> (module, attribute) for every import in env.py."""
    out: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                out[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                out[alias.asname or alias.name.split(".")[0]] = (alias.name if alias.asname else
                                                                 alias.name.split(".")[0], None)
    return out


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _first_str(node: ast.Call) -> str | None:
    return _const_str(node.args[0]) if node.args else None


def _reads_option(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and _call_name(n) in ("get_main_option", "get_section_option")
               for n in ast.walk(node))


def _dotted(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


@dataclass
class _Scope:
    """What env.py defines that a URL expression may name: its functions, and its names assigned once."""

    functions: dict[str, ast.AST]
    assigned: dict[str, ast.AST]


def _url_source(node: ast.AST, facts: EnvFacts, imports: dict[str, tuple[str, str | None]], scope: _Scope) -> None:
    """Name where the URL env.py uses comes from: a settings attribute, an environment variable."""
    if _reads_option(node):
        facts.reads_ini_url = True
        return
    if isinstance(node, ast.Name) and node.id in scope.assigned:  # a local name assigned once
        _url_source(scope.assigned.pop(node.id), facts, imports, scope)  # popped: no cycle
        return
    # a helper defined in env.py (full-stack-fastapi-template's get_url()): follow its return
    functions = scope.functions
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions and not node.args:
        returns = [n.value for n in ast.walk(functions[node.func.id]) if isinstance(n, ast.Return) and n.value]
        if len(returns) == 1:
            _url_source(returns[0], facts, imports, scope)
            return
    # str(settings.DATABASE_URL), settings.DATABASE_URL.unicode_string(), ...
    while isinstance(node, ast.Call) and ((isinstance(node.func, ast.Name) and node.func.id == "str" and node.args)
                                          or (isinstance(node.func, ast.Attribute) and not node.args)):
        node = node.args[0] if isinstance(node.func, ast.Name) else node.func.value
    env_var = _environment_variable(node)
    if env_var:
        facts.url = f"env:{env_var}"
        return
    dotted = _dotted(node)
    if dotted and len(dotted) > 1 and dotted[0] in imports and any(w in dotted[-1].lower() for w in URL_WORDS):
        module, attribute = imports[dotted[0]]
        path = ".".join(([attribute] if attribute else []) + dotted[1:])
        facts.url = f"py:{module}:{path}"
        return
    facts.url_expression = ast.unparse(node)


def _environment_variable(node: ast.AST) -> str | None:
    if isinstance(node, ast.Subscript) and _dotted(node.value) == ["os", "environ"]:
        return _const_str(node.slice)
    if isinstance(node, ast.Call) and node.args and (
            _dotted(node.func) in (["os", "getenv"], ["os", "environ", "get"])):
        return _const_str(node.args[0])
    return None


def _metadata_source(node: ast.AST, facts: EnvFacts, imports: dict[str, tuple[str, str | None]]) -> None:
    if isinstance(node, ast.Constant) and node.value is None:
        return
    dotted = _dotted(node)
    if dotted and dotted[0] in imports:
        module, attribute = imports[dotted[0]]
        if attribute is None:  # import app.models as models; models.Base.metadata
            path = ".".join(dotted[1:])
        else:
            path = ".".join([attribute, *dotted[1:]])
        if module.split(".")[0] not in MODEL_LIBRARIES and path:
            facts.metadata = f"{module}:{path}"
            return
    facts.metadata_expression = ast.unparse(node)


def count_heads(script_location: Path, ini: Path) -> tuple[int, tuple[str, ...], str | None]:
    """(revision files, heads, problem) read with Alembic's ScriptDirectory (imports the revision files,
    as alembic heads does)."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    try:
        cfg = AlembicConfig(str(ini))
        cfg.set_main_option("script_location", str(script_location).replace("%", "%%"))
        script = ScriptDirectory.from_config(cfg)
        revisions = list(script.walk_revisions())
        return len(revisions), tuple(sorted(script.get_heads())), None
    except Exception as exc:  # noqa: BLE001  reported, not raised: init still writes the config
        return 0, (), f"{type(exc).__name__}: {exc}"


def adopt(root: Path, ini: Path, script_location: Path, *, metadata: str | None = None,
          config_file: Path | None = None) -> InitReport:
    """Write dbops.toml (or ``config_file``) for the existing project at ``root``; report what was found."""
    from dbops.config_files import holds_dbops_config, write_dbops_config

    target = config_file or root / "dbops.toml"
    pyproject = root / "pyproject.toml"
    if holds_dbops_config(target) or (config_file is None and holds_dbops_config(pyproject)):
        where = target if holds_dbops_config(target) else pyproject
        raise ScaffoldError(
            f"{where} already holds dbops's configuration; nothing was written.",
            hint="Edit it by hand; see docs/adoption.md for every setting.",
        )
    options = read_alembic_ini(ini)
    facts = read_env(script_location / "env.py")
    n_revisions, heads, problem = count_heads(script_location, ini)
    rel = _relative(script_location, root)
    ini_rel = _relative(ini, root)

    found: list[str] = [f"alembic.ini: {ini_rel}; revisions in {rel}"
                        + (f" ({n_revisions} revision(s), head {', '.join(heads) or 'none'})" if not problem else "")]
    todo: list[str] = []
    lines = ["# dbops configuration for this existing Alembic project, written by `dbops init`.",
             "# Nothing else was changed: alembic.ini and env.py are the project's own, and plain",
             "# `alembic` works as before. Flags and DBOPS_DATABASE_URL / DATABASE_URL take precedence."]
    if ini.parent != root:
        lines.append(f'alembic_ini = "{ini_rel}"')
    if problem:
        found.append(f"the revisions could not be read: {problem}")
        todo.append("Fix the revision files (dbops heads shows the same error), then: dbops heads --check")
    if len(heads) > 1:
        found.append(f"{len(heads)} heads ({', '.join(heads)}): dbops upgrade (to head) refuses until they are "
                     "merged, as alembic does")
        todo.append("Merge them (dbops merge -m 'merge'), or apply every head with: dbops upgrade heads")
    version_locations = options.get("version_locations")
    if version_locations:
        found.append(f"version_locations (alembic.ini): {version_locations}; dbops reads the same directories")
    if facts.runtime_version_locations and not version_locations:
        choices = _revision_subdirectories(script_location)
        found.append(f"env.py sets version_locations itself at run time ({facts.runtime_version_locations}); dbops "
                     "reads the chain before env.py runs, so it must be told the same directory")
        lines.append(f"# env.py picks the version directory at run time ({facts.runtime_version_locations}):")
        lines += [f'# version_locations = ["{_relative(c, root)}"]' for c in choices] or [
            '# version_locations = ["<the directory env.py uses>"]']
        todo.append(f"Uncomment the version_locations line in {target.name} that env.py uses for your database "
                    "(for several kinds of database, one per target: [targets.NAME] version_locations = [...]); "
                    "until then dbops refuses to read an empty chain")
    multidb = options.get("databases")

    if not facts.own:
        found.append("env.py: dbops's own (dbops.alembic_env)")
    else:
        kind = "async" if facts.is_async else "sync"
        found.append(f"env.py: the project's own ({kind}); dbops runs it as it is and checks, before any revision "
                     "runs, that it connects to the database dbops was given")
    if facts.own and not facts.filters_dbops_tables:
        todo.append("dbops keeps its tables in this database (dbops_history, the audit; dbops_drift_runs with "
                    "check-drift --record): dbops's own commands leave them out of autogenerate, but plain `alembic "
                    "check` and `alembic revision --autogenerate` with this env.py would report them as removed. "
                    "Keep them out in env.py's context.configure(): include_name=lambda name, type_, parent: not "
                    "(type_ == 'table' and name.startswith('dbops_'))  (combine with an include_name it has)")
    if multidb:
        found.append(f"multidb env (databases = {multidb}): dbops refuses to run it (one database per run)")
        todo.append("Keep using plain alembic for upgrades here; dbops heads, history and lint work")
    if facts.flask:
        found.append("Flask-Migrate env.py: it needs the app's context (current_app)")
        lines.append('# env_context = "yourapp:app.app_context"   # REQUIRED: a callable returning the Flask '
                     "app's context")
        todo.append(f"Set env_context in {target.name} to your Flask app's app_context "
                    "(e.g. \"microblog:app.app_context\")")

    if facts.url:
        found.append(f"URL: env.py takes it from {facts.url[3:] if facts.url.startswith('py:') else facts.url}, "
                     "not from alembic.ini; dbops takes it from the same place")
        lines.append(f'url = "{facts.url}"')
        if facts.url.startswith("env:") and not facts.reads_ini_url:
            found.append(f"check-drift and squash replay the chain into a scratch database in a child process whose "
                         f"{facts.url[4:]} names it (env.py ignores sqlalchemy.url)")
        elif not facts.reads_ini_url:
            todo.append(_replay_todo(options))
    elif facts.url_expression:
        found.append(f"URL: env.py builds it itself ({facts.url_expression}); dbops cannot name that source")
        lines.append(f"# url = \"py:module:attr\"   # where `{facts.url_expression}` comes from (unless "
                     "DATABASE_URL / --database-url name the same database)")
        todo.append(f"Set url in {target.name} to where env.py's `{facts.url_expression}` comes from "
                    "(\"py:module:attr\" or \"env:VAR\"); dbops refuses to run an env.py that connects elsewhere "
                    "than the URL it has")
        if not facts.reads_ini_url:
            todo.append(_replay_todo(options))
    elif facts.own and not facts.reads_ini_url:
        found.append("URL: env.py does not read sqlalchemy.url, and dbops cannot tell where its connection comes "
                     "from")
        lines.append('# url = "env:VAR" or "py:module:attr"   # the database env.py connects to')
        todo.append(f"Set url in {target.name} to the database env.py connects to (\"env:VAR\" or "
                    "\"py:module:attr\"); dbops refuses to run an env.py that connects elsewhere than the URL it has")
    else:
        ini_url = options.get("sqlalchemy.url")  # an empty or quoted-empty one is already left out
        placeholder = ini_url is None or ini_url.startswith("driver://")
        found.append("URL: env.py reads sqlalchemy.url, which dbops sets to the URL it is given"
                     + ("" if placeholder else " (alembic.ini has one: dbops uses it when given none)"))
        lines.append('# url = "env:DATABASE_URL"   # or --database-url; with none, '
                     + ("alembic.ini's sqlalchemy.url" if not placeholder else "./dbops.sqlite"))

    chosen_metadata = metadata or facts.metadata
    if chosen_metadata:
        found.append(f"models: {chosen_metadata}" + (" (env.py's target_metadata)" if not metadata else ""))
        lines.append(f'metadata = "{chosen_metadata}"')
        candidates = [*facts.side_effect_imports, *(_module_of(module, name, root)
                                                    for module, name in facts.side_effect_from)]
        local = list(dict.fromkeys(m for m in candidates if (root / m.split(".")[0]).is_dir()
                                   or (root / f"{m.split('.')[0]}.py").is_file()))
        if local and not metadata:
            found.append(f"env.py imports {', '.join(local)} only to register the models on that metadata; "
                         "dbops imports them first too (metadata_imports)")
            lines.append("metadata_imports = [" + ", ".join(f'"{m}"' for m in local) + "]")
    else:
        what = f" (env.py's target_metadata is `{facts.metadata_expression}`)" if facts.metadata_expression else ""
        lines.append('# metadata = "app.models:Base.metadata"   # for check-drift and the pytest plugin')
        todo.append(f"Set metadata in {target.name} to your models' MetaData{what} for check-drift")
    found += facts.notes
    content = "\n".join(lines) + "\n"
    replays = not facts.own or facts.reads_ini_url or bool(facts.url and facts.url.startswith("env:"))
    steps = [*todo, "dbops current", "dbops upgrade --sql   # preview, writes nothing",
             "dbops check-drift" if replays else "dbops check-drift --against database   # models vs the live database"]
    appended = target.name == "pyproject.toml" and target.exists()
    write_dbops_config(target, content)
    return InitReport(command="init", directory=str(root),
                      created=(target.name + (" ([tool.dbops] added)" if appended else ""),), next_steps=tuple(steps),
                      found=tuple(found), existing=True)


def _module_of(module: str, name: str, root: Path) -> str:
    """What ``from module import name`` imports for its side effect: the submodule ``module.name`` when the
    project has one (``from app import models``), else ``module`` itself (``from app.models import User``)."""
    path = root.joinpath(*module.split("."), name)
    return f"{module}.{name}" if path.is_dir() or path.with_suffix(".py").is_file() else module


def _revision_subdirectories(script_location: Path) -> list[Path]:
    """The subdirectories of versions/ that hold revision files (one per database kind, as env.py chooses)."""
    versions = script_location / "versions"
    if not versions.is_dir():
        return []
    return [sub for sub in sorted(versions.iterdir()) if sub.is_dir() and not sub.name.startswith((".", "__"))
            and any(f.name != "__init__.py" for f in sub.glob("*.py"))]


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
